package rds

import (
	"fmt"
	"time"
)

// This file is the decider: pure functions from the state document and
// what a monitor pass observed to the actions the node agent carries out.
// Nothing here touches a process, a file or the clock.

// observation is what one monitor pass saw of every node, each from
// the control address of its own region, and of the primary from the
// other regions.
type observation struct {
	At    time.Time
	Nodes map[string]nodeObs
	// Unreached names the regions, other than the primary's, from whose
	// control address no connection to the primary opened.
	Unreached map[string]bool
	// Copying: a follower is being made, rewound or rejoined from the
	// primary, which then reads and sends its data and may answer probes
	// slowly.
	Copying bool
	// cannotFollow is, by node, why a follower's server reported that
	// it cannot catch up, where the engine says so in its replication
	// status rather than its log (MariaDB); remember takes it in.
	cannotFollow map[string]string
}

// busyPrimaryGrace multiplies the detection time of a primary that does
// not answer while a follower is being copied or rewound from it: a
// primary that is alive but busy serving the copy (a checkpoint, its
// data read out) is not failed over for a stall of a few seconds on a
// loaded machine (a full test run saw 4.2 s during a base backup, and
// the spurious failover cascaded). One whose server stopped is failed
// over as soon as ever.
const busyPrimaryGrace = 5

// nodeObs is what a pass saw of one node, and what the agent remembers
// of it (faults, exits, rebuilds).
type nodeObs struct {
	// Running: its server process is alive.
	Running bool
	// Busy: the agent is restarting or rebuilding it; the decider leaves
	// it alone.
	Busy bool
	// Reachable: it answered a query within the probe timeout.
	Reachable bool
	// Unanswered is why a running node was not reachable: the error of
	// the probe's connection, login or query.
	Unanswered string
	InRecovery bool
	// Pos is how far a primary has written, how far a follower has
	// replayed.
	Pos Position
	// Timeline of a primary.
	Timeline int
	// SyncDrifted: a primary's commits wait for other followers than the
	// cluster state says.
	SyncDrifted bool
	// Replicas are the followers a primary serves, by node name.
	Replicas map[string]replicaObs
	// Drifted: a running follower streams from somewhere else than the
	// cluster state says (its primary_conninfo, or where its relay
	// leads, differs).
	Drifted bool
	// PrimaryUnreachable: the node's region does not reach the primary
	// over the network (a partition): nothing that needs the primary (a
	// rebuild) or that would tell the node about it (settings pointing
	// at it) is done until it does.
	PrimaryUnreachable bool

	// Held: stopped by a fault or on request; it stays down until it is
	// recovered.
	Held bool
	// Empty: not running, and without a complete copy of the data: a
	// spare that became a standby, to be made from the primary.
	Empty bool
	// Failures counts, in a row, the times its server stopped on its own
	// or failed to start again; LastFailure is when the last one was.
	Failures    int
	LastFailure time.Time
	// CannotFollow is why, as its server reported, it cannot catch up
	// with the primary by replaying what it writes ("" while it can).
	CannotFollow string
	// Copy: only a new copy of the data can help, not a rewind.
	Copy bool
	// RebuildFailures counts the failed rebuilds in a row; LastRebuild is
	// when the last one ended.
	RebuildFailures int
	LastRebuild     time.Time
}

// replStreaming is a follower's state once it has caught up and streams.
const replStreaming = "streaming"

// replicaObs is what a primary reports of one follower it serves.
type replicaObs struct {
	// State is replStreaming once the follower has caught up and streams,
	// else the engine's word for where it is ("catchup", "startup", ...).
	State string
	// Sync: the primary's commits wait for this follower.
	Sync bool
	// Flushed is how far the follower has made durable what it received.
	Flushed    Position
	LagBytes   int64
	LagSeconds float64
	// LagTransactions counts the transactions the follower has yet to
	// apply, where the engine numbers them (MariaDB's GTIDs).
	LagTransactions int64
	// ReplyAge is how long ago the follower last reported its position.
	ReplyAge time.Duration
}

// writable reports a node that answers as a primary.
func (o nodeObs) writable() bool { return o.Reachable && !o.InRecovery }

// streams reports a follower that streams and still reports back: one
// whose connection hangs (a network cut) stops counting after the
// reply timeout, although the primary still lists it as streaming.
func (r replicaObs) streams(p policy) bool {
	return r.State == replStreaming && r.ReplyAge < p.replyTimeout
}

// timers remember since when conditions have held, from pass to pass.
type timers struct {
	// primary is the node the timers were started for; a promotion resets them.
	primary string
	// primaryDown is since when the primary has not answered as one.
	primaryDown time.Time
	// notStreaming is since when a running follower has not been streaming.
	notStreaming map[string]time.Time
}

// updated returns the timers after a pass that saw obs at now.
func (t timers) updated(st State, obs observation, now time.Time, p policy) timers {
	next := timers{primary: st.Primary, notStreaming: map[string]time.Time{}}
	if t.primary != st.Primary {
		t = timers{}
	}
	prim := obs.Nodes[st.Primary]
	if !prim.writable() {
		next.primaryDown = t.primaryDown
		if next.primaryDown.IsZero() {
			next.primaryDown = now
		}
		return next // followers cannot be judged without the primary
	}
	for name := range st.Nodes {
		o := obs.Nodes[name]
		if name == st.Primary || !o.Running || o.Busy {
			continue
		}
		if r, attached := prim.Replicas[name]; !attached || !r.streams(p) {
			if s, ok := t.notStreaming[name]; ok {
				next.notStreaming[name] = s
			} else {
				next.notStreaming[name] = now
			}
		}
	}
	return next
}

// policy is what the decider needs of the configuration.
type policy struct {
	multiAZ bool
	// detection is how long the primary may be unreachable before the
	// standby is promoted, and the standby not streaming before commits
	// stop waiting for it.
	detection time.Duration
	// replyTimeout is how long a follower may go without reporting its
	// position before it no longer counts as streaming.
	replyTimeout time.Duration
	// crossRegionSync: commits also wait for a replica in another region
	// (cross_region_commit = "sync").
	crossRegionSync bool
}

// Restarts and rebuilds are retried with backoff.
const (
	restartBackoff    = 250 * time.Millisecond // before the first restart, doubled after each failure
	restartBackoffMax = 30 * time.Second
	rebuildBackoff    = time.Second // before the second attempt, doubled after each failure
	rebuildBackoffMax = 30 * time.Second
	// crashLoopAfter failures in a row make a crash loop.
	crashLoopAfter = 3
	// stableAfter is how long a server must run for its failures to be
	// forgotten.
	stableAfter = 10 * time.Second
)

// restartDelay is how long to wait after the last of failures (at least
// one) before starting a server again.
func restartDelay(failures int) time.Duration {
	return backoff(restartBackoff, restartBackoffMax, max(failures, 1)-1)
}

// rebuildDelay is how long to wait after failures failed rebuilds before
// the next attempt; the first is at once.
func rebuildDelay(failures int) time.Duration {
	if failures == 0 {
		return 0
	}
	return backoff(rebuildBackoff, rebuildBackoffMax, failures-1)
}

func backoff(base, limit time.Duration, doublings int) time.Duration {
	d := base
	for range doublings {
		if d >= limit/2 {
			return limit
		}
		d *= 2
	}
	return min(d, limit)
}

// restartDue reports a node whose server stopped on its own and whose
// backoff is over.
func (o nodeObs) restartDue(now time.Time) bool {
	return !o.Running && !o.Busy && !o.Held && !now.Before(o.LastFailure.Add(restartDelay(o.Failures)))
}

type actionKind int

const (
	// actPromote promotes node, fencing the old primary (or finishes an
	// interrupted promotion of the recorded primary).
	actPromote actionKind = iota + 1
	// actSetSync makes the primary's commits wait for node ("": for none).
	actSetSync
	// actSyncFrom records lsn as the position the standby must pass.
	actSyncFrom
	// actSyncComplete records that the standby holds every acknowledged commit.
	actSyncComplete
	// actRestart starts node again in its role, after it stopped on its own.
	actRestart
	// actRebuild gives node a new copy of the data (a rewind first,
	// unless fresh) and starts it as a follower of the primary.
	actRebuild
	// actReconfigure writes node's settings again and reloads them.
	actReconfigure
	// actBlocked reports that the primary is lost and nothing may replace it.
	actBlocked
	// actCreate makes node, which has no data yet (a spare turned
	// standby), with a base backup of the primary and starts it.
	actCreate
	// actRetire stops a spare that still runs and removes its data.
	actRetire
	// actSetCrossRegion makes the primary's commits also wait for node, a
	// replica in another region.
	actSetCrossRegion
	// actRejoin stops node, a former primary that a promotion could not
	// reach and that still runs as one, and starts it as a follower of the
	// primary (a rewind, or a new copy).
	actRejoin
)

// action is one thing the agent is to do.
type action struct {
	kind   actionKind
	node   string
	pos    Position
	fresh  bool
	reason string
}

func (a action) String() string {
	names := map[actionKind]string{actPromote: "promote", actSetSync: "set-sync", actSyncFrom: "sync-from",
		actSyncComplete: "sync-complete", actRestart: "restart", actRebuild: "rebuild", actReconfigure: "reconfigure", actBlocked: "blocked",
		actCreate: "create", actRetire: "retire", actSetCrossRegion: "set-cross-region", actRejoin: "rejoin"}
	name := names[a.kind]
	if a.kind == actRebuild && a.fresh {
		name = "copy"
	}
	s := name + "(" + a.node
	if !a.pos.IsZero() {
		s += " " + a.pos.String()
	}
	return s + ")"
}

// decide returns what to do after a pass: fail over from a lost primary to
// a standby holding every acknowledged commit, keep synchronous
// replication pointed at a standby that streams (and off while none
// does, so commits continue), restart servers that stopped on their own,
// and rebuild a follower only when it cannot catch up by itself.
func decide(st State, obs observation, t timers, now time.Time, p policy) []action {
	prim := obs.Nodes[st.Primary]
	if !prim.writable() {
		acts := decideLostPrimary(st, obs, t, now, p)
		for _, a := range acts {
			if a.kind == actPromote {
				return acts // the followers are judged against the new primary
			}
		}
		return append(acts, decideFollowers(st, obs, now, false)...)
	}
	return append(decideSync(st, obs, t, now, p), decideFollowers(st, obs, now, true)...)
}

func decideLostPrimary(st State, obs observation, t timers, now time.Time, p policy) []action {
	prim := obs.Nodes[st.Primary]
	if prim.Busy {
		return nil
	}
	if prim.Reachable && prim.InRecovery {
		// A promotion was recorded but not finished.
		return []action{{kind: actPromote, node: st.Primary, reason: "finishing the recorded promotion"}}
	}
	var reason string
	switch {
	case !prim.Running:
		reason = "its server is not running"
	case !t.primaryDown.IsZero() && now.Sub(t.primaryDown) >= detectionOf(obs, p):
		reason = fmt.Sprintf("unreachable for %s", now.Sub(t.primaryDown).Round(time.Millisecond))
		if prim.Unanswered != "" {
			reason += " (" + prim.Unanswered + ")"
		}
	default:
		return nil // not yet
	}
	var acts []action
	if p.multiAZ {
		cand := st.Sync.Standby
		switch c := obs.Nodes[cand]; {
		case cand == "" || !st.Sync.Complete:
			acts = append(acts, action{kind: actBlocked, node: st.Primary, reason: reason + "; no standby holds every acknowledged commit"})
		case !c.Running || !c.Reachable || c.Busy || !c.InRecovery:
			acts = append(acts, action{kind: actBlocked, node: st.Primary, reason: reason + "; standby " + cand + " is not available"})
		default:
			return []action{{kind: actPromote, node: cand, reason: fmt.Sprintf("primary %s lost: %s", st.Primary, reason)}}
		}
	}
	// Nothing may replace it: a primary that stopped on its own comes
	// back itself, as a single-AZ RDS instance does.
	if prim.restartDue(now) {
		acts = append(acts, action{kind: actRestart, node: st.Primary, reason: "primary " + st.Primary + " stopped on its own"})
	}
	return acts
}

// strayed tells which followers the state must mark as strayed: those
// a former primary still running (fenced, it answers as a primary)
// reports streaming from it. Those the primary reports streaming are
// back, when marked.
func strayed(st State, obs observation, p policy) (marked, back []string) {
	from := map[string]bool{} // follower -> seen on a former primary
	for name, o := range obs.Nodes {
		if name == st.Primary || !st.Nodes[name].Fenced || !o.writable() {
			continue
		}
		for f, r := range o.Replicas {
			if r.streams(p) {
				from[f] = true
			}
		}
	}
	prim := obs.Nodes[st.Primary]
	for _, name := range sortedNames(st.Nodes) {
		ns := st.Nodes[name]
		r, onPrimary := prim.Replicas[name]
		switch {
		case from[name] && !ns.Strayed:
			marked = append(marked, name)
		case ns.Strayed && !from[name] && onPrimary && prim.writable() && r.streams(p):
			back = append(back, name)
		}
	}
	return marked, back
}

// probeTimeout bounds the monitor's probe of a node that has lately
// taken answerTime to answer: four times that, as TCP bounds its
// retransmissions by the round trips it measured, never less than the
// configured probe time nor more than the detection time. A node that
// has grown slow to answer on a loaded machine (forking a backend may
// take a second) is not taken for gone; one that stops answering is
// declared lost as fast as ever, since only answers move the bound.
func probeTimeout(answerTime, probe, detection time.Duration) time.Duration {
	return max(probe, min(4*answerTime, detection))
}

// nextAnswerTime folds a probe's answer time into the smoothed one, as
// TCP's SRTT does (a gain of 1/8; the first sample is taken whole).
func nextAnswerTime(prev, sample time.Duration) time.Duration {
	if prev == 0 {
		return sample
	}
	return prev + (sample-prev)/8
}

// detectionOf is how long the primary may go unanswered before it is
// lost: the configured detection, longer while a follower is copied
// from it.
func detectionOf(obs observation, p policy) time.Duration {
	if obs.Copying {
		return busyPrimaryGrace * p.detection
	}
	return p.detection
}

// decideFollowers retires spares that run (their region no longer holds
// the primary), makes the nodes that have no data yet (a spare turned
// standby), rejoins former primaries left running, restarts followers
// that stopped on their own, rebuilds those whose server reported that
// it cannot catch up, and corrects settings that drifted; making,
// rejoining, rebuilding and correcting only while the primary can serve
// and the follower's region reaches it. A
// follower that merely does not stream (its primary is unreachable, or
// a network cut) is left to reconnect by itself.
func decideFollowers(st State, obs observation, now time.Time, primaryUp bool) []action {
	var acts []action
	for _, name := range sortedNames(st.Nodes) {
		o := obs.Nodes[name]
		if name == st.Primary || o.Busy || o.Held {
			continue
		}
		switch {
		case st.Nodes[name].Role == RoleSpare:
			if o.Running {
				acts = append(acts, action{kind: actRetire, node: name, reason: "the primary left its region"})
			}
		case !o.Running && o.Empty:
			if primaryUp && !o.PrimaryUnreachable {
				acts = append(acts, action{kind: actCreate, node: name, reason: fmt.Sprintf("%s of primary %s", st.Nodes[name].Role, st.Primary)})
			}
		case st.Nodes[name].Fenced && o.Running && !o.InRecovery:
			// Lifting a cut rejoins it at once; this is the retry when that
			// attempt failed (a probe timed out under load, another cut was
			// still in place), with the rebuild's backoff.
			if primaryUp && !o.PrimaryUnreachable && !now.Before(o.LastRebuild.Add(rebuildDelay(o.RebuildFailures))) {
				acts = append(acts, action{kind: actRejoin, node: name, reason: "former primary " + name + " still runs as a primary and its region reaches primary " + st.Primary})
			}
		case o.CannotFollow != "":
			if primaryUp && !o.PrimaryUnreachable && !now.Before(o.LastRebuild.Add(rebuildDelay(o.RebuildFailures))) {
				acts = append(acts, action{kind: actRebuild, node: name, fresh: o.Copy, reason: o.CannotFollow})
			}
		case !o.Running:
			if o.restartDue(now) {
				acts = append(acts, action{kind: actRestart, node: name, reason: name + " stopped on its own"})
			}
		case o.Drifted && !o.PrimaryUnreachable:
			acts = append(acts, action{kind: actReconfigure, node: name, reason: "its settings differ from the cluster state"})
		}
	}
	return acts
}

// decideSync keeps the document's synchronous standby, and the primary's
// setting, in line with what streams.
func decideSync(st State, obs observation, t timers, now time.Time, p policy) []action {
	prim := obs.Nodes[st.Primary]
	standby := ""
	if p.multiAZ {
		for name, ns := range st.Nodes {
			if ns.Role == RoleStandby {
				standby = name
			}
		}
	}
	r, attached := prim.Replicas[standby]
	streaming := standby != "" && attached && r.streams(p) && obs.Nodes[standby].Running && !obs.Nodes[standby].Busy
	var acts []action
	switch {
	case st.Sync.Standby != standby && streaming:
		acts = append(acts, action{kind: actSetSync, node: standby, reason: "standby " + standby + " is streaming"})
	case st.Sync.Standby != standby && st.Sync.Standby != "":
		acts = append(acts, action{kind: actSetSync, node: "", reason: st.Sync.Standby + " is no longer the standby"})
	case st.Sync.Standby == "":
	case !streaming:
		if s, ok := t.notStreaming[standby]; !ok || now.Sub(s) >= p.detection {
			acts = append(acts, action{kind: actSetSync, node: "",
				reason: fmt.Sprintf("standby %s has not been streaming for %s", standby, p.detection)})
		}
	case r.Sync && st.Sync.From.IsZero():
		if !prim.Pos.IsZero() {
			acts = append(acts, action{kind: actSyncFrom, node: standby, pos: prim.Pos})
		}
	case r.Sync && !st.Sync.Complete && r.Flushed.Covers(st.Sync.From):
		acts = append(acts, action{kind: actSyncComplete, node: standby})
	}
	if len(acts) == 0 && p.crossRegionSync && st.Sync.CrossRegion == "" {
		// The first replica that streams; any replica is in another
		// region than the primary (a node there is its standby or spare).
		for _, name := range sortedNames(st.Nodes) {
			r, attached := prim.Replicas[name]
			if st.Nodes[name].Role == RoleReplica && attached && r.streams(p) && obs.Nodes[name].Running && !obs.Nodes[name].Busy {
				acts = append(acts, action{kind: actSetCrossRegion, node: name, reason: "replica " + name + " is streaming"})
				break
			}
		}
	}
	if len(acts) == 0 && prim.SyncDrifted {
		acts = append(acts, action{kind: actSetSync, node: st.Sync.Standby, reason: "the primary's setting differs from the cluster state"})
	}
	return acts
}

// health is what the agent remembers of a node between passes.
type health struct {
	held            bool
	failures        int
	lastFailure     time.Time
	lastExit        string // how the server last stopped on its own
	lastExitAt      time.Time
	restarts        int
	upSince         time.Time // when the server last became ready
	loopReported    bool
	cannotFollow    string
	copy            bool
	rebuildFailures int
	lastRebuild     time.Time
	// rebuilt: rebuilt since the node last streamed; if it still cannot
	// follow, only a copy will do.
	rebuilt bool
	job     string // "restart", "rebuild", "create" or "rejoin" while one runs
}

// settled forgets what a node got over: its failures once its server
// has run for stableAfter, its rebuilds once it streams.
func (h health) settled(running, streaming bool, now time.Time) health {
	if running && !h.upSince.IsZero() && now.Sub(h.upSince) >= stableAfter {
		h.failures, h.loopReported = 0, false
	}
	if streaming {
		h.cannotFollow, h.copy, h.rebuildFailures, h.rebuilt = "", false, 0, false
	}
	return h
}

// cannot records a server's report that it cannot follow; after a
// rebuild that did not help, only a copy will.
func (h health) cannot(reason string, needCopy bool) health {
	if h.cannotFollow == "" {
		h.cannotFollow, h.copy = reason, needCopy || h.rebuilt
	}
	return h
}

// crashLoop reports a node that keeps stopping on its own.
func (h health) crashLoop() bool { return h.failures >= crashLoopAfter }

// regionInput is what the region-failover decision looks at.
type regionInput struct {
	Automatic bool
	// RegionLost: DNS has failed over away from the primary's region.
	RegionLost bool
	// PrimaryUp: the primary answered as one at the last pass.
	PrimaryUp bool
	// Since is when RegionLost && !PrimaryUp became true (zero: not true).
	Since time.Time
	Now   time.Time
	After time.Duration
}

// regionDecision is the region-failover decision.
type regionDecision struct {
	// Since carries the start of the loss to the next decision.
	Since time.Time
	// Promote: promote a replica in another region now.
	Promote bool
	// Lost: the region has been lost for After (reported once by the
	// caller, also when failover is manual).
	Lost bool
}

// decideRegion promotes a replica once the primary's region has been lost
// (DNS failed over and the primary unreachable) for After, and only with
// automatic cross-region failover.
func decideRegion(in regionInput) regionDecision {
	if !in.RegionLost || in.PrimaryUp {
		return regionDecision{}
	}
	since := in.Since
	if since.IsZero() {
		since = in.Now
	}
	lost := in.Now.Sub(since) >= in.After
	return regionDecision{Since: since, Lost: lost, Promote: lost && in.Automatic}
}

// readerFor names the node the reader endpoint of region leads to: the
// first replica there that is running and, while the primary can tell,
// streaming from it; else the primary. A replica that region can reach
// while the primary cannot be reached from there (a region cut off from
// the primary's) keeps serving its reads, stale as they may be, as a
// cross-region read replica on AWS does: the primary would not answer.
func readerFor(region string, st State, obs observation, nodes []NodeConfig) string {
	prim := obs.Nodes[st.Primary]
	for _, n := range nodes {
		o := obs.Nodes[n.Name]
		if n.Region != region || st.Nodes[n.Name].Role != RoleReplica || !o.Reachable || !o.InRecovery || o.Busy {
			continue
		}
		if r, ok := prim.Replicas[n.Name]; ok && r.State == replStreaming || !prim.writable() || obs.Unreached[region] {
			return n.Name
		}
	}
	return st.Primary
}
