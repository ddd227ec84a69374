package rds

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
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
	if err := p.signal(syscall.SIGKILL); err != nil {
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

// CrashRegion injects the abrupt loss of a region into the database
// tier, as a power cut: every server of the region, with all of its
// processes, gets SIGKILL in the same instant (no shutdown, no
// checkpoint, no last WAL handed to anyone), and the region's endpoints
// and replication relays drop their connections. The nodes stay down,
// not restarted, until StartRegion, RecoverNode or Recover. Nothing is
// promoted here: a lost standby stops being waited for, a lost primary
// is failed over only to a standby outside the region (there is none
// with Multi-AZ in one region), and a replica in another region is
// promoted by Promote, or by WatchRegionFailover with
// cross_region_failover = "automatic".
func (c *Cluster) CrashRegion(region string) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if !c.known(region) {
		return fmt.Errorf("no database node or endpoint in region %q", region)
	}
	var victims []*node
	for _, n := range c.nodes {
		if n.cfg.Region == region {
			victims = append(victims, n)
		}
	}
	// Held before the kill, so that no exit is taken for a crash to
	// restart from; background restarts and rebuilds end first.
	for _, n := range victims {
		c.cancelJob(n)
		c.setHeld(n.cfg.Name, true)
	}
	for _, n := range victims {
		n.mu.Lock()
	}
	servers := map[*postmaster]string{}
	for _, n := range victims {
		if p := n.proc.Load(); p != nil {
			servers[p] = n.layout.dataDir
		}
	}
	spread, wasRunning := crashAll(servers)
	var killed []string
	for _, n := range victims {
		if p := n.proc.Load(); p != nil {
			if wasRunning[p] {
				killed = append(killed, n.cfg.Name)
			}
			n.proc.Store(nil)
			n.removeTempSocketDir()
		}
		n.mu.Unlock()
	}
	c.closeRegion(region)
	c.wake()
	c.log.Warn("database region crashed", "region", region, "nodes", killed, "spread", spread)
	c.emit(EventRegionCrashed, fmt.Sprintf("region %s crashed for the database: servers %v and all their processes killed with SIGKILL within %s, without shutdown; endpoints closed; its nodes stay down until the region is started again",
		region, killed, spread.Round(time.Microsecond)))
	return nil
}

// StopRegion is CrashRegion.
func (c *Cluster) StopRegion(_ context.Context, region string) error {
	return c.CrashRegion(region)
}

// closeRegion closes the region's endpoints and its nodes' replication
// relays, with every connection they carry.
func (c *Cluster) closeRegion(region string) {
	for _, ep := range []*endpoint{c.writers[region], c.readers[region]} {
		if ep != nil {
			ep.close()
		}
	}
	for _, n := range c.nodes {
		if n.cfg.Region == region {
			c.relays[n.cfg.Name].close()
		}
	}
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

// Recover brings back every node that is not running, and every former
// primary left running by a promotion that could not reach it, as
// RecoverNode does, and returns the names of those it started.
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
		if n.running() && !c.stale(n) {
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
// to be rebuilt is rebuilt first. A former primary that a promotion
// could not reach, still running, is stopped and rejoins as a follower
// once it reaches the primary. The caller holds opMu.
func (c *Cluster) recoverLocked(ctx context.Context, n *node) error {
	name := n.cfg.Name
	c.cancelJob(n)
	c.setHeld(name, false)
	if n.running() {
		if !c.stale(n) {
			return nil
		}
		if err := c.stopStale(ctx, n); err != nil {
			return err
		}
	}
	return c.startStopped(ctx, n)
}

// startStopped starts n, stopped, in its role: rebuilt first when its
// server reported that it cannot follow.
func (c *Cluster) startStopped(ctx context.Context, n *node) error {
	name := n.cfg.Name
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

// rejoin is the job that rejoins a former primary left running whose
// region reaches the primary again, begun by Rejoin when a cut is
// lifted or by the monitor when that did not happen or failed: a
// failure counts as a failed rebuild, for the monitor's backoff.
func (c *Cluster) rejoin(ctx context.Context, n *node, reason string) error {
	name := n.cfg.Name
	c.log.Warn("rejoining a former primary left running", "node", name, "reason", reason)
	err := c.stopStale(ctx, n)
	if err == nil {
		err = c.startStopped(ctx, n)
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		h := c.updateHealth(name, func(h *health) { h.rebuildFailures, h.lastRebuild = h.rebuildFailures+1, time.Now() })
		c.problem("rejoin "+name, EventError, fmt.Sprintf("rejoining former primary %s failed (%d in a row; next attempt in %s): %v",
			name, h.rebuildFailures, rebuildDelay(h.rebuildFailures), err))
		return err
	}
	c.problem("rejoin "+name, EventError, "")
	return nil
}

// Rejoin makes every former primary that a promotion could not reach,
// and that still runs as a primary (it may have taken writes since),
// rejoin as a follower of the primary: stopped, rewound with pg_rewind
// (which discards what it wrote after the promotion) and started
// again, each as soon as its address reaches the primary. It returns
// the names of those that rejoined; the stack calls it when a network
// fault is lifted. The monitor does the same, with a backoff, for those
// this could not rejoin.
func (c *Cluster) Rejoin(ctx context.Context) ([]string, error) {
	// A region a promotion could not reach kept its endpoints on the old
	// primary; once it reaches the primary again they lead there before
	// anything else, so that no write lands on a former primary about to
	// be rewound. This does not wait for the operations lock: a monitor
	// pass may hold it for a while.
	prim := c.byName[c.snapshot().Primary]
	c.mu.Lock()
	var cut []string
	for region := range c.cut {
		cut = append(cut, region)
	}
	c.mu.Unlock()
	for _, region := range cut {
		if region != prim.cfg.Region && !c.routeTo(ctx, region, prim) {
			continue
		}
		c.mu.Lock()
		delete(c.cut, region)
		c.mu.Unlock()
	}
	if len(cut) > 0 {
		c.mu.Lock()
		obs := c.obs
		c.mu.Unlock()
		c.route(obs)
	}
	// The rejoins run as the monitor's jobs, so that its passes go on
	// meanwhile: a rewind or a copy takes seconds, and the primary must
	// stay watched all along.
	c.opMu.Lock()
	if !c.active {
		c.opMu.Unlock()
		return nil, errNotRunning
	}
	errs := make([]error, len(c.nodes))
	var stale []int
	for i, n := range c.nodes {
		if !c.stale(n) {
			continue
		}
		stale = append(stale, i)
		// A node busy already is most likely at the monitor's own rejoin;
		// it is waited for all the same.
		c.startJob(n, "rejoin", func(ctx context.Context) {
			errs[i] = c.rejoin(ctx, n, "the network between it and the primary is back")
		})
	}
	c.opMu.Unlock()
	var rejoined []string
	var failed []error
	for _, i := range stale {
		n := c.nodes[i]
		if err := c.awaitJob(ctx, n); err != nil {
			return rejoined, err
		}
		switch {
		case !c.stale(n):
			rejoined = append(rejoined, n.cfg.Name)
		case errs[i] != nil:
			failed = append(failed, errs[i])
		default:
			failed = append(failed, fmt.Errorf("former primary %s still runs as a primary", n.cfg.Name))
		}
	}
	c.opMu.Lock()
	if c.active {
		c.pass(ctx)
	}
	c.opMu.Unlock()
	return rejoined, errors.Join(failed...)
}

// stale reports a former primary that still runs: fenced in the state,
// but a promotion could not reach it to stop it.
func (c *Cluster) stale(n *node) bool {
	st := c.snapshot()
	return n.running() && st.Nodes[n.cfg.Name].Fenced && st.Primary != n.cfg.Name
}

// stopStale stops a former primary left running, once its address
// reaches the primary it is to follow.
func (c *Cluster) stopStale(ctx context.Context, n *node) error {
	st := c.snapshot()
	prim := c.byName[st.Primary]
	pctx, cancel := context.WithTimeout(ctx, c.probe)
	ok := c.acceptsConnections(pctx, n.cfg.Addr, prim.addrPort())
	cancel()
	if !ok {
		return fmt.Errorf("former primary %s still runs and cannot reach primary %s from its address %s; it rejoins once the network between them is back",
			n.cfg.Name, prim.cfg.Name, n.cfg.Addr)
	}
	c.log.Warn("former primary left running rejoins as a follower", "node", n.cfg.Name, "primary", prim.cfg.Name)
	c.emit(EventNodeRejoining, fmt.Sprintf("former primary %s, which the promotion of %s could not reach, still ran as a primary: it is stopped to rejoin as a follower, and whatever it wrote since is discarded (pg_rewind, or a new copy)", n.cfg.Name, prim.cfg.Name))
	stopCtx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	return c.stopNode(stopCtx, n)
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
