// Package mariadb runs one MariaDB server and drives its replication: the
// engine-specific half of the database tier when a stack's engine is
// mysql. It initialises a data directory with hastack's admin account, a
// replication account and the application's master user (no superuser);
// starts mariadbd as a child that dies with hastack, read-only until told
// otherwise; points it at a primary with GTIDs and semi-synchronous
// acknowledgement (AFTER_SYNC, the lossless mode); promotes, fences,
// shuts down, reports positions and lag; and re-clones a server whose
// history has diverged with mariadb-backup. All of that but starting and
// cloning goes through an Admin session, which Dial opens from a chosen
// source address, so that a caller can act on a server over the network
// from where it stands.
//
// It knows nothing of regions, zones or stacks: the caller decides which
// server is primary, when the standby is gone (SetSemiSync) and where a
// follower connects (MariaDB has no MASTER_BIND, so the caller passes the
// address of a relay). Decisions that need no server, such as Diverged,
// Lag and CannotFollow, are pure functions.
package mariadb
