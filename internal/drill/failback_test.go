package drill

import (
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/stack"
)

func TestLostAround(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	w := func(sec float64, key string, ok bool) Sample {
		return Sample{Kind: Write, Key: key, OK: ok, Start: t0.Add(time.Duration(sec * float64(time.Second))), Latency: 10 * time.Millisecond}
	}
	samples := []Sample{
		w(1, "a", true), w(2, "b", true), w(3, "c", false), // c: never acknowledged
		w(10, "d", true), w(11, "e", true),
		{Kind: Read, Key: "f", OK: true, Start: t0.Add(12 * time.Second)},
	}
	present := map[string]bool{"a": true, "e": true}
	cases := []struct {
		name          string
		at            time.Time
		before, after int
	}{
		{"split at the switchover", t0.Add(5 * time.Second), 1, 1},
		{"no switchover", time.Time{}, 2, 0},
		{"switchover first", t0, 0, 2},
	}
	for _, tc := range cases {
		b, a := lostAround(samples, present, tc.at)
		if b != tc.before || a != tc.after {
			t.Errorf("%s: lostAround = %d, %d; want %d, %d", tc.name, b, a, tc.before, tc.after)
		}
	}
}

func TestLongestWriteGap(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ack := func(sec float64, ok bool) Sample {
		return Sample{Kind: Write, OK: ok, Start: t0.Add(time.Duration(sec * float64(time.Second)))}
	}
	samples := []Sample{ack(0.5, true), ack(0.9, true), ack(1.2, false), ack(1.5, false), ack(1.7, true), ack(1.8, true), ack(5, true)}
	cases := []struct {
		name     string
		from, to float64
		want     float64
	}{
		// From the last ack before the switchover (0.9) to the next (1.7).
		{"around the switchover", 1, 2, 0.8},
		// The wait for the end counts as well.
		{"to the end", 1, 10, 5},
		{"nothing before", 0, 0.6, 0.5},
	}
	for _, tc := range cases {
		from, to := t0.Add(time.Duration(tc.from*float64(time.Second))), t0.Add(time.Duration(tc.to*float64(time.Second)))
		got := longestWriteGap(samples, from, to).Seconds()
		if got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("%s: longestWriteGap = %.3f s, want %.3f s", tc.name, got, tc.want)
		}
	}
}

// failbackStatus is a two-region stack: the primary in primaryAZ's node,
// us-east-1's standby streaming synchronously when sync is set.
func failbackStatus(primary string, sync bool, answer string) stack.Status {
	role := func(name string) (string, string) {
		switch {
		case name == primary:
			return "primary", "primary"
		case sync && name == "db-us-east-1b":
			return "standby", "sync"
		}
		return "replica", "async"
	}
	var st stack.Status
	for _, n := range []struct{ name, region string }{{"db-us-east-1a", "us-east-1"}, {"db-us-east-1b", "us-east-1"}, {"db-us-west-2a", "us-west-2"}} {
		r, repl := role(n.name)
		st.Database.Nodes = append(st.Database.Nodes, stack.NodeStatus{Name: n.name, Region: n.region, Role: r, Running: true, ReplicationState: repl})
	}
	st.Database.SyncStandby = sync
	st.DNS.Answer = answer
	return st
}

func TestEndDifferences(t *testing.T) {
	start := failbackStatus("db-us-east-1a", true, "127.1.0.10")
	if d := endDifferences(start, failbackStatus("db-us-east-1a", true, "127.1.0.10")); len(d) != 0 {
		t.Errorf("the same stack differs: %v", d)
	}
	away := failbackStatus("db-us-west-2a", false, "127.2.0.10")
	got := strings.Join(endDifferences(start, away), "; ")
	for _, want := range []string{"the primary is db-us-west-2a, was db-us-east-1a", "no synchronous standby", "DNS answers 127.2.0.10"} {
		if !strings.Contains(got, want) {
			t.Errorf("differences %q lack %q", got, want)
		}
	}
	stopped := failbackStatus("db-us-east-1a", true, "127.1.0.10")
	stopped.Database.Nodes[2].Running = false
	if got := endDifferences(start, stopped); len(got) != 1 || got[0] != "db-us-west-2a does not run" {
		t.Errorf("a stopped replica: %v", got)
	}
}

func TestMostDiscarded(t *testing.T) {
	start := failbackStatus("db-us-east-1a", true, "")
	start.Database.Nodes[0].DiscardedTransactions = 5 // an earlier drill's
	end := failbackStatus("db-us-east-1a", true, "")
	end.Database.Nodes[0].DiscardedTransactions = 5 + 40
	end.Database.Nodes[1].DiscardedTransactions = 38 // the standby held a subset
	end.Database.Nodes[2].DiscardedTransactions = 7  // another region
	if got := mostDiscarded(start, end, "us-east-1"); got != 40 {
		t.Errorf("mostDiscarded = %d, want 40", got)
	}
}

func TestExpectFailback(t *testing.T) {
	downtime, gap := 0.4, 0.6
	ok := Failback{Home: "us-east-1", Away: "us-west-2", FailbackDowntimeSeconds: &downtime, FailbackRTOSeconds: &gap, EndMatchesStart: true}
	cases := []struct {
		name   string
		fb     *Failback
		failed []string
	}{
		{"clean", &ok, nil},
		{"not measured", nil, []string{"the primary came home"}},
		{"switchover failed", &Failback{Error: "switching over: refused"}, []string{"the primary came home"}},
		{"lost on the way back", func() *Failback { f := ok; f.FailbackWritesLost = 2; return &f }(), []string{"nothing lost on the way back"}},
		{"ends elsewhere", func() *Failback {
			f := ok
			f.EndMatchesStart, f.Differences = false, []string{"no synchronous standby, as there was"}
			return &f
		}(), []string{"the end state matches the start"}},
		// What the way out lost is async replication's price, counted, not failed.
		{"lost on the way out", func() *Failback { f := ok; f.FailoverWritesLost = 30; return &f }(), nil},
	}
	for _, tc := range cases {
		var failed []string
		for _, c := range expectFailback(Facts{Report: &Report{Failback: tc.fb}}) {
			if !c.Passed {
				failed = append(failed, c.Name)
			}
		}
		if strings.Join(failed, ",") != strings.Join(tc.failed, ",") {
			t.Errorf("%s: failed checks %v, want %v", tc.name, failed, tc.failed)
		}
	}
}
