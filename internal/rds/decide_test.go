package rds

import (
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// Three nodes: primary a (region east), standby b (east), replica c (west).
var decideNodes = []NodeConfig{
	{Name: "a", Region: "east", Role: RolePrimary, Addr: netip.MustParseAddr("127.0.0.5")},
	{Name: "b", Region: "east", Role: RoleStandby, Addr: netip.MustParseAddr("127.0.0.15")},
	{Name: "c", Region: "west", Role: RoleReplica, Addr: netip.MustParseAddr("127.0.0.25")},
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func TestDecide(t *testing.T) {
	pol := policy{multiAZ: true, detection: time.Second, replyTimeout: 2 * time.Second}
	syncOK := Sync{Standby: "b", From: LSNPos(100), Complete: true}
	state := func(s Sync) State {
		st := newState(decideNodes, true)
		st.Sync = s
		return st
	}
	// syncDrifted: its commits wait for other followers than the state says.
	primary := func(replicas map[string]replicaObs, syncDrifted bool) nodeObs {
		return nodeObs{Running: true, Reachable: true, Pos: LSNPos(500), SyncDrifted: syncDrifted, Replicas: replicas}
	}
	follower := nodeObs{Running: true, Reachable: true, InRecovery: true, Pos: LSNPos(480)}
	streams := map[string]replicaObs{
		"b": {State: "streaming", Sync: true, Flushed: LSNPos(500), ReplyAge: 300 * time.Millisecond},
		"c": {State: "streaming", Flushed: LSNPos(450)},
	}
	healthy := map[string]nodeObs{"a": primary(streams, false), "b": follower, "c": follower}
	with := func(base map[string]nodeObs, name string, o nodeObs) map[string]nodeObs {
		m := maps.Clone(base)
		m[name] = o
		return m
	}
	without := func(m map[string]replicaObs, name string) map[string]replicaObs {
		out := maps.Clone(m)
		delete(out, name)
		return out
	}
	crashed := func(failures int, ago time.Duration) nodeObs {
		return nodeObs{Failures: failures, LastFailure: t0.Add(-ago)}
	}
	cannot := func(o nodeObs, needCopy bool, failures int, ago time.Duration) nodeObs {
		o.CannotFollow, o.Copy, o.RebuildFailures, o.LastRebuild = "diverged", needCopy, failures, t0.Add(-ago)
		return o
	}
	held := nodeObs{Held: true, Failures: 1, LastFailure: t0.Add(-time.Hour)}
	drifted := follower
	drifted.Drifted = true
	cutOff := func(o nodeObs) nodeObs {
		o.PrimaryUnreachable = true
		return o
	}
	// c, a former primary that a promotion to a could not reach, still
	// runs as a primary.
	staleC := state(syncOK)
	staleC.Nodes["c"] = NodeState{Role: RoleReplica, Fenced: true}
	stalePrimary := nodeObs{Running: true, Reachable: true, Pos: LSNPos(700)}
	rejoinFailed := func(o nodeObs, failures int, ago time.Duration) nodeObs {
		o.RebuildFailures, o.LastRebuild = failures, t0.Add(-ago)
		return o
	}
	tests := []struct {
		name   string
		st     State
		nodes  map[string]nodeObs
		timers timers
		pol    policy
		want   []string
	}{
		{"healthy cluster", state(syncOK), healthy, timers{}, pol, nil},
		{"dead primary: promote the complete standby", state(syncOK),
			with(healthy, "a", crashed(1, 0)), timers{}, pol, []string{"promote(b)"}},
		{"dead primary, standby not yet complete: blocked, and the primary restarted after its backoff", state(Sync{Standby: "b", From: LSNPos(100)}),
			with(healthy, "a", crashed(1, 250*time.Millisecond)), timers{}, pol, []string{"blocked(a)", "restart(a)"}},
		{"dead primary, no synchronous standby: blocked, restart not yet due", state(Sync{}),
			with(healthy, "a", crashed(1, 100*time.Millisecond)), timers{}, pol, []string{"blocked(a)"}},
		{"killed primary (a fault), no standby available: blocked, no restart", state(syncOK),
			with(with(healthy, "a", held), "b", held), timers{}, pol, []string{"blocked(a)"}},
		{"killed primary (a fault) with a complete standby: promote", state(syncOK),
			with(healthy, "a", held), timers{}, pol, []string{"promote(b)"}},
		{"dead primary without Multi-AZ: restarted", state(syncOK),
			with(healthy, "a", crashed(1, time.Second)), timers{}, policy{detection: time.Second}, []string{"restart(a)"}},
		{"dead primary without Multi-AZ, crash loop: backoff", state(syncOK),
			with(healthy, "a", crashed(4, time.Second)), timers{}, policy{detection: time.Second}, nil},
		{"unreachable primary, not for long", state(syncOK),
			with(healthy, "a", nodeObs{Running: true}), timers{primary: "a", primaryDown: t0.Add(-500 * time.Millisecond)}, pol, nil},
		{"unreachable primary for the detection time", state(syncOK),
			with(healthy, "a", nodeObs{Running: true}), timers{primary: "a", primaryDown: t0.Add(-time.Second)}, pol, []string{"promote(b)"}},

		{"primary being restarted is left alone", state(syncOK),
			with(healthy, "a", nodeObs{Running: true, Busy: true}), timers{primary: "a", primaryDown: t0.Add(-time.Hour)}, pol, nil},
		{"recorded primary still in recovery: finish the promotion", state(syncOK),
			with(healthy, "a", follower), timers{}, pol, []string{"promote(a)"}},
		{"standby streams: make it synchronous", state(Sync{}),
			with(healthy, "a", primary(streams, false)), timers{}, pol, []string{"set-sync(b)"}},
		{"standby in catch-up: not yet", state(Sync{}),
			with(healthy, "a", primary(with2(streams, "b", replicaObs{State: "catchup"}), false)), timers{}, pol, nil},
		{"standby listed as streaming but silent: not yet", state(Sync{}),
			with(healthy, "a", primary(with2(streams, "b", replicaObs{State: "streaming", ReplyAge: 5 * time.Second}), false)), timers{}, pol, nil},
		{"synchronous: record where it started", state(Sync{Standby: "b"}),
			healthy, timers{}, pol, []string{"sync-from(b 0/1F4)"}},
		{"synchronous and past the start: complete", state(Sync{Standby: "b", From: LSNPos(450)}),
			healthy, timers{}, pol, []string{"sync-complete(b)"}},
		{"synchronous but behind the start: wait", state(Sync{Standby: "b", From: LSNPos(600)}),
			healthy, timers{}, pol, nil},
		{"standby down: commits stop waiting at once, and it is restarted", state(syncOK),
			with(with(healthy, "b", crashed(1, time.Second)), "a", primary(without(streams, "b"), false)), timers{}, pol, []string{"set-sync()", "restart(b)"}},
		{"standby not streaming, briefly: keep waiting", state(syncOK),
			with(healthy, "a", primary(without(streams, "b"), false)),
			timers{primary: "a", notStreaming: map[string]time.Time{"b": t0.Add(-300 * time.Millisecond)}}, pol, nil},
		{"standby not streaming for the detection time: stop waiting", state(syncOK),
			with(healthy, "a", primary(without(streams, "b"), false)),
			timers{primary: "a", notStreaming: map[string]time.Time{"b": t0.Add(-time.Second)}}, pol, []string{"set-sync()"}},
		{"standby silent for the detection time (a network cut): stop waiting", state(syncOK),
			with(healthy, "a", primary(with2(streams, "b", replicaObs{State: "streaming", Sync: true, ReplyAge: 3 * time.Second}), false)),
			timers{primary: "a", notStreaming: map[string]time.Time{"b": t0.Add(-time.Second)}}, pol, []string{"set-sync()"}},
		{"primary's setting drifted: re-apply", state(syncOK),
			with(healthy, "a", primary(streams, true)), timers{}, pol, []string{"set-sync(b)"}},
		{"Multi-AZ off: no synchronous standby", state(syncOK),
			healthy, timers{}, policy{detection: time.Second, replyTimeout: 2 * time.Second}, []string{"set-sync()"}},
		{"replica detached for an hour (its primary unreachable): left to reconnect", state(syncOK),
			with(healthy, "a", primary(without(streams, "c"), false)),
			timers{primary: "a", notStreaming: map[string]time.Time{"c": t0.Add(-time.Hour)}}, pol, nil},
		{"replica reports a diverged timeline: rewind it", state(syncOK),
			with(with(healthy, "c", cannot(follower, false, 0, time.Hour)), "a", primary(without(streams, "c"), false)), timers{}, pol, []string{"rebuild(c)"}},
		{"replica reports its WAL removed: copy it", state(syncOK),
			with(with(healthy, "c", cannot(follower, true, 0, time.Hour)), "a", primary(without(streams, "c"), false)), timers{}, pol, []string{"copy(c)"}},
		{"rebuild failed twice, 1s ago: wait for the 2s backoff", state(syncOK),
			with(healthy, "c", cannot(nodeObs{}, true, 2, time.Second)), timers{}, pol, nil},
		{"rebuild failed twice, 2s ago: try again", state(syncOK),
			with(healthy, "c", cannot(nodeObs{}, true, 2, 2*time.Second)), timers{}, pol, []string{"copy(c)"}},
		{"replica cannot follow, primary down: wait for a primary", state(Sync{}),
			with(with(healthy, "a", held), "c", cannot(follower, false, 0, time.Hour)), timers{}, policy{detection: time.Second}, nil},
		{"replica crashed: restarted after its backoff", state(syncOK),
			with(healthy, "c", crashed(1, 250*time.Millisecond)), timers{}, pol, []string{"restart(c)"}},
		{"replica crashed again: backoff doubled", state(syncOK),
			with(healthy, "c", crashed(2, 300*time.Millisecond)), timers{}, pol, nil},
		{"replica crashed while the primary is down: restarted all the same", state(Sync{}),
			with(with(healthy, "a", held), "c", crashed(1, time.Second)), timers{}, policy{detection: time.Second}, []string{"restart(c)"}},
		{"replica stopped by a fault: left down", state(syncOK),
			with(healthy, "c", held), timers{}, pol, nil},
		{"replica being rebuilt: leave it", state(syncOK),
			with(with(healthy, "c", nodeObs{Running: true, Busy: true, CannotFollow: "x"}), "a", primary(without(streams, "c"), false)), timers{}, pol, nil},
		{"replica streams from elsewhere: reconfigure", state(syncOK),
			with(healthy, "c", drifted), timers{}, pol, []string{"reconfigure(c)"}},
		{"replica streams from elsewhere, its region cut off from the primary: left until it reaches it", state(syncOK),
			with(healthy, "c", cutOff(drifted)), timers{}, pol, nil},
		{"former primary left running, its region reaches the primary: rejoin it", staleC,
			with(healthy, "c", stalePrimary), timers{}, pol, []string{"rejoin(c)"}},
		{"former primary left running, its region still cut off: left alone", staleC,
			with(healthy, "c", cutOff(stalePrimary)), timers{}, pol, nil},
		{"former primary left running, the primary down: wait for a primary", staleC,
			with(with(healthy, "a", held), "c", stalePrimary), timers{}, policy{detection: time.Second}, nil},
		{"former primary left running, its rejoin failed twice 1s ago: wait for the 2s backoff", staleC,
			with(healthy, "c", rejoinFailed(stalePrimary, 2, time.Second)), timers{}, pol, nil},
		{"former primary left running, its rejoin failed twice 2s ago: try again", staleC,
			with(healthy, "c", rejoinFailed(stalePrimary, 2, 2*time.Second)), timers{}, pol, []string{"rejoin(c)"}},
		{"former primary being rejoined: leave it", staleC,
			with(healthy, "c", nodeObs{Running: true, Busy: true}), timers{}, pol, nil},
		{"former primary started as a follower: nothing to do", staleC,
			healthy, timers{}, pol, nil},
		{"replica reports a diverged timeline, its region cut off from the primary: no rebuild", state(syncOK),
			with(with(healthy, "c", cutOff(cannot(follower, false, 0, time.Hour))), "a", primary(without(streams, "c"), false)), timers{}, pol, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, a := range decide(tt.st, observation{At: t0, Nodes: tt.nodes}, tt.timers, t0, tt.pol) {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("decide() = %v, want %v", got, tt.want)
			}
		})
	}
}

func with2(m map[string]replicaObs, name string, r replicaObs) map[string]replicaObs {
	out := maps.Clone(m)
	out[name] = r
	return out
}

func TestTimers(t *testing.T) {
	pol := policy{detection: time.Second, replyTimeout: 2 * time.Second}
	st := newState(decideNodes, true)
	up := observation{Nodes: map[string]nodeObs{
		"a": {Running: true, Reachable: true, Replicas: map[string]replicaObs{
			"b": {State: "catchup"},
			"c": {State: "streaming", ReplyAge: 5 * time.Second}, // silent
		}},
		"b": {Running: true, Reachable: true, InRecovery: true},
		"c": {Running: true, Reachable: true, InRecovery: true},
	}}
	down := observation{Nodes: map[string]nodeObs{"a": {Running: true}, "b": up.Nodes["b"], "c": up.Nodes["c"]}}

	tm := timers{}.updated(st, up, t0, pol)
	if !tm.primaryDown.IsZero() {
		t.Error("primary up but primaryDown set")
	}
	if tm.notStreaming["b"] != t0 || tm.notStreaming["c"] != t0 {
		t.Errorf("timers %+v, want b (catching up) and c (silent) not streaming since t0", tm)
	}
	tm = tm.updated(st, up, t0.Add(time.Second), pol)
	if tm.notStreaming["c"] != t0 {
		t.Error("not-streaming time not kept from pass to pass")
	}
	tm = tm.updated(st, down, t0.Add(2*time.Second), pol)
	tm = tm.updated(st, down, t0.Add(3*time.Second), pol)
	if tm.primaryDown != t0.Add(2*time.Second) {
		t.Errorf("primaryDown %v, want since the first failed pass", tm.primaryDown)
	}
	if len(tm.notStreaming) != 0 {
		t.Error("followers judged without a primary")
	}
	promoted := st.promoted("b", decideNodes, true, t0)
	tm = tm.updated(promoted, down, t0.Add(4*time.Second), pol)
	if tm.primary != "b" || tm.primaryDown != t0.Add(4*time.Second) {
		t.Errorf("timers after promotion %+v, want them restarted for b", tm)
	}
	bUp := observation{Nodes: map[string]nodeObs{"b": {Running: true, Reachable: true}}}
	tm = tm.updated(promoted, bUp, t0.Add(5*time.Second), pol)
	if !tm.primaryDown.IsZero() {
		t.Error("primaryDown kept although b answers")
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		got, want time.Duration
	}{
		{restartDelay(0), 250 * time.Millisecond},
		{restartDelay(1), 250 * time.Millisecond},
		{restartDelay(2), 500 * time.Millisecond},
		{restartDelay(4), 2 * time.Second},
		{restartDelay(9), 30 * time.Second},
		{restartDelay(1000), 30 * time.Second},
		{rebuildDelay(0), 0},
		{rebuildDelay(1), time.Second},
		{rebuildDelay(3), 4 * time.Second},
		{rebuildDelay(100), 30 * time.Second},
	}
	for i, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("case %d: %s, want %s", i, tt.got, tt.want)
		}
	}
}

func TestHealthSettles(t *testing.T) {
	h := health{failures: 3, loopReported: true, upSince: t0, cannotFollow: "diverged", rebuildFailures: 2, rebuilt: true}
	if got := h.settled(true, false, t0.Add(stableAfter-time.Millisecond)); got.failures != 3 || !got.crashLoop() {
		t.Errorf("failures forgotten after %s of running: %+v", stableAfter-time.Millisecond, got)
	}
	if got := h.settled(true, false, t0.Add(stableAfter)); got.failures != 0 || got.loopReported || got.crashLoop() || got.cannotFollow == "" {
		t.Errorf("after %s of running: %+v, want the failures forgotten, the rebuild not", stableAfter, got)
	}
	if got := h.settled(false, false, t0.Add(time.Hour)); got.failures != 3 {
		t.Errorf("a stopped node's failures forgotten: %+v", got)
	}
	if got := h.settled(true, true, t0); got.cannotFollow != "" || got.rebuildFailures != 0 || got.rebuilt {
		t.Errorf("a streaming node still to be rebuilt: %+v", got)
	}
	// A rebuild that did not help: the next one copies.
	if got := (health{rebuilt: true}).cannot("diverged", false); !got.copy {
		t.Errorf("after a rebuild that did not help: %+v, want a copy", got)
	}
	if got := (health{}).cannot("diverged", false); got.copy || got.cannotFollow != "diverged" {
		t.Errorf("first report: %+v, want a rewind", got)
	}
}

func TestDecideRegion(t *testing.T) {
	after := time.Minute
	tests := []struct {
		name string
		in   regionInput
		want regionDecision
	}{
		{"region fine", regionInput{Automatic: true, PrimaryUp: true, Now: t0, After: after}, regionDecision{}},
		{"DNS failed over but the primary answers", regionInput{Automatic: true, RegionLost: true, PrimaryUp: true, Since: t0, Now: t0.Add(time.Hour), After: after}, regionDecision{}},
		{"primary down but DNS still on the region", regionInput{Automatic: true, Since: t0, Now: t0.Add(time.Hour), After: after}, regionDecision{}},
		{"loss begins", regionInput{Automatic: true, RegionLost: true, Now: t0, After: after}, regionDecision{Since: t0}},
		{"lost, not for long", regionInput{Automatic: true, RegionLost: true, Since: t0, Now: t0.Add(59 * time.Second), After: after}, regionDecision{Since: t0}},
		{"lost for After: promote", regionInput{Automatic: true, RegionLost: true, Since: t0, Now: t0.Add(after), After: after}, regionDecision{Since: t0, Lost: true, Promote: true}},
		{"manual: report only", regionInput{RegionLost: true, Since: t0, Now: t0.Add(after), After: after}, regionDecision{Since: t0, Lost: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decideRegion(tt.in); got != tt.want {
				t.Fatalf("decideRegion() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestStrayed: a follower that a former primary, still running, reports
// streaming from it has strayed from the primary's history (and may not
// be promoted) until the primary reports it streaming.
func TestStrayed(t *testing.T) {
	pol := policy{replyTimeout: 2 * time.Second}
	streaming := replicaObs{State: replStreaming, ReplyAge: 100 * time.Millisecond}
	// c is the primary now; a, the former one, is fenced.
	st := newState(decideNodes, true)
	st.Primary = "c"
	st.Nodes["a"] = NodeState{Role: RoleReplica, Fenced: true}
	strayedB := st.clone()
	strayedB.Nodes["b"] = NodeState{Role: RoleStandby, Strayed: true}
	primary := func(replicas map[string]replicaObs) nodeObs {
		return nodeObs{Running: true, Reachable: true, Replicas: replicas}
	}
	for _, tt := range []struct {
		name         string
		st           State
		a, c         nodeObs
		marked, back []string
	}{
		{"b follows the former primary", st, primary(map[string]replicaObs{"b": streaming}), primary(nil), []string{"b"}, nil},
		{"marked already", strayedB, primary(map[string]replicaObs{"b": streaming}), primary(nil), nil, nil},
		{"the former primary down", st, nodeObs{}, primary(nil), nil, nil},
		{"the former primary rejoined, in recovery", st, nodeObs{Running: true, Reachable: true, InRecovery: true, Replicas: map[string]replicaObs{"b": streaming}}, primary(nil), nil, nil},
		{"attached, not streaming", st, primary(map[string]replicaObs{"b": {State: "catchup"}}), primary(nil), nil, nil},
		{"back on the primary", strayedB, nodeObs{}, primary(map[string]replicaObs{"b": streaming}), nil, []string{"b"}},
		{"on the primary, still catching up", strayedB, nodeObs{}, primary(map[string]replicaObs{"b": {State: "catchup"}}), nil, nil},
		{"not fenced: the primary's own followers", newState(decideNodes, true), primary(map[string]replicaObs{"b": streaming}), nodeObs{Running: true, Reachable: true, InRecovery: true}, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			obs := observation{Nodes: map[string]nodeObs{"a": tt.a, "c": tt.c}}
			marked, back := strayed(tt.st, obs, pol)
			if !slices.Equal(marked, tt.marked) || !slices.Equal(back, tt.back) {
				t.Fatalf("strayed() = %v, %v; want %v, %v", marked, back, tt.marked, tt.back)
			}
		})
	}
}

// TestProbeTimeout: the monitor waits longer for a node that has lately
// been slow to answer, as TCP does for a long round trip, between the
// configured probe time and the detection time; fast answers bring it
// down.
func TestProbeTimeout(t *testing.T) {
	const probe, detection = 500 * time.Millisecond, time.Second
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, tt := range []struct {
		name   string
		prev   time.Duration
		sample time.Duration
		want   time.Duration // the next probe's time
	}{
		{"first answer, fast", 0, ms(2), probe},
		{"first answer, slow", 0, ms(200), ms(800)},
		{"slower still", ms(200), ms(1000), detection},
		{"fast answers bring it down", ms(200), ms(8), ms(704)},
		{"back to the probe time", ms(130), ms(2), probe},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := probeTimeout(nextAnswerTime(tt.prev, tt.sample), probe, detection); got != tt.want {
				t.Fatalf("probe time after %v then %v = %v, want %v", tt.prev, tt.sample, got, tt.want)
			}
		})
	}
	// A detection shorter than the probe time leaves the probe time.
	if got := probeTimeout(time.Second, probe, 300*time.Millisecond); got != probe {
		t.Errorf("probeTimeout with a short detection = %v, want %v", got, probe)
	}
}

func TestReaderFor(t *testing.T) {
	st := newState(decideNodes, true)
	follower := nodeObs{Running: true, Reachable: true, InRecovery: true}
	prim := nodeObs{Running: true, Reachable: true, Replicas: map[string]replicaObs{"c": {State: "streaming"}}}
	tests := []struct {
		name   string
		region string
		nodes  map[string]nodeObs
		cut    bool // the region cannot reach the primary
		want   string
	}{
		{"streaming replica in the region", "west", map[string]nodeObs{"a": prim, "c": follower}, false, "c"},
		{"no replica in the region (a standby does not serve reads)", "east", map[string]nodeObs{"a": prim, "b": follower, "c": follower}, false, "a"},
		{"replica not streaming", "west", map[string]nodeObs{"a": {Running: true, Reachable: true}, "c": follower}, false, "a"},
		{"replica down", "west", map[string]nodeObs{"a": prim}, false, "a"},
		{"primary down: the replica still serves reads", "west", map[string]nodeObs{"c": follower}, false, "c"},
		{"region cut off from the primary: its replica, no longer streaming, still serves reads", "west", map[string]nodeObs{"a": {Running: true, Reachable: true}, "c": follower}, true, "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := observation{Nodes: tt.nodes, Unreached: map[string]bool{tt.region: tt.cut}}
			if got := readerFor(tt.region, st, obs, decideNodes); got != tt.want {
				t.Fatalf("readerFor(%s) = %s, want %s", tt.region, got, tt.want)
			}
		})
	}
}

// TestDecideBusyPrimary: a primary that does not answer while a follower
// is copied or rewound from it gets five times the detection time; one
// whose server stopped is replaced at once all the same.
func TestDecideBusyPrimary(t *testing.T) {
	pol := policy{multiAZ: true, detection: time.Second, replyTimeout: 2 * time.Second}
	st := newState(decideNodes, true)
	st.Sync = Sync{Standby: "b", From: LSNPos(100), Complete: true}
	follower := nodeObs{Running: true, Reachable: true, InRecovery: true, Pos: LSNPos(480)}
	for _, tt := range []struct {
		name    string
		prim    nodeObs
		down    time.Duration
		copying bool
		want    []string
	}{
		{"unanswered for the detection time", nodeObs{Running: true}, time.Second, false, []string{"promote(b)"}},
		{"unanswered for four times the detection time, a follower copied from it", nodeObs{Running: true}, 4 * time.Second, true, nil},
		{"unanswered for five times the detection time, a follower copied from it", nodeObs{Running: true}, 5 * time.Second, true, []string{"promote(b)"}},
		{"its server stopped, a follower copied from it", nodeObs{}, 0, true, []string{"promote(b)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			obs := observation{At: t0, Copying: tt.copying, Nodes: map[string]nodeObs{"a": tt.prim, "b": follower, "c": follower}}
			tm := timers{primary: "a"}
			if tt.down > 0 {
				tm.primaryDown = t0.Add(-tt.down)
			}
			var got []string
			for _, a := range decide(st, obs, tm, t0, pol) {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("decide() = %v, want %v", got, tt.want)
			}
		})
	}
}
