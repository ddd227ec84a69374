package rds

import (
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
	pol := policy{multiAZ: true, detection: time.Second, rejoinAfter: 3 * time.Second}
	syncOK := Sync{Standby: "b", FromLSN: 100, Complete: true}
	state := func(s Sync) State {
		st := newState(decideNodes, true)
		st.Sync = s
		return st
	}
	primary := func(replicas map[string]replicaObs, syncNames string) nodeObs {
		return nodeObs{Running: true, Reachable: true, LSN: 500, SyncNames: syncNames, Replicas: replicas}
	}
	follower := nodeObs{Running: true, Reachable: true, InRecovery: true, LSN: 480}
	streams := map[string]replicaObs{
		"b": {State: "streaming", SyncState: "sync", Flush: 500},
		"c": {State: "streaming", SyncState: "async", Flush: 450},
	}
	healthy := map[string]nodeObs{"a": primary(streams, `"b"`), "b": follower, "c": follower}
	with := func(base map[string]nodeObs, name string, o nodeObs) map[string]nodeObs {
		m := map[string]nodeObs{}
		for k, v := range base {
			m[k] = v
		}
		m[name] = o
		return m
	}
	without := func(m map[string]replicaObs, name string) map[string]replicaObs {
		out := map[string]replicaObs{}
		for k, v := range m {
			if k != name {
				out[k] = v
			}
		}
		return out
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
			with(healthy, "a", nodeObs{}), timers{}, pol, []string{"promote(b)"}},
		{"dead primary, standby not yet complete: blocked", state(Sync{Standby: "b", FromLSN: 100}),
			with(healthy, "a", nodeObs{}), timers{}, pol, []string{"blocked(a)"}},
		{"dead primary, no synchronous standby: blocked", state(Sync{}),
			with(healthy, "a", nodeObs{}), timers{}, pol, []string{"blocked(a)"}},
		{"dead primary and standby: blocked", state(syncOK),
			with(with(healthy, "a", nodeObs{}), "b", nodeObs{}), timers{}, pol, []string{"blocked(a)"}},
		{"dead primary without Multi-AZ: nothing here", state(syncOK),
			with(healthy, "a", nodeObs{}), timers{}, policy{detection: time.Second}, nil},
		{"unreachable primary, not for long", state(syncOK),
			with(healthy, "a", nodeObs{Running: true}), timers{primary: "a", primaryDown: t0.Add(-500 * time.Millisecond)}, pol, nil},
		{"unreachable primary for the detection time", state(syncOK),
			with(healthy, "a", nodeObs{Running: true}), timers{primary: "a", primaryDown: t0.Add(-time.Second)}, pol, []string{"promote(b)"}},
		{"primary being rebuilt is left alone", state(syncOK),
			with(healthy, "a", nodeObs{Running: true, Busy: true}), timers{primary: "a", primaryDown: t0.Add(-time.Hour)}, pol, nil},
		{"recorded primary still in recovery: finish the promotion", state(syncOK),
			with(healthy, "a", follower), timers{}, pol, []string{"promote(a)"}},
		{"standby streams: make it synchronous", state(Sync{}),
			with(healthy, "a", primary(streams, "")), timers{}, pol, []string{"set-sync(b)"}},
		{"standby in catch-up: not yet", state(Sync{}),
			with(healthy, "a", primary(with2(streams, "b", replicaObs{State: "catchup"}), "")), timers{}, pol, nil},
		{"synchronous: record where it started", state(Sync{Standby: "b"}),
			healthy, timers{}, pol, []string{"sync-from(b 0/1F4)"}},
		{"synchronous and past the start: complete", state(Sync{Standby: "b", FromLSN: 450}),
			healthy, timers{}, pol, []string{"sync-complete(b)"}},
		{"synchronous but behind the start: wait", state(Sync{Standby: "b", FromLSN: 600}),
			healthy, timers{}, pol, nil},
		{"standby down: commits stop waiting at once", state(syncOK),
			with(with(healthy, "b", nodeObs{}), "a", primary(without(streams, "b"), `"b"`)), timers{}, pol, []string{"set-sync()"}},
		{"standby not streaming, briefly: keep waiting", state(syncOK),
			with(healthy, "a", primary(without(streams, "b"), `"b"`)),
			timers{primary: "a", notStreaming: map[string]time.Time{"b": t0.Add(-300 * time.Millisecond)}}, pol, nil},
		{"standby not streaming for the detection time: stop waiting", state(syncOK),
			with(healthy, "a", primary(without(streams, "b"), `"b"`)),
			timers{primary: "a", notStreaming: map[string]time.Time{"b": t0.Add(-time.Second)}}, pol, []string{"set-sync()"}},
		{"primary's setting drifted: re-apply", state(syncOK),
			with(healthy, "a", primary(streams, "")), timers{}, pol, []string{"set-sync(b)"}},
		{"Multi-AZ off: no synchronous standby", state(syncOK),
			healthy, timers{}, policy{detection: time.Second, rejoinAfter: 3 * time.Second}, []string{"set-sync()"}},
		{"replica detached too long: rebuild it", state(syncOK),
			with(healthy, "a", primary(without(streams, "c"), `"b"`)),
			timers{primary: "a", detached: map[string]time.Time{"c": t0.Add(-3 * time.Second)}}, pol, []string{"rejoin(c)"}},
		{"replica detached briefly: wait", state(syncOK),
			with(healthy, "a", primary(without(streams, "c"), `"b"`)),
			timers{primary: "a", detached: map[string]time.Time{"c": t0.Add(-time.Second)}}, pol, nil},
		{"replica being rebuilt: leave it", state(syncOK),
			with(with(healthy, "c", nodeObs{Running: true, Busy: true}), "a", primary(without(streams, "c"), `"b"`)),
			timers{primary: "a", detached: map[string]time.Time{"c": t0.Add(-time.Hour)}}, pol, nil},
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
	out := map[string]replicaObs{}
	for k, v := range m {
		out[k] = v
	}
	out[name] = r
	return out
}

func TestTimers(t *testing.T) {
	st := newState(decideNodes, true)
	up := observation{Nodes: map[string]nodeObs{
		"a": {Running: true, Reachable: true, Replicas: map[string]replicaObs{"b": {State: "catchup"}}},
		"b": {Running: true, Reachable: true, InRecovery: true},
		"c": {Running: true, Reachable: true, InRecovery: true},
	}}
	down := observation{Nodes: map[string]nodeObs{"a": {Running: true}, "b": up.Nodes["b"], "c": up.Nodes["c"]}}

	tm := timers{}.updated(st, up, t0)
	if !tm.primaryDown.IsZero() {
		t.Error("primary up but primaryDown set")
	}
	if _, ok := tm.detached["b"]; ok {
		t.Error("b is attached (catching up) but counted detached")
	}
	if tm.notStreaming["b"] != t0 || tm.detached["c"] != t0 {
		t.Errorf("timers %+v, want b not streaming and c detached since t0", tm)
	}
	tm = tm.updated(st, up, t0.Add(time.Second))
	if tm.detached["c"] != t0 {
		t.Error("detached time not kept from pass to pass")
	}
	tm = tm.updated(st, down, t0.Add(2*time.Second))
	tm = tm.updated(st, down, t0.Add(3*time.Second))
	if tm.primaryDown != t0.Add(2*time.Second) {
		t.Errorf("primaryDown %v, want since the first failed pass", tm.primaryDown)
	}
	if len(tm.detached) != 0 {
		t.Error("followers judged without a primary")
	}
	promoted := st.promoted("b", decideNodes, true, t0)
	tm = tm.updated(promoted, down, t0.Add(4*time.Second))
	if tm.primary != "b" || tm.primaryDown != t0.Add(4*time.Second) {
		t.Errorf("timers after promotion %+v, want them restarted for b", tm)
	}
	bUp := observation{Nodes: map[string]nodeObs{"b": {Running: true, Reachable: true}}}
	tm = tm.updated(promoted, bUp, t0.Add(5*time.Second))
	if !tm.primaryDown.IsZero() {
		t.Error("primaryDown kept although b answers")
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

func TestReaderFor(t *testing.T) {
	st := newState(decideNodes, true)
	follower := nodeObs{Running: true, Reachable: true, InRecovery: true}
	prim := nodeObs{Running: true, Reachable: true, Replicas: map[string]replicaObs{"c": {State: "streaming"}}}
	tests := []struct {
		name   string
		region string
		nodes  map[string]nodeObs
		want   string
	}{
		{"streaming replica in the region", "west", map[string]nodeObs{"a": prim, "c": follower}, "c"},
		{"no replica in the region (a standby does not serve reads)", "east", map[string]nodeObs{"a": prim, "b": follower, "c": follower}, "a"},
		{"replica not streaming", "west", map[string]nodeObs{"a": {Running: true, Reachable: true}, "c": follower}, "a"},
		{"replica down", "west", map[string]nodeObs{"a": prim}, "a"},
		{"primary down: the replica still serves reads", "west", map[string]nodeObs{"c": follower}, "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readerFor(tt.region, st, observation{Nodes: tt.nodes}, decideNodes); got != tt.want {
				t.Fatalf("readerFor(%s) = %s, want %s", tt.region, got, tt.want)
			}
		})
	}
}
