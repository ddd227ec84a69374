// Package rds runs the stack's PostgreSQL tier, the RDS part of the
// architecture: a primary, a synchronous Multi-AZ standby and
// asynchronous cross-region replicas, real servers run as children of
// hastack, with a writer and a reader endpoint per region, automatic
// Multi-AZ failover, cross-region promotion run from the promoting
// region (which fences the old primary when it can reach it, and leaves
// it alone when it cannot, as AWS does), and servers kept running:
// restarted when they stop on their own, rebuilt only when they cannot
// catch up. Every connection leaves from an address of its failure
// domain: endpoints from theirs, replication from the follower's
// (through a relay), the monitor from its region's. Applications log in
// as a master user that is no superuser; hastack works as its own.
//
// It is built as decider, node agent and router around one typed
// cluster-state document (State, in StateDir/db/cluster.json): decide.go
// holds the pure decisions, monitor.go, health.go, promote.go and
// faults.go carry them out on the nodes, and the endpoints and relays
// (endpoint.go, relay.go) only lead where they are told. The decider
// compares engine-neutral Positions; what the agent asks of a server
// over the network goes through an engine and its sessions (engine.go),
// PostgreSQL's in the pg_*.go files.
package rds
