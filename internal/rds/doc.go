// Package rds runs the stack's PostgreSQL tier, the RDS part of the
// architecture: a primary, a synchronous Multi-AZ standby and
// asynchronous cross-region replicas, real servers run as children of
// hastack, with a writer and a reader endpoint per region, automatic
// Multi-AZ failover, cross-region promotion that fences the old
// primary, and servers kept running: restarted when they stop on their
// own, rebuilt only when they cannot catch up. Applications log in as a
// master user that is no superuser; hastack works as its own.
//
// It is built as decider, node agent and router around one typed
// cluster-state document (State, in StateDir/db/cluster.json): decide.go
// holds the pure decisions, monitor.go, health.go, promote.go and
// faults.go carry them out on the nodes, and the endpoints (endpoint.go)
// only lead where they are told.
package rds
