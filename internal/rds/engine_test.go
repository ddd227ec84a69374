package rds

import (
	"errors"
	"maps"
	"net"
	"os"
	"slices"
	"testing"
	"time"
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

// TestReadAnswer: an answer that waited in the socket past the deadline
// (this process not scheduled in time) counts; a server that sent
// nothing stays unanswered.
func TestReadAnswer(t *testing.T) {
	serve := func(t *testing.T, answer []byte) net.Conn {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write(answer)
			accepted <- c
		}()
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		srv := <-accepted
		t.Cleanup(func() { srv.Close() })
		return conn
	}
	t.Run("answered, read late", func(t *testing.T) {
		conn := serve(t, []byte("N"))
		// The answer is in the socket; the deadline passed before the read.
		deadline := time.Now().Add(-time.Millisecond)
		var buf [1]byte
		for {
			conn.SetReadDeadline(deadline)
			if err := readAnswer(conn, buf[:]); err == nil && buf[0] == 'N' {
				return
			} else if time.Since(deadline) > 10*time.Second {
				t.Fatalf("readAnswer = %v, %q; want the answer", err, buf[0])
			}
			// Not arrived yet (the server's write is on its way).
		}
	})
	t.Run("no answer", func(t *testing.T) {
		conn := serve(t, nil)
		conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		var buf [1]byte
		if err := readAnswer(conn, buf[:]); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("readAnswer = %v, want a timeout", err)
		}
	})
}
