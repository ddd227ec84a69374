// Package rds runs the stack's PostgreSQL cluster, the RDS part of the
// architecture: it initialises each node's data directory, runs the
// postgres server processes as children of hastack, and publishes the
// writer and reader endpoints with the master user's credentials.
//
// For now a cluster is a single primary; the Multi-AZ standby and the
// cross-region read replicas are refused by New until they are built.
package rds
