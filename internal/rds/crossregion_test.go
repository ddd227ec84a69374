package rds

import (
	"slices"
	"testing"
	"time"
)

// TestDecideCrossRegion: with cross_region_commit = "sync", commits wait
// for the first replica that streams, which then stays in the setting
// while it does not stream (commits wait, none is lost); a promotion
// clears it.
func TestDecideCrossRegion(t *testing.T) {
	pol := policy{multiAZ: true, crossRegionSync: true, detection: time.Second, replyTimeout: 2 * time.Second}
	follower := nodeObs{Running: true, Reachable: true, InRecovery: true, Pos: LSNPos(480)}
	primary := func(syncDrifted bool, replicas map[string]replicaObs) nodeObs {
		return nodeObs{Running: true, Reachable: true, Pos: LSNPos(500), SyncDrifted: syncDrifted, Replicas: replicas}
	}
	standbySync := replicaObs{State: "streaming", Sync: true, Flushed: LSNPos(500), ReplyAge: 300 * time.Millisecond}
	replicaStreams := replicaObs{State: "streaming", Flushed: LSNPos(450), ReplyAge: 300 * time.Millisecond}
	st := newState(decideNodes, true)
	st.Sync = Sync{Standby: "b", From: LSNPos(100), Complete: true}
	withCross := st.clone()
	withCross.Sync.CrossRegion = "c"
	cases := []struct {
		name  string
		pol   policy
		st    State
		nodes map[string]nodeObs
		want  []string
	}{
		{"the replica streams: commits wait for it", pol, st,
			map[string]nodeObs{"a": primary(false, map[string]replicaObs{"b": standbySync, "c": replicaStreams}), "b": follower, "c": follower}, []string{"set-cross-region(c)"}},
		{"asynchronous cross-region commits: nothing", policy{multiAZ: true, detection: time.Second, replyTimeout: 2 * time.Second}, st,
			map[string]nodeObs{"a": primary(false, map[string]replicaObs{"b": standbySync, "c": replicaStreams}), "b": follower, "c": follower}, nil},
		{"the replica does not stream yet: nothing", pol, st,
			map[string]nodeObs{"a": primary(false, map[string]replicaObs{"b": standbySync}), "b": follower, "c": follower}, nil},
		{"in place", pol, withCross,
			map[string]nodeObs{"a": primary(false, map[string]replicaObs{"b": standbySync, "c": standbySync}), "b": follower, "c": follower}, nil},
		// Cut off: commits wait on; nothing drops it.
		{"the replica gone: it stays", pol, withCross,
			map[string]nodeObs{"a": primary(false, map[string]replicaObs{"b": standbySync}), "b": follower, "c": follower}, nil},
		{"the primary's setting drifted", pol, withCross,
			map[string]nodeObs{"a": primary(true, map[string]replicaObs{"b": standbySync, "c": standbySync}), "b": follower, "c": follower}, []string{"set-sync(b)"}},
	}
	for _, tc := range cases {
		var got []string
		for _, a := range decide(tc.st, observation{Nodes: tc.nodes}, timers{}, t0, tc.pol) {
			got = append(got, a.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: decide = %v, want %v", tc.name, got, tc.want)
		}
	}
	// A promotion clears it: the new primary waits for no other region
	// until a replica streams from it.
	if p := withCross.promoted("c", decideNodes, true, t0); p.Sync.CrossRegion != "" {
		t.Errorf("after promoting the cross-region replica, commits still wait for %q", p.Sync.CrossRegion)
	}
}
