package rds

import (
	"context"
	"fmt"
	"time"
)

// This file is the node agent: it runs the decider's actions.

// monitor runs a pass every poll interval, and at once when a node exits,
// until ctx ends.
func (c *Cluster) monitor(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(c.poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-c.kick:
		}
		c.opMu.Lock()
		if c.active && ctx.Err() == nil {
			c.pass(ctx)
		}
		c.opMu.Unlock()
	}
}

// pass observes the nodes, decides and acts, then points the endpoints
// where the state says. The caller holds opMu.
func (c *Cluster) pass(ctx context.Context) {
	obs := c.observe(ctx)
	if ctx.Err() != nil {
		return
	}
	c.mu.Lock()
	st := c.state.clone()
	c.timers = c.timers.updated(st, obs, obs.At)
	t := c.timers
	c.obs = obs
	c.mu.Unlock()

	prim := obs.Nodes[st.Primary]
	if prim.Timeline != 0 && prim.Timeline != st.Timeline {
		if err := c.updateState(func(s *State) { s.Timeline = prim.Timeline }); err != nil {
			c.problem("state", EventError, err.Error())
		}
	}
	for name, r := range prim.Replicas {
		if r.State == "streaming" {
			for _, n := range c.nodes {
				if slotName(n.cfg.Name) == name {
					delete(c.rejoins, n.cfg.Name)
				}
			}
		}
	}
	blocked := ""
	for _, a := range decide(st, obs, t, obs.At, c.pol) {
		if a.kind == actBlocked {
			blocked = fmt.Sprintf("primary %s is lost and cannot be replaced automatically: %s", a.node, a.reason)
			continue
		}
		if err := c.apply(ctx, a); err != nil {
			c.problem(a.String(), EventError, err.Error())
			continue
		}
		c.problem(a.String(), EventError, "")
	}
	c.problem("failover", EventFailoverBlocked, blocked)
	c.route(obs)
}

// apply carries out one action.
func (c *Cluster) apply(ctx context.Context, a action) error {
	switch a.kind {
	case actPromote:
		return c.promote(ctx, c.byName[a.node], a.reason, false)
	case actSetSync:
		return c.setSync(a.node, a.reason)
	case actSyncFrom:
		return c.updateState(func(s *State) { s.Sync.FromLSN = a.lsn })
	case actSyncComplete:
		st := c.snapshot()
		lost := st.Sync.LostAt
		if err := c.updateState(func(s *State) { s.Sync.Complete, s.Sync.LostAt = true, time.Time{} }); err != nil {
			return err
		}
		msg := fmt.Sprintf("standby %s is synchronous and holds every acknowledged commit", a.node)
		if !lost.IsZero() {
			msg += fmt.Sprintf("; the cluster ran %s without a synchronous standby", since(lost))
		}
		c.log.Info("synchronous standby restored", "standby", a.node)
		c.emit(EventSyncRestored, msg)
	case actRejoin:
		c.startRejoin(c.byName[a.node], a.reason)
	}
	return nil
}

// setSync makes the primary's commits wait for standby ("" for none). The
// state is saved first: a standby stops counting as complete before the
// primary stops waiting for it.
func (c *Cluster) setSync(standby, reason string) error {
	prev := c.snapshot()
	next := prev.clone()
	if standby != prev.Sync.Standby {
		lost := prev.Sync.LostAt
		if standby == "" && lost.IsZero() {
			lost = time.Now()
		}
		next.Sync = Sync{Standby: standby, LostAt: lost}
	}
	if err := c.saveState(next); err != nil {
		return err
	}
	prim := c.byName[next.Primary]
	if err := c.reconfigure(prim, next); err != nil {
		return err
	}
	switch {
	case standby == "" && prev.Sync.Standby != "":
		c.log.Warn("no synchronous standby", "primary", prim.cfg.Name, "reason", reason)
		c.emit(EventSyncLost, fmt.Sprintf("no synchronous standby (%s): commits on %s continue without waiting for one", reason, prim.cfg.Name))
	case standby != "" && standby != prev.Sync.Standby:
		c.log.Info("commits wait for the standby", "primary", prim.cfg.Name, "standby", standby)
	}
	return nil
}

// rejoinTimeout bounds one rebuild of a follower.
const rejoinTimeout = 2 * time.Minute

// startRejoin rebuilds a follower that cannot follow the primary, in the
// background: a fast shutdown, then pg_rewind (after two rebuilds that
// did not help, a fresh base backup), then a start as follower.
func (c *Cluster) startRejoin(n *node, reason string) {
	if !n.busy.CompareAndSwap(false, true) {
		return
	}
	c.rejoins[n.cfg.Name]++
	fresh := c.rejoins[n.cfg.Name] > 2
	st := c.snapshot()
	plan := startPlan{conf: c.serverConf(n, st), primary: c.byName[st.Primary], rejoin: true}
	bgCtx := c.bgCtx
	c.bg.Go(func() {
		defer n.busy.Store(false)
		ctx, cancel := context.WithTimeout(bgCtx, rejoinTimeout)
		defer cancel()
		c.log.Warn("rebuilding database node", "node", n.cfg.Name, "reason", reason, "fresh", fresh)
		if err := c.rebuild(ctx, n, plan, fresh); err != nil {
			c.problem("rejoin "+n.cfg.Name, EventError, fmt.Sprintf("rebuilding %s (%s): %v", n.cfg.Name, reason, err))
			return
		}
		c.problem("rejoin "+n.cfg.Name, EventError, "")
	})
}

// rebuild stops a follower cleanly and starts it again through pg_rewind,
// or from an empty data directory when fresh.
func (c *Cluster) rebuild(ctx context.Context, n *node, plan startPlan, fresh bool) error {
	stopCtx, cancel := context.WithTimeout(ctx, stopTimeout)
	err := c.stopNode(stopCtx, n)
	cancel()
	if err != nil {
		return err
	}
	if fresh {
		if err := removeData(n.layout.dataDir); err != nil {
			return err
		}
	}
	return n.start(ctx, c, plan)
}
