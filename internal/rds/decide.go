package rds

import (
	"fmt"
	"time"
)

// This file is the decider: pure functions from the state document and
// what a monitor pass observed to the actions the node agent carries out.
// Nothing here touches a process, a file or the clock.

// observation is what one monitor pass saw of every node.
type observation struct {
	At    time.Time
	Nodes map[string]nodeObs
}

// nodeObs is what a pass saw of one node.
type nodeObs struct {
	// Running: its server process is alive.
	Running bool
	// Busy: the agent is rebuilding it; the decider leaves it alone.
	Busy bool
	// Reachable: it answered a query within the probe timeout.
	Reachable  bool
	InRecovery bool
	// LSN is the current WAL position of a primary, the replay position of
	// a follower.
	LSN LSN
	// Timeline of a primary.
	Timeline int
	// SyncNames is the synchronous_standby_names in effect.
	SyncNames string
	// Replicas is a primary's pg_stat_replication, by application_name.
	Replicas map[string]replicaObs
}

// replicaObs is one row of a primary's pg_stat_replication.
type replicaObs struct {
	State      string // "streaming", "catchup", "startup", ...
	SyncState  string // "sync", "async", "potential", ...
	Flush      LSN
	LagBytes   int64
	LagSeconds float64
}

// writable reports a node that answers as a primary.
func (o nodeObs) writable() bool { return o.Reachable && !o.InRecovery }

// timers remember since when conditions have held, from pass to pass.
type timers struct {
	// primary is the node the timers were started for; a promotion resets them.
	primary string
	// primaryDown is since when the primary has not answered as one.
	primaryDown time.Time
	// detached is since when a running follower has been missing from the
	// primary's pg_stat_replication.
	detached map[string]time.Time
	// notStreaming is since when a running follower has not been streaming.
	notStreaming map[string]time.Time
}

// updated returns the timers after a pass that saw obs at now.
func (t timers) updated(st State, obs observation, now time.Time) timers {
	next := timers{primary: st.Primary, detached: map[string]time.Time{}, notStreaming: map[string]time.Time{}}
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
	since := func(prev map[string]time.Time, name string) time.Time {
		if s, ok := prev[name]; ok {
			return s
		}
		return now
	}
	for name := range st.Nodes {
		o := obs.Nodes[name]
		if name == st.Primary || !o.Running || o.Busy {
			continue
		}
		r, attached := prim.Replicas[slotName(name)]
		if !attached {
			next.detached[name] = since(t.detached, name)
		}
		if !attached || r.State != "streaming" {
			next.notStreaming[name] = since(t.notStreaming, name)
		}
	}
	return next
}

// policy is what the decider needs of the configuration.
type policy struct {
	multiAZ bool
	// detection is how long the primary may be unreachable before the
	// standby is promoted, and the standby detached before commits stop
	// waiting for it.
	detection time.Duration
	// rejoinAfter is how long a running follower may stay detached from
	// the primary before it is rebuilt.
	rejoinAfter time.Duration
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
	// actRejoin rebuilds node as a follower of the primary.
	actRejoin
	// actBlocked reports that the primary is lost and nothing may replace it.
	actBlocked
)

// action is one thing the agent is to do.
type action struct {
	kind   actionKind
	node   string
	lsn    LSN
	reason string
}

func (a action) String() string {
	names := map[actionKind]string{actPromote: "promote", actSetSync: "set-sync", actSyncFrom: "sync-from",
		actSyncComplete: "sync-complete", actRejoin: "rejoin", actBlocked: "blocked"}
	s := names[a.kind] + "(" + a.node
	if a.lsn != 0 {
		s += " " + a.lsn.String()
	}
	return s + ")"
}

// decide returns what to do after a pass: fail over from a lost primary to
// a standby holding every acknowledged commit, keep synchronous
// replication pointed at a standby that streams (and off while none
// does, so commits continue), and rebuild followers that cannot follow.
func decide(st State, obs observation, t timers, now time.Time, p policy) []action {
	prim := obs.Nodes[st.Primary]
	if !prim.writable() {
		return decideLostPrimary(st, obs, t, now, p)
	}
	acts := decideSync(st, obs, t, now, p)
	for _, name := range sortedNames(st.Nodes) {
		o := obs.Nodes[name]
		if name == st.Primary || !o.Running || o.Busy {
			continue
		}
		if s, ok := t.detached[name]; ok && now.Sub(s) >= p.rejoinAfter {
			acts = append(acts, action{kind: actRejoin, node: name,
				reason: fmt.Sprintf("not replicating from %s for %s", st.Primary, now.Sub(s).Round(time.Millisecond))})
		}
	}
	return acts
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
	case !t.primaryDown.IsZero() && now.Sub(t.primaryDown) >= p.detection:
		reason = fmt.Sprintf("unreachable for %s", now.Sub(t.primaryDown).Round(time.Millisecond))
	default:
		return nil // not yet
	}
	if !p.multiAZ {
		return nil // only cross-region promotion can help; it is not decided here
	}
	cand := st.Sync.Standby
	switch c := obs.Nodes[cand]; {
	case cand == "" || !st.Sync.Complete:
		return []action{{kind: actBlocked, node: st.Primary, reason: reason + "; no standby holds every acknowledged commit"}}
	case !c.Running || !c.Reachable || c.Busy || !c.InRecovery:
		return []action{{kind: actBlocked, node: st.Primary, reason: reason + "; standby " + cand + " is not available"}}
	}
	return []action{{kind: actPromote, node: cand, reason: fmt.Sprintf("primary %s lost: %s", st.Primary, reason)}}
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
	r, attached := prim.Replicas[slotName(standby)]
	streaming := standby != "" && attached && r.State == "streaming" && obs.Nodes[standby].Running && !obs.Nodes[standby].Busy
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
	case r.SyncState == "sync" && st.Sync.FromLSN == 0:
		acts = append(acts, action{kind: actSyncFrom, node: standby, lsn: prim.LSN})
	case r.SyncState == "sync" && !st.Sync.Complete && r.Flush >= st.Sync.FromLSN:
		acts = append(acts, action{kind: actSyncComplete, node: standby})
	}
	if len(acts) == 0 && prim.SyncNames != syncNames(st.Sync.Standby) {
		acts = append(acts, action{kind: actSetSync, node: st.Sync.Standby, reason: "the primary's setting differs from the cluster state"})
	}
	return acts
}

// syncNames is the primary's synchronous_standby_names for standby.
func syncNames(standby string) string {
	if standby == "" {
		return ""
	}
	return `"` + slotName(standby) + `"`
}

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
// streaming from it; else the primary.
func readerFor(region string, st State, obs observation, nodes []NodeConfig) string {
	prim := obs.Nodes[st.Primary]
	for _, n := range nodes {
		o := obs.Nodes[n.Name]
		if n.Region != region || st.Nodes[n.Name].Role != RoleReplica || !o.Reachable || !o.InRecovery || o.Busy {
			continue
		}
		if r, ok := prim.Replicas[slotName(n.Name)]; ok && r.State == "streaming" || !prim.writable() {
			return n.Name
		}
	}
	return st.Primary
}
