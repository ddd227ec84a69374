package rds

// Replication states reported by Nodes.
const (
	ReplPrimary      = "primary"      // the primary, accepting writes
	ReplPromoting    = "promoting"    // recorded primary still finishing recovery
	ReplUnreachable  = "unreachable"  // running but not answering
	ReplSync         = "sync"         // streaming; the primary's commits wait for it
	ReplAsync        = "async"        // streaming asynchronously
	ReplDisconnected = "disconnected" // running, not attached to the primary
	ReplRebuilding   = "rebuilding"   // cannot catch up: being (or to be) rewound or copied
	ReplRestarting   = "restarting"   // stopped on its own; being (or to be) started again
	ReplStopped      = "stopped"      // stopped by a fault or on request
	ReplFenced       = "fenced"       // stopped former primary, to rejoin via pg_rewind
	ReplSpare        = "spare"        // no server: the Multi-AZ standby its region gets with the primary
	ReplCreating     = "creating"     // a spare turned standby, being made from the primary
	// ReplStalePrimary is a former primary that a promotion could not
	// reach: it still runs as a primary and may take writes, until
	// Rejoin (or StartRegion, RecoverNode, Recover) makes it a follower.
	ReplStalePrimary = "stale_primary"
)

// Nodes reports every node's role and replication as of the monitor's
// last pass (every poll interval, a fifth of FailoverDetection).
func (c *Cluster) Nodes() []NodeStatus {
	c.mu.Lock()
	st, obs := c.state.clone(), c.obs
	c.mu.Unlock()
	out := make([]NodeStatus, 0, len(c.nodes))
	for _, n := range c.nodes {
		ns := st.Nodes[n.cfg.Name]
		h := c.healthOf(n.cfg.Name)
		s := NodeStatus{
			Name: n.cfg.Name, Region: n.cfg.Region, AZ: n.cfg.AZ,
			Role: ns.Role, Address: n.addrPort().String(),
			Running: n.running(), Fenced: ns.Fenced, DiscardedTransactions: ns.Discarded,
			Restarts: h.restarts, CrashLoop: h.crashLoop(), LastExit: h.lastExit, LastExitAt: h.lastExitAt,
		}
		var lag replicaObs
		s.ReplicationState, lag = replication(n.cfg.Name, s.Running, n.busy.Load(), h, st, obs)
		s.LagBytes, s.LagSeconds, s.LagTransactions = max(lag.LagBytes, 0), lag.LagSeconds, lag.LagTransactions
		out = append(out, s)
	}
	return out
}

// replication derives a node's replication state and lag.
func replication(name string, running, busy bool, h health, st State, obs observation) (string, replicaObs) {
	o := obs.Nodes[name]
	prim := obs.Nodes[st.Primary]
	switch {
	case !running && st.Nodes[name].Role == RoleSpare:
		return ReplSpare, replicaObs{}
	case busy && h.job == "create":
		return ReplCreating, replicaObs{}
	case busy && h.job == "restart":
		return ReplRestarting, replicaObs{}
	case busy:
		return ReplRebuilding, replicaObs{}
	case !running && st.Nodes[name].Fenced:
		return ReplFenced, replicaObs{}
	case !running && h.held:
		return ReplStopped, replicaObs{}
	case !running && h.cannotFollow != "":
		return ReplRebuilding, replicaObs{}
	case !running:
		return ReplRestarting, replicaObs{}
	case !o.Reachable:
		return ReplUnreachable, replicaObs{}
	case name != st.Primary && st.Nodes[name].Fenced && !o.InRecovery:
		return ReplStalePrimary, replicaObs{}
	case name == st.Primary && o.InRecovery:
		return ReplPromoting, replicaObs{}
	case name == st.Primary:
		return ReplPrimary, replicaObs{}
	}
	if r, ok := prim.Replicas[name]; ok && prim.writable() {
		state := r.State
		if state == replStreaming {
			state = ReplAsync
			if r.Sync {
				state = ReplSync
			}
		}
		return state, r
	}
	var lag replicaObs
	if n, unit := o.Pos.Behind(prim.Pos); prim.writable() && n > 0 {
		if unit == "transactions" {
			lag.LagTransactions = n
		} else {
			lag.LagBytes = n
		}
	}
	return ReplDisconnected, lag
}

// SyncStandby reports whether, at the monitor's last pass, a standby was
// streaming synchronously from the primary: commits wait for it.
func (c *Cluster) SyncStandby() bool {
	c.mu.Lock()
	st, obs := c.state, c.obs
	c.mu.Unlock()
	prim := obs.Nodes[st.Primary]
	if !prim.writable() || st.Sync.Standby == "" {
		return false
	}
	r, ok := prim.Replicas[st.Sync.Standby]
	return ok && r.State == replStreaming && r.Sync
}
