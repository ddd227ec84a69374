package rds

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// gracefulStop bounds the fast shutdown of a reachable old primary
// before it is killed.
const gracefulStop = 5 * time.Second

// promote makes target the primary. The old primary is fenced first: the
// state document records the new primary and the old one as fenced
// before anything else happens, the writer endpoints stop leading to it
// and close its connections, and its server is stopped. In its own
// region (a Multi-AZ failover) it is killed at once, or, when graceful,
// shut down fast, which hands its last WAL to the followers still
// connected. From another region the promotion works from the target's
// region, over the network (fenceAcross): an old primary that cannot be
// reached from there is not fenced at all. Then target is promoted,
// given its replication slots, the writer endpoints lead to it and the
// followers that the target's region reaches are re-pointed (the others
// once their region reaches it again, by the monitor). Every step is an
// event with its time since the start. Promoting the recorded primary
// finishes an interrupted promotion.
func (c *Cluster) promote(ctx context.Context, target *node, reason string, graceful bool) error {
	begin := time.Now()
	step := func(kind, msg string) {
		c.log.Info(msg, "elapsed", since(begin))
		c.emit(kind, fmt.Sprintf("%s (+%s)", msg, since(begin)))
	}
	old := c.byName[c.snapshot().Primary]
	leftAlone := false // the old primary could not be reached: nothing is done to it
	if err := c.updateState(func(s *State) { *s = s.promoted(target.cfg.Name, c.cfg.Nodes, c.pol.multiAZ, begin) }); err != nil {
		return fmt.Errorf("recording the promotion of %s: %w", target.cfg.Name, err)
	}
	if old != target {
		step(EventFailover, fmt.Sprintf("promoting %s to primary in place of %s: %s", target.cfg.Name, old.cfg.Name, reason))
		closed := c.leadWriters(route{})
		c.cancelJob(old)
		if old.cfg.Region != target.cfg.Region {
			leftAlone = !c.fenceAcross(ctx, target.cfg.Region, old, closed, step)
		} else {
			leftAlone = !c.fenceInRegion(ctx, old, graceful, closed, step)
		}
	}
	timeline, err := c.promoteServer(ctx, target)
	if err != nil {
		return fmt.Errorf("promoting %s: %w", target.cfg.Name, err)
	}
	step(EventPromoted, fmt.Sprintf("%s promoted: it accepts writes on timeline %d", target.cfg.Name, timeline))

	if err := c.updateState(func(s *State) { s.Timeline = timeline }); err != nil {
		return err
	}
	st := c.snapshot()
	// Writers first: as a standby its commits waited for no one, and
	// the settings of its new role change nothing that writes need.
	c.leadWriters(route{node: target.cfg.Name, addr: target.addrPort()})
	step(EventEndpointsMoved, fmt.Sprintf("writer endpoints lead to %s", target.cfg.Name))
	var errs []error
	if err := c.reconfigure(target, st); err != nil {
		errs = append(errs, err)
	}
	if err := c.ensureSlots(ctx, target, st); err != nil {
		errs = append(errs, fmt.Errorf("replication slots on %s: %w", target.cfg.Name, err))
	}
	unreached := c.unreachedFrom(ctx, target.cfg.Region, old)
	for _, n := range c.nodes {
		if n == target || slices.Contains(unreached, n.cfg.Name) || n == old && leftAlone {
			continue
		}
		if err := c.reconfigure(n, st); err != nil {
			errs = append(errs, err)
		}
	}
	done := fmt.Sprintf("failover to %s done in %s; followers now stream from it", target.cfg.Name, since(begin))
	if len(unreached) > 0 {
		done = fmt.Sprintf("failover to %s done in %s; followers now stream from it, except %s, which %s cannot reach: they follow once it can",
			target.cfg.Name, since(begin), strings.Join(unreached, ", "), target.cfg.Region)
	}
	step(EventFailoverDone, done)
	if c.standby(st) != "" && old != target {
		c.emit(EventSyncLost, fmt.Sprintf("no synchronous standby after the promotion: commits on %s continue without waiting until a standby streams from it", target.cfg.Name))
	}
	return errors.Join(errs...)
}

// fenceInRegion fences the old primary of a failover inside its region:
// a server still running is stopped on purpose — killed, or when
// graceful shut down fast — and stays down until recovered; one that
// stopped on its own is restarted as a follower, rewound, as any node
// that crashed. A server whose address the region's control address
// cannot reach at all (its AZ cut off: no answer, not even a refusal,
// where a hung server's kernel still completes the handshake) is left
// alone: its commits wait for the standby, which no longer follows it,
// so it acknowledges no write; it rejoins once recovered (Rejoin). It
// reports whether it reached the old primary.
func (c *Cluster) fenceInRegion(ctx context.Context, old *node, graceful bool, closed int, step func(kind, msg string)) bool {
	if old.running() && !c.routeTo(ctx, old.cfg.Region, old) {
		c.log.Warn("old primary cut off, not stopped", "node", old.cfg.Name)
		step(EventNotFenced, fmt.Sprintf("old primary %s could not be reached from %s (its AZ cut off), so it was not stopped: its commits wait for a standby that no longer follows it; %d connections through the writer endpoints closed; it returns only as a follower, after pg_rewind, once recovered",
			old.cfg.Name, old.cfg.Region, closed))
		return false
	}
	if old.running() {
		c.setHeld(old.cfg.Name, true)
	}
	how := "killed"
	if graceful && old.running() {
		how = "shut down"
		stopCtx, cancel := context.WithTimeout(ctx, gracefulStop)
		err := old.stop(stopCtx)
		cancel()
		if err != nil {
			how = "killed after a slow shutdown"
		}
	} else if !old.kill() {
		how = "already down"
	}
	step(EventNodeFenced, fmt.Sprintf("old primary %s fenced: %s, %d connections through the writer endpoints closed; it returns only as a follower, after pg_rewind", old.cfg.Name, how, closed))
	return true
}

// fenceAcross fences the old primary from the promoting region, over the
// network, as that region's control plane would: when the old primary
// takes a session from the region's control address, a fast shutdown
// (which hands its last WAL to the followers still connected) is asked
// for through it, and it stays down until recovered. When it cannot be
// reached, it is left alone, as promoting a replica on AWS leaves its
// source alone: if it still runs, it still takes writes; it rejoins as a
// follower, rewound, once recovered (Rejoin, StartRegion, RecoverNode).
// It reports whether it reached the old primary.
func (c *Cluster) fenceAcross(ctx context.Context, region string, old *node, closed int, step func(kind, msg string)) bool {
	conn, err := c.connectFrom(ctx, c.controlAddr(region), old, c.probe)
	if err != nil {
		c.log.Warn("old primary not reached, not fenced", "node", old.cfg.Name, "from", region, "err", err)
		step(EventNotFenced, fmt.Sprintf("old primary %s could not be reached from %s, so it was not fenced: if it still runs, it may still take writes; %d connections through the writer endpoints closed; it returns only as a follower, after pg_rewind, once recovered",
			old.cfg.Name, region, closed))
		return false
	}
	c.setHeld(old.cfg.Name, true)
	how := old.shutdownThrough(ctx, conn)
	step(EventNodeFenced, fmt.Sprintf("old primary %s fenced from %s over the network: %s, %d connections through the writer endpoints closed; it returns only as a follower, after pg_rewind",
		old.cfg.Name, region, how, closed))
	return true
}

// routeTo reports whether the network carries packets between region's
// control address and n's address: a connection opens or is refused,
// rather than going unanswered.
func (c *Cluster) routeTo(ctx context.Context, region string, n *node) bool {
	ctx, cancel := context.WithTimeout(ctx, c.probe)
	defer cancel()
	conn, err := dialerFrom(c.controlAddr(region)).DialContext(ctx, "tcp", n.addrPort().String())
	if err == nil {
		conn.Close()
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// unreachedFrom names the nodes outside region, but for skip, to which
// no connection opens from region's control address: the promotion
// leaves them alone.
func (c *Cluster) unreachedFrom(ctx context.Context, region string, skip *node) []string {
	from := c.controlAddr(region)
	if !from.IsValid() {
		return nil
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var out []string
	for _, n := range c.nodes {
		if n.cfg.Region == region || n == skip || !n.running() {
			continue
		}
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, c.probe)
			defer cancel()
			if !acceptsConnections(pctx, from, n.addrPort()) {
				mu.Lock()
				out = append(out, n.cfg.Name)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(out)
	return out
}

// promoteServer ends recovery on n, if it is still in recovery, and
// waits until it accepts writes; it returns the new timeline. It works
// through the monitor's open session to n when there is one, which
// spares a login in the middle of a failover. The caller holds opMu.
func (c *Cluster) promoteServer(ctx context.Context, n *node) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if conn := c.probes[n.cfg.Name]; conn != nil && !conn.IsClosed() {
		timeline, err := promoteOn(ctx, conn)
		if err == nil {
			return timeline, nil
		}
		conn.Close(context.WithoutCancel(ctx))
		delete(c.probes, n.cfg.Name)
		if ctx.Err() != nil {
			return 0, err
		}
		c.log.Warn("promoting through a new session", "node", n.cfg.Name, "err", err)
	}
	conn, err := c.connect(ctx, n, 2*time.Second)
	if err != nil {
		return 0, fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return promoteOn(ctx, conn)
}

// promoteOn promotes the server of conn and returns its new timeline.
func promoteOn(ctx context.Context, conn *pgx.Conn) (int, error) {
	var inRecovery bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
		return 0, fmt.Errorf("checking recovery: %w", err)
	}
	if inRecovery {
		if _, err := conn.Exec(ctx, "SELECT pg_promote(false)"); err != nil {
			return 0, fmt.Errorf("pg_promote: %w", err)
		}
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for inRecovery {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for the end of recovery: %w", context.Cause(ctx))
		case <-tick.C:
		}
		if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
			return 0, fmt.Errorf("checking recovery: %w", err)
		}
	}
	var tli string
	if err := conn.QueryRow(ctx, probeTimelineSQL).Scan(&tli); err != nil {
		return 0, fmt.Errorf("reading the timeline: %w", err)
	}
	var timeline int
	fmt.Sscanf(tli, "%x", &timeline)
	return timeline, nil
}

// leadWriters points every writer endpoint at r and returns how many
// connections that closed.
func (c *Cluster) leadWriters(r route) int {
	closed := 0
	for _, region := range c.regions() {
		closed += c.writers[region].lead(r)
	}
	return closed
}

// route points the endpoints where the state and the last observation
// say: writers to the recorded primary, readers to a healthy replica of
// their region or else the primary.
func (c *Cluster) route(obs observation) {
	st := c.snapshot()
	prim := c.byName[st.Primary]
	c.leadWriters(route{node: prim.cfg.Name, addr: prim.addrPort()})
	for _, region := range c.regions() {
		n := c.byName[readerFor(region, st, obs, c.cfg.Nodes)]
		c.readers[region].lead(route{node: n.cfg.Name, addr: n.addrPort()})
	}
}

// Promote promotes the replica in region to primary: the manual
// cross-region failover. The old primary is fenced first (see the
// package documentation); a reachable one is shut down fast so that
// connected followers receive all of its WAL, which makes a promotion of
// a healthy cluster lose nothing. It fails when region holds the primary
// already or has no running replica.
func (c *Cluster) Promote(ctx context.Context, region string) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	return c.promoteRegion(ctx, region, "promotion of region "+region+" requested")
}

func (c *Cluster) promoteRegion(ctx context.Context, region, reason string) error {
	if !c.active {
		return errNotRunning
	}
	st := c.snapshot()
	if c.byName[st.Primary].cfg.Region == region {
		return fmt.Errorf("the primary %s is already in region %s", st.Primary, region)
	}
	c.mu.Lock()
	obs := c.obs
	c.mu.Unlock()
	var target *node
	for _, n := range c.nodes {
		if n.cfg.Region != region || !n.running() || n.busy.Load() {
			continue
		}
		if target == nil || obs.Nodes[n.cfg.Name].LSN > obs.Nodes[target.cfg.Name].LSN {
			target = n
		}
	}
	if target == nil {
		return fmt.Errorf("region %s has no running replica to promote", region)
	}
	graceful := obs.Nodes[st.Primary].writable()
	return c.promote(ctx, target, reason, graceful)
}
