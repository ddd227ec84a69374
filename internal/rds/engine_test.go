package rds

import (
	"maps"
	"slices"
	"testing"
)

// TestWithFollowerReports: a primary that cannot list its followers (a
// MariaDB primary) gets the reports of those whose relay leads to it,
// and the decider sees it as it sees a PostgreSQL primary that lists them.
func TestWithFollowerReports(t *testing.T) {
	streaming := replicaObs{State: replStreaming, Sync: true, Flushed: gtids(t, "0-1-10")}
	connecting := replicaObs{State: "connecting", Flushed: gtids(t, "0-1-7")}
	primary := nodeObs{Running: true, Reachable: true, Pos: gtids(t, "0-1-10")}
	follower := nodeObs{Running: true, Reachable: true, InRecovery: true}
	leadsToA := func(follower, primary string) bool { return primary == "a" && follower != "stray" }
	tests := []struct {
		name    string
		nodes   map[string]nodeObs
		reports map[string]replicaObs
		want    []string // a's followers; nil for none listed
	}{
		{"followers streaming from the primary", map[string]nodeObs{"a": primary, "b": follower, "c": follower},
			map[string]replicaObs{"b": streaming, "c": connecting}, []string{"b", "c"}},
		{"a follower whose relay leads elsewhere is not the primary's", map[string]nodeObs{"a": primary, "stray": follower},
			map[string]replicaObs{"stray": streaming}, []string{}},
		{"no reports (PostgreSQL): left as the primary listed them", map[string]nodeObs{"a": primary, "b": follower}, nil, nil},
		{"a primary that does not answer gets none", map[string]nodeObs{"a": {Running: true}, "b": follower},
			map[string]replicaObs{"b": streaming}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := observation{Nodes: maps.Clone(tt.nodes)}
			got := withFollowerReports(obs, "a", tt.reports, leadsToA).Nodes["a"].Replicas
			if (got == nil) != (tt.want == nil) || !slices.Equal(slices.Sorted(maps.Keys(got)), tt.want) && tt.want != nil {
				t.Fatalf("a's followers %v, want %v", got, tt.want)
			}
			for name, r := range got {
				if want := tt.reports[name]; r.State != want.State || r.Sync != want.Sync || r.Flushed.String() != want.Flushed.String() {
					t.Errorf("%s: %+v, want its report %+v", name, r, tt.reports[name])
				}
			}
		})
	}
	// As the decider sees it: the standby streams synchronously.
	async := replicaObs{State: replStreaming, Flushed: gtids(t, "0-1-9")}
	obs := withFollowerReports(observation{Nodes: map[string]nodeObs{"a": primary, "b": follower, "c": follower}}, "a",
		map[string]replicaObs{"b": streaming, "c": async}, leadsToA)
	st := newState(decideNodes, true)
	st.Sync = Sync{Standby: "b", From: gtids(t, "0-1-5"), Complete: true}
	if acts := decide(st, obs, timers{}, t0, policy{multiAZ: true, detection: 1e9, replyTimeout: 2e9}); len(acts) != 0 {
		t.Errorf("decide on a MariaDB primary with its standby's report: %v, want nothing to do", acts)
	}
}
