package drill

import (
	"testing"
	"time"

	"github.com/hastack/hastack/internal/stack"
)

func TestFollowerLag(t *testing.T) {
	tests := []struct {
		name            string
		primary, replay uint64
		since           float64
		known           bool
		wantB           int64
		wantS           float64
	}{
		{"caught up", 1000, 1000, 0.8, true, 0, 0},
		// Replay past the primary's position read just before: caught up.
		{"replay ahead of the earlier read", 1000, 1200, 0.8, true, 0, 0},
		{"behind: the newest replayed commit's age", 5000, 1000, 0.53, true, 4000, 0.53},
		{"behind with no commit replayed since the start", 5000, 1000, 0, false, 4000, 0},
		{"a clock step never gives a negative lag", 5000, 1000, -0.2, true, 4000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, s := FollowerLag(tt.primary, tt.replay, tt.since, tt.known)
			if b != tt.wantB || s != tt.wantS {
				t.Fatalf("FollowerLag = %d bytes %.2f s, want %d bytes %.2f s", b, s, tt.wantB, tt.wantS)
			}
		})
	}
}

func TestParseLSN(t *testing.T) {
	for in, want := range map[string]uint64{"0/0": 0, "0/4001F80": 0x4001F80, "1/10": 1<<32 | 0x10, "FFFFFFFF/FFFFFFFF": 1<<64 - 1} {
		if got, err := parseLSN(in); err != nil || got != want {
			t.Errorf("parseLSN(%q) = %x, %v; want %x", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "12", "x/1", "1/y", "100000000/0"} {
		if _, err := parseLSN(bad); err == nil {
			t.Errorf("parseLSN(%q) accepted", bad)
		}
	}
}

// lagSeries is node's lag sampled every 200 ms from t0, in seconds.
func lagSeries(node string, secs ...float64) []Lag {
	var out []Lag
	for i, s := range secs {
		out = append(out, Lag{At: t0.Add(time.Duration(i) * 200 * time.Millisecond), Node: node, Seconds: s, Bytes: int64(s * 1e4)})
	}
	return out
}

func TestMaxLagAndCaughtUp(t *testing.T) {
	// Warm-up 0.04 s, a cut from 0.4 s to 1.4 s, caught up at 1.8 s.
	series := append(lagSeries("replica", 0.04, 0.03, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 0.9, 0.05, 0.03),
		Lag{At: t0.Add(time.Second), Node: "standby", Seconds: 5})
	m, ok := MaxLag(series, "replica", t0.Add(400*time.Millisecond), t0.Add(1400*time.Millisecond))
	if !ok || m.Seconds != 1.0 || m.Node != "replica" {
		t.Fatalf("MaxLag = %+v, %v; want the replica's 1.0 s (the standby and samples after the window do not count)", m, ok)
	}
	if _, ok := MaxLag(series, "replica", t0.Add(time.Hour), t0.Add(2*time.Hour)); ok {
		t.Fatal("MaxLag found a sample outside every window")
	}
	base, _ := MaxLag(series, "replica", t0, t0.Add(400*time.Millisecond))
	d, ok := CaughtUp(series, "replica", t0.Add(1400*time.Millisecond), base.Seconds)
	if !ok || d != 400*time.Millisecond {
		t.Fatalf("CaughtUp = %s, %v; want 400ms (back within 250 ms of 0.04 s at 1.8 s)", d, ok)
	}
	if _, ok := CaughtUp(series[:9], "replica", t0.Add(1400*time.Millisecond), base.Seconds); ok {
		t.Fatal("CaughtUp while the lag was still 0.9 s")
	}
}

func TestWithLagAndWatchedFollower(t *testing.T) {
	nodes := []stack.NodeStatus{
		{Name: "db-us-east-1a", Region: "us-east-1", Role: "primary"},
		{Name: "db-us-east-1b", Region: "us-east-1", Role: "standby", LagSeconds: 0.001},
		{Name: "db-us-west-2a", Region: "us-west-2", Role: "replica", LagSeconds: 0.07, LagBytes: 10},
	}
	got := withLag(nodes, []Lag{{Node: "db-us-west-2a", Seconds: 0.035, Bytes: 500}})
	if got[2].LagSeconds != 0.035 || got[2].LagBytes != 500 || got[1].LagSeconds != 0.001 || nodes[2].LagSeconds != 0.07 {
		t.Fatalf("withLag = %+v (input %+v)", got, nodes)
	}
	st := stack.Status{Database: stack.DatabaseStatus{Nodes: nodes}}
	if w := watchedFollower(st); w != "db-us-west-2a" {
		t.Fatalf("watchedFollower = %q, want the cross-region replica", w)
	}
	st.Database.Nodes = nodes[:2]
	if w := watchedFollower(st); w != "db-us-east-1b" {
		t.Fatalf("watchedFollower without a replica = %q, want the standby", w)
	}
	st.Database.Nodes = nodes[:1]
	if w := watchedFollower(st); w != "" {
		t.Fatalf("watchedFollower of a lone primary = %q", w)
	}
}
