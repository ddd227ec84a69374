package rds

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
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
	_, err := c.promoteWith(ctx, target, reason, graceful, nil)
	return err
}

// oldSession is how a cross-region promotion reached the old primary
// before it began (to measure the lag): a session from the promoting
// region's control address, or the error that stopped it. Fencing uses
// it rather than trying again.
type oldSession struct {
	conn session
	err  error
}

// promoteWith is promote with the old primary already tried (reach; nil:
// fencing tries it itself). It reports whether the old primary was
// reached and stopped, or was down already.
func (c *Cluster) promoteWith(ctx context.Context, target *node, reason string, graceful bool, reach *oldSession) (reached bool, err error) {
	begin := time.Now()
	step := func(kind, msg string) {
		c.log.Info(msg, "elapsed", since(begin))
		c.emit(kind, fmt.Sprintf("%s (+%s)", msg, since(begin)))
	}
	old := c.byName[c.snapshot().Primary]
	leftAlone := false // the old primary could not be reached: nothing is done to it
	if err := c.leaseCheck(ctx, old.cfg.Region, target.cfg.Region); err != nil {
		return false, fmt.Errorf("not promoting %s: %w", target.cfg.Name, err)
	}
	if err := c.updateState(func(s *State) { *s = s.promoted(target.cfg.Name, c.cfg.Nodes, c.pol.multiAZ, begin) }); err != nil {
		return false, fmt.Errorf("recording the promotion of %s: %w", target.cfg.Name, err)
	}
	if old != target {
		step(EventFailover, fmt.Sprintf("promoting %s to primary in place of %s: %s", target.cfg.Name, old.cfg.Name, reason))
		// A region the promotion cannot reach keeps its endpoints.
		c.markCutOff(target.cfg.Region, old)
		closed := c.leadWriters(route{})
		c.cancelJob(old)
		if old.cfg.Region != target.cfg.Region {
			leftAlone = !c.fenceAcross(ctx, target.cfg.Region, old, closed, step, reach)
		} else {
			leftAlone = !c.fenceInRegion(ctx, old, graceful, closed, step)
		}
	}
	if err := c.takeLease(ctx, old.cfg.Region, target.cfg.Region, !leftAlone, step); err != nil {
		return !leftAlone, fmt.Errorf("promoting %s: %w; promote again once it can", target.cfg.Name, err)
	}
	// Its stream from the old primary ends now: a receiver held by the
	// relay (reconnecting to a primary that is gone) would hold up the
	// promotion until the hold ran out.
	c.relays[target.cfg.Name].leadNowhere()
	timeline, err := c.promoteServer(ctx, target)
	if err != nil {
		return !leftAlone, fmt.Errorf("promoting %s: %w", target.cfg.Name, err)
	}
	step(EventPromoted, promotedMessage(target.cfg.Name, timeline))

	if err := c.updateState(func(s *State) { s.Timeline = timeline }); err != nil {
		return !leftAlone, err
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
	if err := c.eng.primaryReady(ctx, c, target, st); err != nil {
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
	return !leftAlone, errors.Join(errs...)
}

// promotedMessage says that name takes writes, on which timeline where
// the engine has them.
func promotedMessage(name string, timeline int) string {
	if timeline == 0 {
		return name + " promoted: it accepts writes"
	}
	return fmt.Sprintf("%s promoted: it accepts writes on timeline %d", name, timeline)
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
		step(EventNotFenced, fmt.Sprintf("old primary %s could not be reached from %s (its AZ cut off), so it was not stopped: its commits wait for a standby that no longer follows it; %d connections through the writer endpoints closed; it returns only as a follower, rewound or copied, once recovered",
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
	step(EventNodeFenced, fmt.Sprintf("old primary %s fenced: %s, %d connections through the writer endpoints closed; it returns only as a follower, rewound or copied", old.cfg.Name, how, closed))
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
// It reports whether it reached the old primary. reach, when not nil,
// is the promotion's earlier attempt, used instead of a new one.
func (c *Cluster) fenceAcross(ctx context.Context, region string, old *node, closed int, step func(kind, msg string), reach *oldSession) bool {
	if reach == nil {
		reach = &oldSession{}
		reach.conn, reach.err = c.eng.dial(ctx, c.controlAddr(region), old, c.probe)
	}
	conn, err := reach.conn, reach.err
	if err != nil {
		c.log.Warn("old primary not reached, not fenced", "node", old.cfg.Name, "from", region, "err", err)
		step(EventNotFenced, fmt.Sprintf("old primary %s could not be reached from %s, so it was not fenced: if it still runs, it may still take writes; %d connections through the writer endpoints closed; it returns only as a follower, rewound or copied, once recovered",
			old.cfg.Name, region, closed))
		return false
	}
	c.setHeld(old.cfg.Name, true)
	how := old.shutdownThrough(ctx, conn)
	step(EventNodeFenced, fmt.Sprintf("old primary %s fenced from %s over the network: %s, %d connections through the writer endpoints closed; it returns only as a follower, rewound or copied",
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
			if !c.acceptsConnections(pctx, from, n.addrPort()) {
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
	if sess := c.probes[n.cfg.Name]; sess != nil && !sess.closed() {
		timeline, err := sess.promote(ctx)
		if err == nil {
			return timeline, nil
		}
		sess.close(context.WithoutCancel(ctx))
		delete(c.probes, n.cfg.Name)
		if ctx.Err() != nil {
			return 0, err
		}
		c.log.Warn("promoting through a new session", "node", n.cfg.Name, "err", err)
	}
	sess, err := c.eng.dial(ctx, c.controlAddr(n.cfg.Region), n, 2*time.Second)
	if err != nil {
		return 0, fmt.Errorf("connecting: %w", err)
	}
	defer sess.close(context.WithoutCancel(ctx))
	return sess.promote(ctx)
}

// leadWriters points every writer endpoint at r, but those of a region
// cut off from the control plane (cutOff), and returns how many
// connections that closed. A primary whose region does not hold its
// write lease (lease fencing) is led to by none.
func (c *Cluster) leadWriters(r route) int {
	if n := c.byName[r.node]; n != nil && c.writesFenced(n.cfg.Region) {
		r = route{}
	}
	closed := 0
	for _, region := range c.regions() {
		if c.cutOff(region) {
			continue
		}
		closed += c.writers[region].lead(r)
	}
	return closed
}

// route points the endpoints where the state and the last observation
// say: writers to the recorded primary, readers to a healthy replica of
// their region or else the primary. A region cut off from the control
// plane (cutOff) keeps its endpoints as they are.
func (c *Cluster) route(obs observation) {
	st := c.snapshot()
	prim := c.byName[st.Primary]
	c.leadWriters(route{node: prim.cfg.Name, addr: prim.addrPort()})
	for _, region := range c.regions() {
		if c.cutOff(region) {
			continue
		}
		n := c.byName[readerFor(region, st, obs, c.cfg.Nodes)]
		c.readers[region].lead(route{node: n.cfg.Name, addr: n.addrPort()})
	}
}

// Promote promotes the replica in region to primary: the manual
// cross-region failover, refused when the replica does not answer or,
// while the old primary answers, when it is behind (PromoteRegion).
// The old primary is fenced first (see the package documentation); a
// reachable one is shut down fast so that connected followers receive
// all of its WAL, which makes a promotion of a healthy cluster lose
// nothing. It fails when region holds the primary already or has no
// running replica.
func (c *Cluster) Promote(ctx context.Context, region string) error {
	_, err := c.PromoteRegion(ctx, region, false)
	return err
}

// PromoteRegion is Promote, reporting what it measured and did. Before
// anything is done to the old primary, the replica must answer a new
// session from its region's control address, the first packet within
// the probe timeout (a server whose postmaster hangs completes the TCP
// handshake in the kernel, but never answers), and, when the old
// primary answers from there too, the replica must hold everything the
// old primary had written when the check began, or reach it within
// lagWait; a replica still behind is promoted only with force, and the
// report says what it lacked. When the old primary does not answer (its region cut off or
// down) the lag cannot be measured: the report says so and the
// promotion goes ahead, as the failover of a lost region must.
func (c *Cluster) PromoteRegion(ctx context.Context, region string, force bool) (Promotion, error) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	return c.promoteChecked(ctx, region, "promotion of region "+region+" requested", promoteAsk{force: force})
}

// promoteRegion is the automatic cross-region failover's PromoteRegion,
// without force, and called off when the old primary answers after all.
// The caller holds opMu.
func (c *Cluster) promoteRegion(ctx context.Context, region, reason string) error {
	_, err := c.promoteChecked(ctx, region, reason, promoteAsk{automatic: true})
	return err
}

// promoteAsk is how a cross-region promotion was asked for.
type promoteAsk struct {
	// force: promote a replica behind a primary that still answers.
	force bool
	// automatic: hastack decided it (cross_region_failover =
	// "automatic") because the primary did not answer from the replica's
	// region; a primary that answers when the promotion checks is no
	// longer lost, and nothing is done.
	automatic bool
}

// errCalledOff is an automatic region failover called off because the
// old primary answered when the promotion checked it.
var errCalledOff = errors.New("automatic region failover called off")

// Events of a checked cross-region promotion.
const (
	// EventPromoteRefused reports a promotion refused before anything
	// was done: the replica does not answer, or it is behind a primary
	// that still answers.
	EventPromoteRefused = "db_promote_refused"
	// EventPromoteLag reports what a cross-region promotion measured of
	// the replica's lag before it went ahead, or why it could not.
	EventPromoteLag = "db_promote_lag"
)

// lagWait bounds the wait for a replica to replay what its primary had
// written when a promotion checked it: a streaming replica needs a
// round trip or two.
const lagWait = time.Second

// Promotion is what a cross-region promotion found and did.
type Promotion struct {
	Region string `json:"region"`
	// Node is the replica promoted (or refused); OldPrimary is the
	// primary it replaces.
	Node       string `json:"node"`
	OldPrimary string `json:"old_primary"`
	// Lag is how far Node was behind OldPrimary just before the
	// promotion; nil when it could not be measured, and LagUnknown says
	// why.
	Lag        *Lag   `json:"lag,omitempty"`
	LagUnknown string `json:"lag_unknown,omitempty"`
	// Forced: Node was behind and promoted all the same (force).
	Forced bool `json:"forced,omitempty"`
	// OldPrimaryStopped: the promotion reached the old primary and
	// stopped it (or found it down). Otherwise it was left alone: if it
	// still runs, it may still take writes until it rejoins.
	OldPrimaryStopped bool `json:"old_primary_stopped"`
}

// Lag is how far a replica is behind its primary.
type Lag struct {
	// Bytes is the WAL the primary has written that the replica has not
	// replayed: pg_current_wal_lsn() on the primary minus
	// pg_last_wal_replay_lsn() on the replica, 0 when it caught up.
	Bytes int64 `json:"bytes"`
	// Transactions counts, on MariaDB, the transactions the primary
	// wrote that the replica has not applied (GTIDs); Bytes is then 0.
	Transactions int64 `json:"transactions,omitempty"`
	// Seconds bounds the commits the replica lacks: the age of the newest
	// commit it replayed (now() - pg_last_xact_replay_timestamp() on the
	// replica; since its start when it replayed none). Every commit it
	// lacks is younger. It overstates the loss when the primary has been
	// idle meanwhile; 0 when it caught up.
	Seconds float64 `json:"seconds"`
}

// lagVerdict decides whether a cross-region promotion goes ahead from
// what was measured: reached, the old primary answered; caughtUp, the
// target replayed everything it had written. A target behind a primary
// that answers is refused unless forced; an old primary that does not
// answer leaves the lag unknown and the promotion proceeds (a region
// failover). It returns the sentence for the event, or the refusal.
func lagVerdict(p Promotion, reached, caughtUp bool, ask promoteAsk, lag Lag, why string) (ok bool, msg string) {
	switch {
	case reached && ask.automatic:
		// The decision rested on a primary that did not answer from here
		// for region_failover_after; a stall on a loaded machine ends, and
		// promoting then would split the stack for nothing.
		return false, fmt.Sprintf("automatic region failover to %s called off: primary %s answers from %s again; nothing was done",
			p.Node, p.OldPrimary, p.Region)
	case !reached:
		return true, fmt.Sprintf("the lag of %s cannot be measured: primary %s does not answer from %s (%s); what it wrote that %s had not replayed is lost",
			p.Node, p.OldPrimary, p.Region, why, p.Node)
	case caughtUp:
		return true, fmt.Sprintf("%s had replayed everything primary %s wrote: 0 bytes behind, nothing lost", p.Node, p.OldPrimary)
	case ask.force:
		return true, fmt.Sprintf("promoting %s with force while %d bytes behind primary %s, which still answers: up to %.2f s of commits that it had not replayed may be lost",
			p.Node, lag.Bytes, p.OldPrimary, lag.Seconds)
	default:
		return false, fmt.Sprintf("refusing to promote %s in %s: it is %d bytes and up to %.2f s of commits behind primary %s, which still answers, and did not catch up within %s; wait until it has, or promote with force to lose them",
			p.Node, p.Region, lag.Bytes, lag.Seconds, p.OldPrimary, lagWait)
	}
}

// promoteChecked promotes the most advanced running replica of region
// once it passed PromoteRegion's checks. The caller holds opMu.
func (c *Cluster) promoteChecked(ctx context.Context, region, reason string, ask promoteAsk) (Promotion, error) {
	if !c.active {
		return Promotion{}, errNotRunning
	}
	st := c.snapshot()
	old := c.byName[st.Primary]
	if old.cfg.Region == region {
		return Promotion{}, fmt.Errorf("the primary %s is already in region %s", st.Primary, region)
	}
	c.mu.Lock()
	obs := c.obs
	c.mu.Unlock()
	var target *node
	for _, n := range c.nodes {
		if n.cfg.Region != region || !c.promotable(n, st, obs) {
			continue
		}
		if target == nil || obs.Nodes[n.cfg.Name].Pos.Past(obs.Nodes[target.cfg.Name].Pos) {
			target = n
		}
	}
	if target == nil {
		return Promotion{}, fmt.Errorf("region %s has no running replica to promote (a former primary that has not rejoined, or a follower that strayed after one, is none)", region)
	}
	p := Promotion{Region: region, Node: target.cfg.Name, OldPrimary: old.cfg.Name}

	tconn, release, err := c.ownSession(ctx, target)
	if err != nil {
		msg := fmt.Sprintf("refusing to promote %s in %s: it does not answer a new session from %s (%s); nothing was done to primary %s",
			target.cfg.Name, region, region, noAnswer(err), old.cfg.Name)
		c.log.Warn("promotion refused: the replica does not answer", "node", target.cfg.Name, "err", err)
		c.emit(EventPromoteRefused, msg)
		return p, errors.New(msg)
	}
	defer release()

	reach := &oldSession{}
	reach.conn, reach.err = c.answering(ctx, c.controlAddr(region), old, c.probe)
	var lag Lag
	caughtUp, why := false, ""
	switch {
	case reach.err == nil && ask.automatic:
		// Called off below: nothing to measure.
	case reach.err == nil:
		lag, caughtUp, err = measureLag(ctx, reach.conn, tconn, lagWait, sessionOpen)
		if err != nil {
			reach.conn.close(context.WithoutCancel(ctx))
			msg := fmt.Sprintf("refusing to promote %s in %s: primary %s answers, but its lag could not be measured (%v); nothing was done to %s",
				target.cfg.Name, region, old.cfg.Name, err, old.cfg.Name)
			c.emit(EventPromoteRefused, msg)
			return p, errors.New(msg)
		}
		p.Lag = &lag
	default:
		why = noAnswer(reach.err)
		p.LagUnknown = fmt.Sprintf("primary %s does not answer from %s (%s)", old.cfg.Name, region, why)
	}
	ok, msg := lagVerdict(p, reach.err == nil, caughtUp, ask, lag, why)
	if !ok {
		if reach.conn != nil {
			reach.conn.close(context.WithoutCancel(ctx))
		}
		c.emit(EventPromoteRefused, msg)
		if ask.automatic {
			return p, fmt.Errorf("%w: %s", errCalledOff, msg)
		}
		c.log.Warn("promotion refused: the replica is behind", "node", target.cfg.Name, "lag_bytes", lag.Bytes, "lag_seconds", lag.Seconds)
		return p, errors.New(msg)
	}
	p.Forced = reach.err == nil && !caughtUp
	c.emit(EventPromoteLag, msg)
	graceful := obs.Nodes[st.Primary].writable()
	p.OldPrimaryStopped, err = c.promoteWith(ctx, target, reason, graceful, reach)
	return p, err
}

// promotable reports a node that a cross-region promotion may make the
// primary: a follower that runs and is not being rebuilt. A former
// primary that has not rejoined (fenced, or seen answering as a
// primary), or a follower that strayed after one (a standby cut off
// with it, still following it), is not one: its history left the
// primary's, and promoting it would throw away everything written
// since they parted.
func (c *Cluster) promotable(n *node, st State, obs observation) bool {
	ns, o := st.Nodes[n.cfg.Name], obs.Nodes[n.cfg.Name]
	return n.running() && !n.busy.Load() && !ns.Fenced && !ns.Strayed && ns.Role != RoleSpare && n.cfg.Name != st.Primary &&
		!(o.Reachable && !o.InRecovery)
}

// sessionOpen bounds logging in and a first query on a server that
// answered the start of a handshake: slow on a loaded machine (SCRAM,
// a backend's start), which is no sign of a server gone.
const sessionOpen = 5 * time.Second

// answering opens a session on n from the address from and runs a
// trivial query on it. The server must first answer the first packet
// of a handshake within the given time: one cut off does not even
// complete the TCP handshake, and one whose postmaster hangs (SIGSTOP)
// completes it in the kernel, and its open sessions still answer, but
// it starts no new one. Logging in and the query are then bounded by
// sessionOpen.
func (c *Cluster) answering(ctx context.Context, from netip.Addr, n *node, within time.Duration) (session, error) {
	if err := c.handshake(ctx, from, n, within); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, sessionOpen)
	defer cancel()
	sess, err := c.eng.dial(sctx, from, n, sessionOpen)
	if err != nil {
		return nil, err
	}
	if err := sess.ping(sctx); err != nil {
		sess.close(context.WithoutCancel(ctx))
		return nil, err
	}
	return sess, nil
}

// targetWait bounds the first answer of a server that a promotion or a
// switchover relies on: a healthy one answers in milliseconds; a second
// (the probe timeout, when longer) leaves room for a loaded machine
// before it is taken for hung. The old primary of a failover gets the
// probe timeout: waiting on a lost region delays the failover.
func (c *Cluster) targetWait() time.Duration { return max(c.probe, time.Second) }

// ownSession is answering from n's own region, within targetWait,
// sparing a login in the middle of a failover: after the handshake, the
// monitor's open session on n is used when it answers the query (the
// caller holds opMu, so the monitor is not using it). release ends the
// use: it closes a session opened here and leaves the monitor's.
func (c *Cluster) ownSession(ctx context.Context, n *node) (sess session, release func(), err error) {
	from := c.controlAddr(n.cfg.Region)
	if sess := c.probes[n.cfg.Name]; sess != nil && !sess.closed() {
		if err := c.handshake(ctx, from, n, c.targetWait()); err != nil {
			return nil, nil, err
		}
		qctx, cancel := context.WithTimeout(ctx, sessionOpen)
		err := sess.ping(qctx)
		cancel()
		if err == nil {
			return sess, func() {}, nil
		}
		sess.close(context.WithoutCancel(ctx))
		delete(c.probes, n.cfg.Name)
	}
	if sess, err = c.answering(ctx, from, n, c.targetWait()); err != nil {
		return nil, nil, err
	}
	return sess, func() { sess.close(context.WithoutCancel(ctx)) }, nil
}

// noAnswerError is a server that did not answer the first packet of a
// handshake in time.
type noAnswerError struct{ within time.Duration }

func (e noAnswerError) Error() string { return fmt.Sprintf("no answer within %s", e.within) }

// handshake sends n, from the address from, the first packet of a
// session (an SSL request, as pg_isready does) and waits for the
// answer, up to within.
func (c *Cluster) handshake(ctx context.Context, from netip.Addr, n *node, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	err := c.eng.handshake(ctx, from, n.addrPort())
	if err != nil && (ctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded)) {
		return noAnswerError{within}
	}
	return err
}

// noAnswer words why a server did not answer a session.
func noAnswer(err error) string {
	var na noAnswerError
	switch {
	case errors.As(err, &na):
		return na.Error()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no session within %s", sessionOpen)
	}
	return err.Error()
}

// measureLag measures how far the replica of target is behind the
// primary of prim: it waits up to wait for the replica to replay what
// the primary had written when it began (caughtUp), and otherwise
// returns the lag as it stands after the wait. Each query is bounded by
// timeout.
func measureLag(ctx context.Context, prim, target session, wait, timeout time.Duration) (lag Lag, caughtUp bool, err error) {
	written, err := bounded(ctx, timeout, prim.written)
	if err != nil {
		return Lag{}, false, err
	}
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		replayed, age, err := replayedWithin(ctx, target, timeout)
		if err != nil {
			return Lag{}, false, err
		}
		if replayed.Covers(written) {
			return Lag{}, true, nil
		}
		if time.Now().After(deadline) {
			// The primary may have written more meanwhile: the lag now.
			if written, err = bounded(ctx, timeout, prim.written); err != nil {
				return Lag{}, false, err
			}
			behind, unit := replayed.Behind(written)
			if unit == "transactions" {
				return Lag{Transactions: behind, Seconds: age}, false, nil
			}
			return Lag{Bytes: behind, Seconds: age}, false, nil
		}
		select {
		case <-ctx.Done():
			return Lag{}, false, context.Cause(ctx)
		case <-tick.C:
		}
	}
}

// bounded runs a session's query with its own timeout.
func bounded[T any](ctx context.Context, timeout time.Duration, query func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return query(ctx)
}

// replayedWithin is a follower's replay position and the age of the
// newest transaction it applied, asked with its own timeout.
func replayedWithin(ctx context.Context, s session, timeout time.Duration) (Position, float64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return s.replayed(ctx)
}
