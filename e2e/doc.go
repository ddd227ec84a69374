// Package e2e drives the hastack binary end to end against real parts:
// PostgreSQL, DNS on the wire, HTTP through the load balancers and real
// instance processes.
package e2e
