package rds

import (
	"slices"
	"testing"
	"time"
)

func TestSyncNames(t *testing.T) {
	cases := []struct {
		sync Sync
		want string
	}{
		{Sync{}, ""},
		{Sync{Standby: "db-us-east-1b"}, `"db_us_east_1b"`},
		{Sync{CrossRegion: "db-us-west-2a"}, `"db_us_west_2a"`},
		// Both: a commit waits for each.
		{Sync{Standby: "db-us-east-1b", CrossRegion: "db-us-west-2a"}, `FIRST 2 ("db_us_east_1b", "db_us_west_2a")`},
	}
	for _, tc := range cases {
		if got := syncNames(tc.sync); got != tc.want {
			t.Errorf("syncNames(%+v) = %q, want %q", tc.sync, got, tc.want)
		}
	}
}

// TestDecideCrossRegion: with cross_region_commit = "sync", commits wait
// for the first replica that streams, which then stays in the setting
// while it does not stream (commits wait, none is lost); a promotion
// clears it.
func TestDecideCrossRegion(t *testing.T) {
	pol := policy{multiAZ: true, crossRegionSync: true, detection: time.Second, replyTimeout: 2 * time.Second}
	follower := nodeObs{Running: true, Reachable: true, InRecovery: true, Pos: LSNPos(480)}
	primary := func(syncNames string, replicas map[string]replicaObs) nodeObs {
		return nodeObs{Running: true, Reachable: true, Pos: LSNPos(500), SyncNames: syncNames, Replicas: replicas}
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
			map[string]nodeObs{"a": primary(`"b"`, map[string]replicaObs{"b": standbySync, "c": replicaStreams}), "b": follower, "c": follower}, []string{"set-cross-region(c)"}},
		{"asynchronous cross-region commits: nothing", policy{multiAZ: true, detection: time.Second, replyTimeout: 2 * time.Second}, st,
			map[string]nodeObs{"a": primary(`"b"`, map[string]replicaObs{"b": standbySync, "c": replicaStreams}), "b": follower, "c": follower}, nil},
		{"the replica does not stream yet: nothing", pol, st,
			map[string]nodeObs{"a": primary(`"b"`, map[string]replicaObs{"b": standbySync}), "b": follower, "c": follower}, nil},
		{"in place", pol, withCross,
			map[string]nodeObs{"a": primary(`FIRST 2 ("b", "c")`, map[string]replicaObs{"b": standbySync, "c": standbySync}), "b": follower, "c": follower}, nil},
		// Cut off: commits wait on; nothing drops it.
		{"the replica gone: it stays", pol, withCross,
			map[string]nodeObs{"a": primary(`FIRST 2 ("b", "c")`, map[string]replicaObs{"b": standbySync}), "b": follower, "c": follower}, nil},
		{"the primary's setting drifted", pol, withCross,
			map[string]nodeObs{"a": primary(`"b"`, map[string]replicaObs{"b": standbySync, "c": standbySync}), "b": follower, "c": follower}, []string{"set-sync(b)"}},
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
