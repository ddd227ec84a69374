package drill

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/stack"
)

func ptr(f float64) *float64 { return &f }

// healedPartition is what a replication-partition drill records when all
// goes to plan: a 10 s cut from t0+3s, lag up to 9.8 s, caught up 1.2 s
// after the heal, nothing lost.
func healedPartition() Facts {
	fault := t0.Add(3 * time.Second)
	r := &Report{FaultAt: fault, RecoverAt: fault.Add(10 * time.Second), WritesAcked: 300,
		MaxLagSeconds: ptr(9.8), MaxLagBytes: 123456, CatchUpSeconds: ptr(1.2)}
	id := identity{SystemID: "7714447844413054957", Started: t0.Add(-time.Hour)}
	return Facts{Report: r, InPlace: fault.Add(20 * time.Millisecond), Follower: "db-us-west-2a",
		IdentityBefore: id, IdentityAfter: id,
		Events: []stack.Event{{Time: t0, Kind: "db_node_rebuilt", Message: "before the drill: does not count"}}}
}

func failedChecks(checks []Check) []string {
	var out []string
	for _, c := range checks {
		if !c.Passed {
			out = append(out, c.Name)
		}
	}
	return out
}

func TestExpectPartitionHealed(t *testing.T) {
	tests := []struct {
		name   string
		change func(f *Facts)
		failed string // the check that fails, "" for none
	}{
		{"as planned", func(*Facts) {}, ""},
		{"DNS failed over", func(f *Facts) { f.Report.DNSSwitchSeconds, f.Report.DNSSwitchedTo = ptr(1.5), "us-west-2" }, "no DNS failover"},
		{"a promotion", func(f *Facts) {
			f.Events = append(f.Events, stack.Event{Time: f.Report.FaultAt.Add(time.Second), Kind: "db_promoted", Message: "db-us-west-2a promoted"})
		}, "no promotion"},
		// Replication did not go over the cut link: the lag never grew.
		{"the replica kept up through the cut", func(f *Facts) { f.Report.MaxLagSeconds = ptr(0.04) }, "the replica fell behind during the cut"},
		{"no lag measured", func(f *Facts) { f.Report.MaxLagSeconds = nil }, "the replica fell behind during the cut"},
		{"slow to catch up", func(f *Facts) { f.Report.CatchUpSeconds = ptr(12) }, "caught up within 10 s of the heal"},
		{"never caught up", func(f *Facts) { f.Report.CatchUpSeconds = nil }, "caught up within 10 s of the heal"},
		{"rebuilt", func(f *Facts) {
			f.Events = append(f.Events, stack.Event{Time: f.Report.RecoverAt.Add(time.Second), Kind: "db_node_rebuilding", Message: "db-us-west-2a cannot catch up"})
		}, "no rebuild"},
		{"another system", func(f *Facts) { f.IdentityAfter.SystemID = "1" }, "data directory kept"},
		{"restarted", func(f *Facts) { f.IdentityAfter.Started = f.Report.RecoverAt }, "data directory kept"},
		{"identity unread", func(f *Facts) { f.IdentityErr = errors.New("connecting to db-us-west-2a: refused") }, "data directory kept"},
		{"rows missing on the replica", func(f *Facts) { f.MissingOnFollower = 3 }, "every acknowledged write on the replica"},
		{"replica unread", func(f *Facts) { f.MissingOnFollower, f.FollowerErr = -1, errors.New("timeout") }, "every acknowledged write on the replica"},
		{"a write lost", func(f *Facts) { f.Report.WritesLost = 1 }, "no acknowledged write lost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := healedPartition()
			tt.change(&f)
			checks := expectPartitionHealed(f)
			failed := failedChecks(checks)
			want := []string{}
			if tt.failed != "" {
				want = []string{tt.failed}
			}
			if strings.Join(failed, "|") != strings.Join(want, "|") {
				t.Fatalf("failed checks %q, want %q\n%+v", failed, want, checks)
			}
		})
	}
	checks := expectPartitionHealed(healedPartition())
	if len(checks) != 8 || !strings.Contains(checks[2].Detail, "up to 9.80 s (123456 bytes) behind during a 10.0 s cut") {
		t.Fatalf("checks %+v", checks)
	}
}

func TestExpectAZIsolated(t *testing.T) {
	fault := t0.Add(3 * time.Second)
	base := func() Facts {
		return Facts{
			Report: &Report{FaultAt: fault, WritesAcked: 50, ServedByAZ: map[string]int{"us-east-1b": 40}},
			Before: quickStatus(),
			Faults: []stack.Fault{{Kind: stack.FaultPartition, Name: "us-east-1a", Other: "us-east-1"}},
			Events: []stack.Event{{Time: fault.Add(1200 * time.Millisecond), Kind: "db_promoted", Message: "db-us-east-1b promoted: it accepts writes on timeline 2"}},
		}
	}
	tests := []struct {
		name   string
		change func(f *Facts)
		failed []string
	}{
		{"as planned", func(*Facts) {}, nil},
		{"nothing promoted", func(f *Facts) { f.Events = nil }, []string{"the standby took over"}},
		{"the replica promoted", func(f *Facts) { f.Events[0].Message = "db-us-west-2a promoted" }, []string{"the standby took over"}},
		{"served from the cut off AZ", func(f *Facts) { f.Report.ServedByAZ["us-east-1a"] = 2 }, []string{"the other AZ kept serving"}},
		{"nobody served", func(f *Facts) { f.Report.ServedByAZ = nil }, []string{"the other AZ kept serving"}},
		{"writes lost", func(f *Facts) { f.Report.WritesLost = 2 }, []string{"no acknowledged write lost"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := base()
			tt.change(&f)
			checks := expectAZIsolated(f)
			if got := failedChecks(checks); strings.Join(got, "|") != strings.Join(tt.failed, "|") {
				t.Fatalf("failed checks %q, want %q\n%+v", got, tt.failed, checks)
			}
		})
	}
	if c := expectAZIsolated(base()); c[0].Detail != "db-us-east-1b (standby in us-east-1b) promoted 1.20 s after the fault" {
		t.Fatalf("detail %q", c[0].Detail)
	}
}

func TestServedByAZAndWindow(t *testing.T) {
	samples := series("..x..x....")
	for i := range samples {
		samples[i].Instance = []string{"i-1", "i-2"}[i%2]
	}
	samples[9].Instance = "i-new"
	azOf := map[string]string{"i-1": "us-east-1a", "i-2": "us-east-1b"}
	got := ServedByAZ(samples, azOf, t0.Add(200*time.Millisecond), t0.Add(time.Second))
	// Samples 2..9: 2 and 5 failed; 4, 6, 8 by i-1; 3, 7 by i-2; 9 unknown.
	if got["us-east-1a"] != 3 || got["us-east-1b"] != 2 || got["unknown"] != 1 || len(got) != 3 {
		t.Fatalf("ServedByAZ = %v", got)
	}
	w := WindowBetween(samples, t0.Add(200*time.Millisecond), t0.Add(700*time.Millisecond))
	if w.Requests != 5 || w.Errors != 2 || w.ErrorRate != 0.4 || w.Seconds != 0.5 || w.Latency.Requests != 3 {
		t.Fatalf("WindowBetween = %+v", w)
	}
}

func TestJudgeCountsChecks(t *testing.T) {
	r := &Report{Recovered: true, Checks: []Check{{Name: "a", Passed: true}}}
	r.judge()
	if !r.Passed {
		t.Fatal("a recovered drill whose checks held did not pass")
	}
	r.RecoverError = "recover region us-east-1 --mode crash: starting the database nodes: timeout"
	r.judge()
	if r.Passed {
		t.Fatal("a drill whose fault could not be undone passed")
	}
	r.RecoverError = ""
	r.Checks = append(r.Checks, Check{Name: "b"})
	r.judge()
	if r.Passed {
		t.Fatal("a drill with a failed check passed")
	}
}
