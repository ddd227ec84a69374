package rds

import (
	"context"
	"errors"
	"fmt"
	"syscall"
)

// KillPrimary injects the "database primary fails" fault: SIGKILL to the
// primary's postmaster only (kill -9), as a crash would. It takes the
// same lock as promotions, so it never races one. The Multi-AZ monitor
// sees the server gone at once; the node stays down, as after any
// fault, until RecoverNode.
func (c *Cluster) KillPrimary() error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	name := c.snapshot().Primary
	n := c.byName[name]
	p := n.proc.Load()
	if p == nil || p.exited() {
		return fmt.Errorf("primary %s is not running", name)
	}
	c.setHeld(name, true)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("killing primary %s: %w", name, err)
	}
	c.log.Warn("killed the database primary", "node", name, "pid", p.pid())
	c.emit(EventNodeKilled, fmt.Sprintf("killed primary %s (kill -9 of postmaster pid %d)", name, p.pid()))
	return nil
}

// StopNode injects the loss of one node, as of its AZ: all of its
// processes are killed. What follows is the monitor's business (a lost
// primary is failed over, a lost standby stops being waited for);
// RecoverNode brings the node back.
func (c *Cluster) StopNode(ctx context.Context, name string) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	n, ok := c.byName[name]
	if !ok {
		return fmt.Errorf("no database node %q", name)
	}
	c.cancelJob(n)
	c.setHeld(name, true)
	if n.kill() {
		c.log.Warn("database node killed", "node", name)
		c.emit(EventNodeKilled, fmt.Sprintf("killed database node %s with all its processes", name))
	}
	c.wake()
	return nil
}

// StopRegion injects a region outage into the database tier: the
// region's nodes are killed with their whole process groups, as by a
// power cut, and its endpoints stop listening and drop their
// connections. Nothing is promoted here; with the primary's region down,
// Promote or WatchRegionFailover moves the primary.
func (c *Cluster) StopRegion(ctx context.Context, region string) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if !c.known(region) {
		return fmt.Errorf("no database node or endpoint in region %q", region)
	}
	for _, ep := range []*endpoint{c.writers[region], c.readers[region]} {
		if ep != nil {
			ep.close()
		}
	}
	var stopped []string
	for _, n := range c.nodes {
		if n.cfg.Region != region {
			continue
		}
		c.cancelJob(n)
		c.setHeld(n.cfg.Name, true)
		if n.kill() {
			stopped = append(stopped, n.cfg.Name)
		}
	}
	c.log.Warn("database region stopped", "region", region, "nodes", stopped)
	c.emit(EventRegionStopped, fmt.Sprintf("region %s is down for the database: nodes %v killed, endpoints closed", region, stopped))
	return nil
}

// StartRegion ends a region outage: the region's endpoints listen again
// and its nodes start in their roles from the cluster state — the
// primary as primary if no other node was promoted meanwhile, a fenced
// former primary rewound into a follower of the new one. A follower
// that does not start is retried by the monitor, with backoff.
func (c *Cluster) StartRegion(ctx context.Context, region string) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if !c.active {
		return errNotRunning
	}
	if !c.known(region) {
		return fmt.Errorf("no database node or endpoint in region %q", region)
	}
	if err := c.startEndpoints(region); err != nil {
		return err
	}
	st := c.snapshot()
	var errs []error
	if prim := c.byName[st.Primary]; prim.cfg.Region == region {
		if err := c.recoverLocked(ctx, prim); err != nil {
			return err
		}
	}
	for _, n := range c.nodes {
		if n.cfg.Region == region && n.cfg.Name != st.Primary {
			if err := c.recoverLocked(ctx, n); err != nil {
				errs = append(errs, err)
			}
		}
	}
	c.pass(ctx)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.emit(EventRegionStarted, fmt.Sprintf("region %s is back for the database", region))
	return nil
}

// RecoverNode brings a node back in its role from the cluster state,
// whatever stopped it — a fault, a fence, a crash (also one whose
// restarts are backing off) or a rebuild waiting for its next attempt:
// the primary as primary; any other node as a follower of the primary,
// a fenced former primary through pg_rewind (or a fresh base backup when
// that fails). A running node is left alone. When the start fails, the
// monitor keeps trying, with backoff.
func (c *Cluster) RecoverNode(ctx context.Context, name string) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if !c.active {
		return errNotRunning
	}
	n, ok := c.byName[name]
	if !ok {
		return fmt.Errorf("no database node %q", name)
	}
	err := c.recoverLocked(ctx, n)
	c.pass(ctx)
	return err
}

// Recover brings back every node that is not running, as RecoverNode
// does, and returns the names of those it started.
func (c *Cluster) Recover(ctx context.Context) ([]string, error) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if !c.active {
		return nil, errNotRunning
	}
	var started []string
	var errs []error
	prim := c.byName[c.snapshot().Primary]
	order := []*node{prim} // the primary first: followers copy from it
	for _, n := range c.nodes {
		if n != prim {
			order = append(order, n)
		}
	}
	for _, n := range order {
		if n.running() {
			continue
		}
		if err := c.recoverLocked(ctx, n); err != nil {
			errs = append(errs, err)
			continue
		}
		started = append(started, n.cfg.Name)
	}
	c.pass(ctx)
	return started, errors.Join(errs...)
}

// recoverLocked starts n now: its background job is cancelled, its
// fault lifted and its backoff forgotten. A follower that was waiting
// to be rebuilt is rebuilt first. The caller holds opMu.
func (c *Cluster) recoverLocked(ctx context.Context, n *node) error {
	name := n.cfg.Name
	c.cancelJob(n)
	c.setHeld(name, false)
	if n.running() {
		return nil
	}
	st := c.snapshot()
	var err error
	if h := c.healthOf(name); h.cannotFollow != "" && name != st.Primary {
		c.emit(EventNodeRebuilding, fmt.Sprintf("rebuilding database node %s: %s; its data is kept until a new copy is complete", name, h.cannotFollow))
		err = c.rebuildNode(ctx, n, h.copy)
	} else {
		err = c.startNode(ctx, n, st)
	}
	if err != nil {
		c.failed(n, "recovery failed: "+err.Error(), false)
		return err
	}
	return nil
}

func (c *Cluster) known(region string) bool {
	if _, ok := c.writers[region]; ok {
		return true
	}
	for _, n := range c.nodes {
		if n.cfg.Region == region {
			return true
		}
	}
	return false
}
