package rds

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Events of a planned switchover.
const (
	// EventSwitchover starts a switchover: its checks passed.
	EventSwitchover = "db_switchover"
	// EventWritesStopped reports the writer endpoints leading nowhere
	// and the old primary shut down: nothing commits anywhere.
	EventWritesStopped = "db_writes_stopped"
	// EventCaughtUp reports the target holding all of the old
	// primary's WAL, checked before it is promoted.
	EventCaughtUp = "db_caught_up"
	// EventSwitchoverDone ends a switchover, with the write downtime.
	EventSwitchoverDone = "db_switchover_done"
	// EventSwitchoverRefused reports a switchover refused before writes
	// stopped: nothing was changed.
	EventSwitchoverRefused = "db_switchover_refused"
	// EventSwitchoverAborted reports a switchover given up after writes
	// stopped: the old primary took writes again.
	EventSwitchoverAborted = "db_switchover_aborted"
)

// switchoverCatchUp bounds the wait, writes stopped, for the target to
// replay the old primary's last WAL; past it the switchover is aborted
// and the old primary takes writes again.
const switchoverCatchUp = 3 * time.Second

// Switchover is what a planned switchover did.
type Switchover struct {
	Region string `json:"region"`
	// From is the old primary, To the new one.
	From string `json:"from"`
	To   string `json:"to"`
	// LSN is where the old primary's WAL ended (its shutdown
	// checkpoint); To had replayed it before it was promoted. 0 on
	// MariaDB, whose end is a GTID position.
	LSN LSN `json:"lsn"`
	// Position is where the old primary's history ended, in its engine's
	// notation (the LSN, or a MariaDB GTID position).
	Position string `json:"position"`
	// Timeline is To's timeline as the primary.
	Timeline int `json:"timeline"`
	// WriteDowntimeSeconds is how long no write could commit: from the
	// writer endpoints leading nowhere to them leading to To.
	WriteDowntimeSeconds float64 `json:"write_downtime_seconds"`
	// Seconds is the whole switchover, the old primary's restart as a
	// follower included.
	Seconds float64 `json:"seconds"`
	// OldPrimaryFollows: From runs again, as a follower of To.
	OldPrimaryFollows bool `json:"old_primary_follows"`
}

// Switchover moves the primary to region with no acknowledged write
// lost, as a planned operation (the way back after a failover):
//
//  1. Checks, while writes go on (nothing is changed when one fails):
//     the target answers a new session from its region, the primary
//     answers from its own, and the target replays what the primary
//     had written within lagWait. A checkpoint on the primary then
//     leaves little for its shutdown checkpoint to write.
//  2. Writes stop: the writer endpoints lead nowhere (their
//     connections are closed; new clients wait for a route) and the
//     old primary is shut down fast, through a session from its
//     region's control address. Its open transactions roll back, and
//     its WAL senders hand every follower still connected the whole of
//     its WAL, the shutdown checkpoint last.
//  3. The target must have replayed up to that checkpoint (read from
//     the old primary's control file by its own agent) within
//     switchoverCatchUp; otherwise the switchover is aborted: the old
//     primary starts again as the primary and the writer endpoints lead
//     back to it.
//  4. The target is promoted and the writer endpoints lead to it: the
//     write downtime ends. The other followers are re-pointed.
//  5. The old primary, whose WAL is a prefix of the new primary's
//     history, starts again as its follower, without a rewind (pg_rewind
//     if that fails). Unlike after a failover, it is not held down.
//
// The target is the stack file's primary when it is in region (a
// switchover home gives the stack its first shape back), else the
// region's first running follower.
func (c *Cluster) Switchover(ctx context.Context, region string) (Switchover, error) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if !c.active {
		return Switchover{}, errNotRunning
	}
	st := c.snapshot()
	old := c.byName[st.Primary]
	if old.cfg.Region == region {
		return Switchover{}, fmt.Errorf("the primary %s is already in region %s", st.Primary, region)
	}
	if !c.known(region) {
		return Switchover{}, fmt.Errorf("no database node in region %q", region)
	}
	target := c.switchoverTarget(region)
	if target == nil {
		return Switchover{}, fmt.Errorf("region %s has no running replica to switch over to", region)
	}
	rep := Switchover{Region: region, From: old.cfg.Name, To: target.cfg.Name}
	refuse := func(format string, args ...any) (Switchover, error) {
		msg := fmt.Sprintf("refusing the switchover to %s in %s: ", target.cfg.Name, region) + fmt.Sprintf(format, args...) + fmt.Sprintf("; nothing was changed, %s still takes writes", old.cfg.Name)
		c.log.Warn("switchover refused", "to", target.cfg.Name, "reason", msg)
		c.emit(EventSwitchoverRefused, msg)
		return rep, errors.New(msg)
	}

	tconn, release, err := c.ownSession(ctx, target)
	if err != nil {
		return refuse("it does not answer a new session from %s (%s)", region, noAnswer(err))
	}
	defer release()
	if err := c.leaseCheck(ctx, old.cfg.Region, region); err != nil {
		return refuse("%v", err)
	}
	if !old.running() {
		return refuse("primary %s is not running (promote %s to fail over instead)", old.cfg.Name, region)
	}
	oconn, err := c.answering(ctx, c.controlAddr(old.cfg.Region), old, c.targetWait())
	if err != nil {
		return refuse("primary %s does not answer a new session from %s (%s); promote %s to fail over instead", old.cfg.Name, old.cfg.Region, noAnswer(err), region)
	}
	lag, caughtUp, err := measureLag(ctx, oconn, tconn, lagWait, sessionOpen)
	if err == nil && !caughtUp {
		err = fmt.Errorf("it is %d bytes and up to %.2f s of commits behind and did not catch up within %s", lag.Bytes, lag.Seconds, lagWait)
	}
	if err == nil {
		// Written out now, the dirty pages do not hold up the shutdown
		// checkpoint while writes are stopped.
		cctx, cancel := context.WithTimeout(ctx, sessionTimeout)
		if cerr := oconn.checkpoint(cctx); cerr != nil {
			err = fmt.Errorf("a checkpoint on primary %s failed: %w", old.cfg.Name, cerr)
		}
		cancel()
	}
	if err != nil {
		oconn.close(context.WithoutCancel(ctx))
		return refuse("%v", err)
	}

	begin := time.Now()
	step := func(kind, msg string) {
		c.log.Info(msg, "elapsed", since(begin))
		c.emit(kind, fmt.Sprintf("%s (+%s)", msg, since(begin)))
	}
	step(EventSwitchover, fmt.Sprintf("switching the primary over from %s to %s (planned: nothing acknowledged is lost); writes stop", old.cfg.Name, target.cfg.Name))
	c.cancelJob(old)
	c.setHeld(old.cfg.Name, true) // not restarted behind the switchover's back
	stopped := time.Now()
	closed := c.leadWriters(route{})
	// Where the old primary's history ends: PostgreSQL writes it in its
	// control file at the shutdown; MariaDB, made read-only first (its
	// sessions killed), has written all it will before it is stopped.
	var end Position
	var lastErr error
	if c.cfg.Database.Engine == "mysql" {
		cctx, cancel := context.WithTimeout(ctx, sessionTimeout)
		if lastErr = oconn.setReadOnly(cctx, true); lastErr == nil {
			end, lastErr = oconn.written(cctx)
		}
		cancel()
	}
	how := old.shutdownThrough(ctx, oconn)
	step(EventWritesStopped, fmt.Sprintf("writes stopped: the writer endpoints lead nowhere (%d connections closed) and primary %s was %s from %s", closed, old.cfg.Name, how, old.cfg.Region))

	err = lastErr
	if err == nil && end.IsZero() {
		var lsn LSN
		if lsn, err = c.shutdownCheckpoint(ctx, old); err == nil {
			end, rep.LSN = LSNPos(lsn), lsn
		}
	}
	if err == nil {
		err = waitReplayed(ctx, tconn, end, switchoverCatchUp, sessionOpen)
	}
	if err != nil {
		return rep, c.abortSwitchover(ctx, old, target, stopped, step, err)
	}
	what := fmt.Sprintf("all of %s's WAL, up to its shutdown checkpoint at %s", old.cfg.Name, end)
	if rep.LSN == 0 {
		what = fmt.Sprintf("every transaction of %s, up to %s", old.cfg.Name, end)
	}
	rep.Position = end.String()
	step(EventCaughtUp, fmt.Sprintf("%s replayed %s", target.cfg.Name, what))

	// The old region, its writes stopped, gives its lease up; the
	// target's takes it at once.
	if err := c.takeLease(ctx, old.cfg.Region, region, true, step); err != nil {
		if rerr := c.takeLease(ctx, region, old.cfg.Region, false, step); rerr != nil {
			err = errors.Join(err, fmt.Errorf("%s could not take its write lease back: %w", old.cfg.Region, rerr))
		}
		return rep, c.abortSwitchover(ctx, old, target, stopped, step, err)
	}
	if err := c.updateState(func(s *State) { *s = s.promoted(target.cfg.Name, c.cfg.Nodes, c.pol.multiAZ, begin) }); err != nil {
		return rep, fmt.Errorf("recording the promotion of %s: %w", target.cfg.Name, err)
	}
	timeline, err := c.promoteServer(ctx, target)
	if err != nil {
		return rep, fmt.Errorf("promoting %s: %w", target.cfg.Name, err)
	}
	c.leadWriters(route{node: target.cfg.Name, addr: target.addrPort()})
	downtime := time.Since(stopped)
	rep.Timeline, rep.WriteDowntimeSeconds = timeline, downtime.Seconds()
	step(EventPromoted, promotedMessage(target.cfg.Name, timeline))
	step(EventEndpointsMoved, fmt.Sprintf("writer endpoints lead to %s; writes were stopped for %s", target.cfg.Name, downtime.Round(time.Millisecond)))

	errs := c.followNewPrimary(ctx, target, old, timeline)
	st = c.snapshot()
	if err := c.rejoinAfterSwitchover(ctx, old); err != nil {
		errs = append(errs, err)
	} else {
		rep.OldPrimaryFollows = true
	}
	rep.Seconds = time.Since(begin).Seconds()
	follows := fmt.Sprintf("%s follows it", old.cfg.Name)
	if !rep.OldPrimaryFollows {
		follows = fmt.Sprintf("%s could not be started as its follower yet", old.cfg.Name)
	}
	step(EventSwitchoverDone, fmt.Sprintf("switchover from %s to %s done in %s: writes stopped for %s, nothing acknowledged lost; %s",
		old.cfg.Name, target.cfg.Name, since(begin), downtime.Round(time.Millisecond), follows))
	if c.standby(st) != "" {
		c.emit(EventSyncLost, fmt.Sprintf("no synchronous standby after the switchover: commits on %s continue without waiting until a standby streams from it", target.cfg.Name))
	}
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("switchover to %s done, writes stopped for %s and nothing acknowledged lost, but: %w", target.cfg.Name, downtime.Round(time.Millisecond), err)
	}
	return rep, nil
}

// switchoverTarget is the node of region a switchover promotes: the
// stack file's primary when it is there and running, else the first
// running follower of region in configuration order; nil if none runs.
func (c *Cluster) switchoverTarget(region string) *node {
	var first *node
	for _, n := range c.nodes {
		if n.cfg.Region != region || !n.running() || n.busy.Load() {
			continue
		}
		if n.cfg.Role == RolePrimary {
			return n
		}
		if first == nil {
			first = n
		}
	}
	return first
}

// followNewPrimary gives the new primary its settings and replication
// slots and re-points the followers it reaches, but for old, which
// starts anew. It returns what failed.
func (c *Cluster) followNewPrimary(ctx context.Context, target, old *node, timeline int) []error {
	var errs []error
	if err := c.updateState(func(s *State) { s.Timeline = timeline }); err != nil {
		errs = append(errs, err)
	}
	st := c.snapshot()
	if err := c.reconfigure(target, st); err != nil {
		errs = append(errs, err)
	}
	if err := c.eng.primaryReady(ctx, c, target, st); err != nil {
		errs = append(errs, fmt.Errorf("replication slots on %s: %w", target.cfg.Name, err))
	}
	unreached := c.unreachedFrom(ctx, target.cfg.Region, old)
	for _, n := range c.nodes {
		if n == target || n == old || slices.Contains(unreached, n.cfg.Name) {
			continue
		}
		if err := c.reconfigure(n, st); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// rejoinAfterSwitchover starts the old primary of a switchover again as
// a follower of the new one. Its WAL ends with the shutdown checkpoint
// that the new primary replayed before its promotion, so it follows the
// new timeline as it is, without its old replication slots; should
// that fail, it is rewound as any fenced node is.
func (c *Cluster) rejoinAfterSwitchover(ctx context.Context, old *node) error {
	name := old.cfg.Name
	err := clearSlots(old.layout, dataName)
	if err == nil {
		err = c.updateState(func(s *State) {
			e := s.Nodes[name]
			e.Fenced = false
			s.Nodes[name] = e
		})
	}
	if err != nil {
		return fmt.Errorf("preparing %s to follow: %w", name, err)
	}
	c.setHeld(name, false)
	err = c.startNode(ctx, old, c.snapshot())
	if err == nil {
		return nil
	}
	c.log.Warn("the old primary did not follow as it was; rewinding it", "node", name, "err", err)
	if ferr := c.updateState(func(s *State) {
		e := s.Nodes[name]
		e.Fenced = true
		s.Nodes[name] = e
	}); ferr != nil {
		return errors.Join(err, ferr)
	}
	if rerr := c.recoverLocked(ctx, old); rerr != nil {
		return fmt.Errorf("starting %s as a follower: %w; then with pg_rewind: %w", name, err, rerr)
	}
	return nil
}

// abortSwitchover gives the writes back to the old primary after the
// target failed to catch up: nothing was promoted, so the old primary
// starts again in its role, with all of its data, and the writer
// endpoints lead to it. It returns the switchover's error.
func (c *Cluster) abortSwitchover(ctx context.Context, old, target *node, stopped time.Time, step func(kind, msg string), cause error) error {
	c.setHeld(old.cfg.Name, false)
	err := c.startNode(ctx, old, c.snapshot())
	if err != nil {
		c.failed(old, "start after an aborted switchover failed: "+err.Error(), false)
		c.wake()
		step(EventSwitchoverAborted, fmt.Sprintf("switchover to %s aborted: %v; primary %s did not start again (%v): the monitor keeps trying", target.cfg.Name, cause, old.cfg.Name, err))
		return fmt.Errorf("switchover to %s aborted: %w; primary %s did not start again: %w", target.cfg.Name, cause, old.cfg.Name, err)
	}
	c.leadWriters(route{node: old.cfg.Name, addr: old.addrPort()})
	downtime := time.Since(stopped).Round(time.Millisecond)
	step(EventSwitchoverAborted, fmt.Sprintf("switchover to %s aborted: %v; %s is the primary again, writes were stopped for %s", target.cfg.Name, cause, old.cfg.Name, downtime))
	return fmt.Errorf("switchover to %s aborted, %s is the primary again (writes stopped for %s): %w", target.cfg.Name, old.cfg.Name, downtime, cause)
}

// shutdownCheckpoint reads, as the stopped node's own agent, where its
// WAL ends: the location of the shutdown checkpoint in its control file.
func (c *Cluster) shutdownCheckpoint(ctx context.Context, n *node) (LSN, error) {
	out, err := c.toolOutput(ctx, n, c.tool("pg_controldata"), "-D", n.layout.dataDir)
	if err != nil {
		return 0, fmt.Errorf("reading the control file of %s (pg_controldata): %w", n.cfg.Name, err)
	}
	lsn, err := parseShutdownCheckpoint(out)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", n.cfg.Name, err)
	}
	return lsn, nil
}

// parseShutdownCheckpoint reads pg_controldata's output for a server
// that shut down cleanly and returns its latest checkpoint's location,
// the last record of its WAL.
func parseShutdownCheckpoint(out string) (LSN, error) {
	state, loc := "", ""
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(line, "Database cluster state:"); ok {
			state = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "Latest checkpoint location:"); ok {
			loc = strings.TrimSpace(v)
		}
	}
	if state != "shut down" {
		return 0, fmt.Errorf("it did not shut down cleanly (its control file says %q), so where its WAL ends is unknown", state)
	}
	lsn, err := parseLSN(loc)
	if err != nil {
		return 0, fmt.Errorf("its control file has no checkpoint location: %w", err)
	}
	return lsn, nil
}

// waitReplayed waits up to limit for the follower of sess to replay the
// old primary's last record at end: past a WAL location (the shutdown
// checkpoint record itself), or covering a GTID position. Each query is
// bounded by timeout.
func waitReplayed(ctx context.Context, sess session, end Position, limit, timeout time.Duration) error {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		replayed, _, err := replayedWithin(ctx, sess, timeout)
		if err != nil {
			return err
		}
		if replayed.Past(end) || end.kind == posGTID && replayed.Covers(end) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the target replayed up to %s, not past the old primary's last record at %s, within %s", replayed, end, limit)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-tick.C:
		}
	}
}
