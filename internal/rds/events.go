package rds

import "fmt"

// Event kinds passed to Config.OnEvent.
const (
	EventNodeStarting = "db_node_starting"
	EventNodeReady    = "db_node_ready"
	EventNodeStopped  = "db_node_stopped"
	// EventNodeExited reports a node that exited without being asked to.
	EventNodeExited = "db_node_exited"
	// EventNodeKilled reports a fault injected by KillPrimary.
	EventNodeKilled = "db_node_killed"
	// EventNodeRestarted reports a server started again by the monitor
	// after it stopped on its own (a crash, an OOM kill).
	EventNodeRestarted = "db_node_restarted"
	// EventCrashLoop reports a node that keeps stopping on its own; it is
	// still restarted, with backoff.
	EventCrashLoop = "db_node_crash_loop"
	// EventNodeRebuilding reports a follower that cannot catch up being
	// given a new copy of the data; its old copy is kept until then.
	EventNodeRebuilding = "db_node_rebuilding"
	// EventNodeRebuilt reports a follower made from a base backup or
	// rewound with pg_rewind.
	EventNodeRebuilt = "db_node_rebuilt"
	// EventNodeCreated reports a spare made the standby of a primary
	// that a promotion brought to its region.
	EventNodeCreated = "db_node_created"
	// EventNodeRetired reports a spare stopped, its data removed, once
	// the primary left its region.
	EventNodeRetired = "db_node_retired"
	// EventFailover starts a promotion, manual or automatic.
	EventFailover = "db_failover"
	// EventNodeFenced reports the old primary stopped and marked fenced.
	EventNodeFenced = "db_node_fenced"
	// EventNotFenced reports an old primary that a cross-region
	// promotion could not reach from the promoting region: it was left
	// running, and may still take writes, until it is recovered.
	EventNotFenced = "db_node_not_fenced"
	// EventNodeRejoining reports a former primary left running by a
	// promotion that could not reach it, stopped to rejoin as a follower.
	EventNodeRejoining = "db_node_rejoining"
	// EventPromoted reports the new primary accepting writes.
	EventPromoted = "db_promoted"
	// EventEndpointsMoved reports the writer endpoints leading somewhere new.
	EventEndpointsMoved = "db_endpoints_moved"
	// EventFailoverDone ends a promotion, with its total time.
	EventFailoverDone = "db_failover_done"
	// EventFailoverBlocked reports a lost primary that nothing may replace.
	EventFailoverBlocked = "db_failover_blocked"
	// EventSyncLost reports the cluster running without a synchronous
	// standby; commits continue without waiting.
	EventSyncLost = "db_sync_standby_lost"
	// EventSyncRestored reports a synchronous standby holding every
	// acknowledged commit again, with how long the cluster ran without one.
	EventSyncRestored = "db_sync_standby_restored"
	// EventCrossRegionSync reports that commits also wait for a replica
	// in another region (cross_region_commit = "sync").
	EventCrossRegionSync = "db_cross_region_sync"
	// EventRegionLost reports the primary's region lost for
	// RegionFailoverAfter (DNS failed over, primary unreachable).
	EventRegionLost = "db_region_lost"
	// EventRegionCrashed reports CrashRegion, with how far apart the
	// first and the last SIGKILL were.
	EventRegionCrashed = "db_region_crashed"
	// EventRegionStarted reports StartRegion.
	EventRegionStarted = "db_region_started"
	// EventLeaseLost reports a region that no longer holds its write
	// lease (fencing = "lease"): its primary stopped taking writes on its
	// own.
	EventLeaseLost = "db_lease_lost"
	// EventLeaseHeld reports a region holding its write lease again, or
	// taking it for a promotion.
	EventLeaseHeld = "db_lease_held"
	// EventError reports a failed step of the monitor.
	EventError = "db_error"
)

func (c *Cluster) emit(kind, msg string) {
	if c.cfg.OnEvent != nil {
		c.cfg.OnEvent(kind, msg)
	}
}

// problem reports a monitor problem once, until it changes or clears.
func (c *Cluster) problem(subject, kind, msg string) {
	c.mu.Lock()
	same := c.problems[subject] == msg
	c.problems[subject] = msg
	c.mu.Unlock()
	if same || msg == "" {
		return
	}
	c.log.Warn("database cluster", "subject", subject, "problem", msg)
	c.emit(kind, msg)
}

// nodeExited is called when a node's server exits without being
// stopped: a fault (the node is held) or on its own (restarted by the
// monitor, with backoff).
func (c *Cluster) nodeExited(n *node, err error) {
	how := "exit status 0"
	if err != nil {
		how = err.Error()
	}
	c.log.Error("database node exited unexpectedly", "node", n.cfg.Name, "err", how)
	c.emit(EventNodeExited, fmt.Sprintf("database node %s exited unexpectedly: %s", n.cfg.Name, how))
	c.failed(n, how, true)
	c.wake()
}
