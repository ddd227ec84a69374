package rds

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// spareNodes is decideNodes with a spare in the replica's region.
var spareNodes = append(slices.Clone(decideNodes),
	NodeConfig{Name: "d", Region: "west", Role: RoleSpare, Addr: netip.MustParseAddr("127.0.0.26")})

// TestSpareFollowsThePrimary: the spare of a replica's region becomes the
// standby when a promotion brings the primary there, and a spare again
// once the primary goes home.
func TestSpareFollowsThePrimary(t *testing.T) {
	if err := validateNodes(spareNodes, true); err != nil {
		t.Fatalf("a spare in the replica's region: %v", err)
	}
	if err := validateNodes(spareNodes, false); err == nil {
		t.Error("a spare without Multi-AZ was accepted")
	}
	cases := []struct {
		primary string
		want    map[string]Role
	}{
		{"a", map[string]Role{"a": RolePrimary, "b": RoleStandby, "c": RoleReplica, "d": RoleSpare}},
		{"b", map[string]Role{"a": RoleStandby, "b": RolePrimary, "c": RoleReplica, "d": RoleSpare}},
		// Cross-region promotion: the spare is the new primary's standby.
		{"c", map[string]Role{"a": RoleReplica, "b": RoleReplica, "c": RolePrimary, "d": RoleStandby}},
		// A Multi-AZ failover there: the former primary is the standby.
		{"d", map[string]Role{"a": RoleReplica, "b": RoleReplica, "c": RoleStandby, "d": RolePrimary}},
	}
	for _, tc := range cases {
		got := rolesFor(spareNodes, tc.primary, true)
		for name, role := range tc.want {
			if got[name] != role {
				t.Errorf("primary %s: %s is %s, want %s", tc.primary, name, got[name], role)
			}
		}
	}
}

func TestDecideSpare(t *testing.T) {
	pol := policy{multiAZ: true, detection: time.Second, replyTimeout: 2 * time.Second}
	follower := nodeObs{Running: true, Reachable: true, InRecovery: true, Pos: LSNPos(480)}
	empty := nodeObs{Empty: true}
	home := newState(spareNodes, true)
	home.Sync = Sync{Standby: "b", From: LSNPos(100), Complete: true}
	away := home.promoted("c", spareNodes, true, t0)
	primary := nodeObs{Running: true, Reachable: true, Pos: LSNPos(500), Replicas: map[string]replicaObs{
		"a": {State: "streaming", Flushed: LSNPos(450)},
		"b": {State: "streaming", Flushed: LSNPos(450)},
	}}
	cases := []struct {
		name  string
		st    State
		nodes map[string]nodeObs
		want  []string
	}{
		{"home: the spare stays down", home,
			map[string]nodeObs{"a": {Running: true, Reachable: true, Pos: LSNPos(500), Replicas: map[string]replicaObs{
				"b": {State: "streaming", Sync: true, Flushed: LSNPos(500), ReplyAge: 300 * time.Millisecond}}}, "b": follower, "c": follower, "d": empty}, nil},
		{"away: the spare is made the standby", away,
			map[string]nodeObs{"a": follower, "b": follower, "c": primary, "d": empty}, []string{"create(d)"}},
		{"away, the region cut off from the primary: not yet", away,
			map[string]nodeObs{"a": follower, "b": follower, "c": primary, "d": {Empty: true, PrimaryUnreachable: true}}, nil},
		{"away, with a primary that does not answer: not yet", away,
			map[string]nodeObs{"a": follower, "b": follower, "c": {Running: true}, "d": empty}, nil},
		{"home again: the standby made away is retired", home,
			map[string]nodeObs{"a": {Running: true, Reachable: true, Pos: LSNPos(500), Replicas: map[string]replicaObs{
				"b": {State: "streaming", Sync: true, Flushed: LSNPos(500), ReplyAge: 300 * time.Millisecond}}}, "b": follower, "c": follower, "d": follower}, []string{"retire(d)"}},
	}
	for _, tc := range cases {
		var got []string
		for _, a := range decide(tc.st, observation{Nodes: tc.nodes}, timers{}, t0, pol) {
			got = append(got, a.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: decide = %v, want %v", tc.name, got, tc.want)
		}
	}
}
