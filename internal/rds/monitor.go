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
	st := c.snapshot()
	c.remember(st, &obs)
	c.mu.Lock()
	c.timers = c.timers.updated(st, obs, obs.At, c.pol)
	t := c.timers
	c.obs = obs
	c.mu.Unlock()

	prim := obs.Nodes[st.Primary]
	if prim.Timeline != 0 && prim.Timeline != st.Timeline {
		if err := c.updateState(func(s *State) { s.Timeline = prim.Timeline }); err != nil {
			c.problem("state", EventError, err.Error())
		}
	}
	if marked, back := strayed(st, obs, c.pol); len(marked)+len(back) > 0 {
		if err := c.updateState(func(s *State) {
			if s.Primary != st.Primary {
				return
			}
			for _, name := range marked {
				ns := s.Nodes[name]
				ns.Strayed = true
				s.Nodes[name] = ns
			}
			for _, name := range back {
				ns := s.Nodes[name]
				ns.Strayed = false
				s.Nodes[name] = ns
			}
		}); err != nil {
			c.problem("state", EventError, err.Error())
		}
		for _, name := range marked {
			c.log.Warn("follower streams from a former primary: it may not be promoted until it follows the primary", "node", name)
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

// remember brings what the agent remembers of each node up to date with
// the pass (what its server reported, what it got over) and adds it to
// the observation, with any drift of a follower's settings.
func (c *Cluster) remember(st State, obs *observation) {
	prim := obs.Nodes[st.Primary]
	for _, n := range c.nodes {
		name := n.cfg.Name
		o := obs.Nodes[name]
		reason, needCopy := "", false
		if name != st.Primary && o.Running && !o.Busy {
			reason, needCopy = c.scanLog(n)
			if said := obs.cannotFollow[name]; reason == "" && said != "" {
				reason, needCopy = said, true // nothing but a new copy helps there
			}
		}
		r, attached := prim.Replicas[name]
		streaming := prim.writable() && attached && r.streams(c.pol)
		newly := false
		h := c.updateHealth(name, func(h *health) {
			*h = h.settled(o.Running, streaming, obs.At)
			if reason != "" {
				newly = h.cannotFollow == ""
				*h = h.cannot(reason, needCopy)
			}
		})
		if newly {
			c.log.Warn("follower cannot catch up", "node", name, "reason", h.cannotFollow, "copy", h.copy)
		}
		// A follower's job (made, rebuilt, rejoined, restarted with a
		// rewind) reads from the primary.
		obs.Copying = obs.Copying || h.job != "" && name != st.Primary
		o.Held, o.Failures, o.LastFailure = h.held, h.failures, h.lastFailure
		if !o.Running && !o.Busy {
			made, err := complete(n.layout, c.acct, name)
			o.Empty = err == nil && !made
		}
		o.PrimaryUnreachable = obs.Unreached[n.cfg.Region]
		o.CannotFollow, o.Copy, o.RebuildFailures, o.LastRebuild = h.cannotFollow, h.copy, h.rebuildFailures, h.lastRebuild
		o.Drifted = o.Reachable && o.InRecovery && name != st.Primary && (o.Drifted || !c.relayLeadsTo(n, st.Primary))
		obs.Nodes[name] = o
	}
}

// apply carries out one action.
func (c *Cluster) apply(ctx context.Context, a action) error {
	n := c.byName[a.node]
	switch a.kind {
	case actPromote:
		return c.promote(ctx, n, a.reason, false)
	case actSetSync:
		return c.setSync(a.node, a.reason)
	case actSyncFrom:
		return c.updateState(func(s *State) { s.Sync.From = a.pos })
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
	case actRestart:
		c.log.Warn("restarting database node", "node", a.node, "reason", a.reason)
		c.startJob(n, "restart", func(ctx context.Context) { c.restart(ctx, n) })
	case actRebuild:
		c.startJob(n, "rebuild", func(ctx context.Context) { c.rebuild(ctx, n, a.reason, a.fresh) })
	case actReconfigure:
		c.log.Warn("correcting the settings of a follower", "node", a.node, "reason", a.reason)
		return c.reconfigure(n, c.snapshot())
	case actCreate:
		c.startJob(n, "create", func(ctx context.Context) { c.create(ctx, n, a.reason) })
	case actRetire:
		return c.retire(ctx, n, a.reason)
	case actSetCrossRegion:
		return c.setCrossRegion(a.node)
	case actRejoin:
		c.startJob(n, "rejoin", func(ctx context.Context) { _ = c.rejoin(ctx, n, a.reason) })
	}
	return nil
}

// setSync makes the primary's commits wait for standby ("" for none). The
// state is saved first: a standby stops counting as complete before the
// primary stops waiting for it.
func (c *Cluster) setSync(standby, reason string) error {
	prev := c.snapshot()
	if err := c.updateState(func(s *State) {
		if standby != s.Sync.Standby {
			lost := s.Sync.LostAt
			if standby == "" && lost.IsZero() {
				lost = time.Now()
			}
			s.Sync = Sync{Standby: standby, LostAt: lost, CrossRegion: s.Sync.CrossRegion}
		}
	}); err != nil {
		return err
	}
	next := c.snapshot()
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
