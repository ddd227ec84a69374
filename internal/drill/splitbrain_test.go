package drill

import (
	"context"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/stack"
	"github.com/hastack/hastack/internal/testenv"
)

// write is a write acknowledged (ok) or not through region's instance,
// started at offset from t0 and answered 10 ms later.
func write(key, region string, offset time.Duration, ok bool) Sample {
	return Sample{Start: t0.Add(offset), Latency: 10 * time.Millisecond, Kind: Write, OK: ok, Region: region, Key: key}
}

func TestSplitWriters(t *testing.T) {
	ms := time.Millisecond
	promoted, healed := t0.Add(5*time.Second), t0.Add(10*time.Second)
	tests := []struct {
		name     string
		samples  []Sample
		present  []string
		promoted time.Time
		healed   time.Time
		want     Writers
	}{
		{name: "nothing written", promoted: promoted},
		{
			name:     "every write kept",
			samples:  []Sample{write("a", "us-east-1", time.Second, true), write("b", "us-west-2", 6*time.Second, true)},
			present:  []string{"a", "b"},
			promoted: promoted,
		},
		{
			// The old region's writes after the promotion, none before:
			// the overlap runs to the acknowledgement of the last one.
			name: "two writers",
			samples: []Sample{
				write("a", "us-east-1", 4*time.Second, true),
				write("b", "us-east-1", 5*time.Second+500*ms, true),
				write("c", "us-west-2", 5*time.Second+600*ms, true),
				write("d", "us-east-1", 7*time.Second, true),
			},
			present:  []string{"a", "c"},
			promoted: promoted,
			want:     Writers{Divergent: 2, DivergentLost: 2, Overlap: 2*time.Second + 10*ms},
		},
		{
			// Answered after the promotion but sent before it: what counts
			// is when it was acknowledged.
			name:     "acknowledged across the promotion",
			samples:  []Sample{write("a", "us-east-1", 5*time.Second-5*ms, true)},
			promoted: promoted,
			want:     Writers{Divergent: 1, DivergentLost: 1, Overlap: 5 * ms},
		},
		{
			name:     "acknowledged just before the promotion, never replicated",
			samples:  []Sample{write("a", "us-east-1", 5*time.Second-10*ms, true), write("b", "us-east-1", 3*time.Second, true)},
			promoted: promoted,
			want:     Writers{LostBefore: 2, LastLost: promoted},
		},
		{
			// Refused by the old region while it was cut off, as lease
			// fencing makes it: neither divergent nor lost.
			name: "writes refused",
			samples: []Sample{
				write("a", "us-east-1", 6*time.Second, false),
				write("b", "us-east-1", 2*time.Second, false),
				write("c", "us-west-2", 4*time.Second, false),
				{Start: t0.Add(4 * time.Second), Kind: Write, Err: "timeout", Key: "d"},
				write("e", "us-east-1", 11*time.Second, false), // after the heal
			},
			promoted: promoted,
			healed:   healed,
			want:     Writers{Refused: 2},
		},
		{
			name:     "a divergent write found on the final primary",
			samples:  []Sample{write("a", "us-east-1", 6*time.Second, true)},
			present:  []string{"a"},
			promoted: promoted,
			want:     Writers{Divergent: 1, Overlap: time.Second + 10*ms},
		},
		{
			// Once healed, the old region's writes go to the new primary
			// (kept), or to the old one until it rejoins (lost).
			name: "after the heal",
			samples: []Sample{
				write("cut", "us-east-1", 9*time.Second, true),
				write("old", "us-east-1", 10*time.Second+200*ms, true),
				write("new", "us-east-1", 11*time.Second, true),
			},
			present:  []string{"new"},
			promoted: promoted,
			healed:   healed,
			want:     Writers{Divergent: 2, DivergentLost: 2, Overlap: 5*time.Second + 210*ms},
		},
		{
			// Sent before the heal, through the cut-off region: the old
			// primary's, even if found on the final primary.
			name:     "sent before the heal, found after",
			samples:  []Sample{write("a", "us-east-1", 10*time.Second-time.Millisecond, true)},
			present:  []string{"a"},
			promoted: promoted,
			healed:   healed,
			want:     Writers{Divergent: 1, Overlap: 5*time.Second + 9*ms},
		},
		{
			// Reads never count, even of lost keys.
			name:     "reads",
			samples:  []Sample{{Start: t0.Add(6 * time.Second), Kind: Read, OK: true, Region: "us-east-1", Key: "x", Stale: true}},
			promoted: promoted,
		},
		{
			name:     "no promotion: nothing diverges, the lost writes are lost",
			samples:  []Sample{write("a", "us-east-1", 6*time.Second, true), write("b", "us-east-1", 8*time.Second, true)},
			present:  []string{"a"},
			promoted: time.Time{},
			want:     Writers{LostBefore: 1, LastLost: t0.Add(8*time.Second + 10*ms)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			present := map[string]bool{}
			for _, k := range tt.present {
				present[k] = true
			}
			sp := Split{Region: "us-east-1", Fault: t0.Add(time.Second), Promoted: tt.promoted, Healed: tt.healed}
			if got := sp.Writers(tt.samples, present); got != tt.want {
				t.Fatalf("Writers = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// splitStatus is the quick example just before a split-brain drill,
// with the given fencing.
func splitStatus(fencing string) stack.Status {
	st := quickStatus()
	st.Database.Fencing = fencing
	if fencing == "lease" {
		st.Database.Lease = &stack.LeaseStatus{LeaseSeconds: 3, Holder: "us-east-1"}
	}
	return st
}

// splitReport is a split-brain drill's report with the fault at t0+3s,
// the promotion of db-us-west-2a 3.5 s later, the given writes and the
// lease lost (with lease fencing) 2.2 s after the cut.
func splitReport(fencing string, samples []Sample, present map[string]bool) (*Report, []stack.Event) {
	fault := t0.Add(3 * time.Second)
	events := []stack.Event{
		{Time: t0, Kind: "db_promoted", Message: "db-us-west-2a promoted: before the drill, does not count"},
		// A Multi-AZ failover inside the cut-off region is no second writer.
		{Time: fault.Add(100 * time.Millisecond), Kind: "db_promoted", Message: "db-us-east-1b promoted: it accepts writes on timeline 2"},
		{Time: fault.Add(3500 * time.Millisecond), Kind: "db_promoted", Message: "db-us-west-2a promoted: it accepts writes on timeline 2"},
	}
	if fencing == "lease" {
		events = append(events,
			stack.Event{Time: fault.Add(2200 * time.Millisecond), Kind: "db_lease_lost", Message: "us-east-1 lost its write lease: writes stop there on their own"},
			stack.Event{Time: fault.Add(9 * time.Second), Kind: "db_lease_lost", Message: "us-west-2 lost its write lease: later, another region"})
	}
	secs := 3.5
	r := &Report{FaultAt: fault, PromotionSeconds: &secs}
	r.setSplitBrain(samples, present, splitStatus(fencing), events)
	return r, events
}

func TestSetSplitBrain(t *testing.T) {
	fault := 3 * time.Second
	samples := []Sample{
		write("kept", "us-east-1", fault-time.Second, true),
		write("lag", "us-east-1", fault-20*time.Millisecond, true),
		write("cut", "us-east-1", fault+time.Second, true),
		write("new", "us-west-2", fault+4*time.Second, true),
		write("split", "us-east-1", fault+5*time.Second, true),
		write("refused", "us-east-1", fault+5*time.Second, false),
	}
	samples[3].Fresh = true
	present := map[string]bool{"kept": true, "new": true}

	r, _ := splitReport("none", samples, present)
	sb := r.SplitBrain
	if r.DivergentWrites == nil || *r.DivergentWrites != 1 || r.WritersOverlapSeconds == nil || *r.WritersOverlapSeconds != 1.51 {
		t.Fatalf("divergent %v overlap %v, want 1 write for 1.51 s", r.DivergentWrites, r.WritersOverlapSeconds)
	}
	want := SplitBrain{Region: "us-east-1", OldPrimary: "db-us-east-1a", NewPrimary: "db-us-west-2a", Fencing: "none", DivergentLost: 1, LostBeforePromotion: 2,
		WritesRefused: 1, KeptRequests: 5, FreshRequests: 1}
	if sb.PromotedSeconds == nil || *sb.PromotedSeconds != 3.5 {
		t.Fatalf("promoted %v s after the fault, want db-us-west-2a's 3.5", sb.PromotedSeconds)
	}
	got := *sb
	got.LastLostSeconds, got.PromotedSeconds = nil, nil
	if got != want {
		t.Fatalf("split brain %+v, want %+v", got, want)
	}
	if sb.LastLostSeconds == nil || *sb.LastLostSeconds < 1.009 || *sb.LastLostSeconds > 1.011 {
		t.Fatalf("last lost write %v s after the cut, want 1.01", sb.LastLostSeconds)
	}

	r, _ = splitReport("lease", samples[:4], present)
	if r.SplitBrain.NewPrimary != "db-us-west-2a" {
		t.Fatalf("new primary %q, want db-us-west-2a, not the Multi-AZ failover in us-east-1", r.SplitBrain.NewPrimary)
	}
	sb = r.SplitBrain
	if *r.DivergentWrites != 0 || *r.WritersOverlapSeconds != 0 || sb.Fencing != "lease" || sb.LeaseSeconds != 3 {
		t.Fatalf("lease: divergent %d overlap %g, %+v", *r.DivergentWrites, *r.WritersOverlapSeconds, sb)
	}
	if sb.LeaseLostSeconds == nil || *sb.LeaseLostSeconds != 2.2 {
		t.Fatalf("lease lost %v s after the cut, want us-east-1's 2.2", sb.LeaseLostSeconds)
	}

	// Fencing unreported (an older stack) reads as none.
	st := splitStatus("")
	r = &Report{FaultAt: t0}
	r.setSplitBrain(nil, nil, st, nil)
	if r.SplitBrain.Fencing != "none" || r.SplitBrain.NewPrimary != "" || *r.DivergentWrites != 0 {
		t.Fatalf("no promotion, no fencing reported: %+v", r.SplitBrain)
	}
}

func TestExpectSplitBrain(t *testing.T) {
	fault := 3 * time.Second
	cut := write("cut", "us-east-1", fault+time.Second, true)
	late := write("late", "us-east-1", fault+3100*time.Millisecond, true) // after the 3 s lease, before the promotion
	split := write("split", "us-east-1", fault+5*time.Second, true)
	tests := []struct {
		name    string
		fencing string
		samples []Sample
		change  func(f *Facts)
		failed  []string
		checks  int
	}{
		{name: "lease, nothing lost", fencing: "lease", checks: 4},
		{name: "lease, writes lost within the lease", fencing: "lease", samples: []Sample{cut}, checks: 4},
		{name: "lease, a write lost after the lease ran out", fencing: "lease", samples: []Sample{cut, late}, checks: 4, failed: []string{"writes lost only within the lease"}},
		{name: "lease, yet two writers", fencing: "lease", samples: []Sample{split}, checks: 4, failed: []string{"no second writer"}},
		// With commits waiting for the other region, even a write lost
		// within the lease fails the drill.
		{name: "lease and synchronous commits, a write lost", fencing: "lease", samples: []Sample{cut}, checks: 4,
			change: func(f *Facts) { f.Report.SplitBrain.CrossRegionCommit = "sync" }, failed: []string{"no acknowledged write lost"}},
		{name: "lease and synchronous commits, nothing lost", fencing: "lease", checks: 4,
			change: func(f *Facts) { f.Report.SplitBrain.CrossRegionCommit = "sync" }},
		{name: "lease never lost", fencing: "lease", checks: 4, change: func(f *Facts) { f.Report.SplitBrain.LeaseLostSeconds = nil },
			failed: []string{"the cut-off region stopped writes on its own"}},
		{name: "none, one writer", fencing: "none", samples: []Sample{cut}, checks: 2},
		{name: "none, two writers", fencing: "none", samples: []Sample{cut, split}, checks: 2, failed: []string{"no second writer"}},
		{name: "no promotion", fencing: "none", checks: 2, change: func(f *Facts) { f.Report.SplitBrain.NewPrimary = "" }, failed: []string{"the replica was promoted"}},
		{name: "promoted in the cut-off region", fencing: "none", checks: 2, change: func(f *Facts) { f.Report.SplitBrain.NewPrimary = "db-us-east-1b" },
			failed: []string{"the replica was promoted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, events := splitReport(tt.fencing, tt.samples, nil)
			f := Facts{Report: r, Before: splitStatus(tt.fencing), Events: events}
			if tt.change != nil {
				tt.change(&f)
			}
			checks := expectSplitBrain(f)
			if len(checks) != tt.checks {
				t.Errorf("%d checks, want %d: %+v", len(checks), tt.checks, checks)
			}
			if got := failedChecks(checks); !slices.Equal(got, tt.failed) {
				t.Errorf("failed checks %q, want %q: %+v", got, tt.failed, checks)
			}
		})
	}
	if checks := expectSplitBrain(Facts{Report: &Report{}}); len(checks) != 1 || checks[0].Passed {
		t.Errorf("unmeasured writes: %+v, want one failed check", checks)
	}
}

func TestDamage(t *testing.T) {
	fault := 3 * time.Second
	cut := write("cut", "us-east-1", fault+time.Second, true)
	split := write("split", "us-east-1", fault+5*time.Second, true)
	tests := []struct {
		name    string
		fencing string
		samples []Sample
		want    []string
		not     []string
	}{
		{"AWS's split brain", "none", []Sample{cut, split}, []string{
			"Split brain: 1 write was acknowledged through us-east-1 by the old primary db-us-east-1a for 1.51 s after db-us-west-2a's promotion",
			`With fencing = "none", as on AWS, promoting a cross-region replica leaves its source running`,
			"It is missing from the final primary, and counted among the writes lost: its rejoin as a follower (pg_rewind, or a new copy on MySQL) discards what db-us-east-1a wrote since the promotion",
			"1 write acknowledged by db-us-east-1a before the promotion, the last 1.01 s after the cut, never reached the replica",
		}, []string{"lease"}},
		{"none, by luck one writer", "none", nil, []string{`but with fencing = "none" nothing stopped one`}, []string{"Split brain", "before the promotion"}},
		{"the lease", "lease", nil, []string{
			"The write lease kept a second writer out: us-east-1 lost its lease 2.20 s after the cut and stopped writes on its own",
		}, []string{"before the promotion"}},
		{"what the lease cannot save", "lease", []Sample{cut}, []string{
			"The write lease kept a second writer out",
			"1 write acknowledged by db-us-east-1a before the promotion, the last 1.01 s after the cut, never reached the replica (replication across regions is asynchronous) and was discarded",
			"the lease bounds that loss to its duration (3 s), it cannot prevent it",
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := splitReport(tt.fencing, tt.samples, nil)
			d := r.Damage()
			for _, w := range tt.want {
				if !strings.Contains(d, w) {
					t.Errorf("damage lacks %q:\n%s", w, d)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(d, w) {
					t.Errorf("damage has %q:\n%s", w, d)
				}
			}
			var text strings.Builder
			r.WriteText(&text)
			for _, w := range []string{"divergent writes", "writers overlap"} {
				if !strings.Contains(text.String(), w) {
					t.Errorf("text report lacks %q:\n%s", w, text.String())
				}
			}
			if !strings.Contains(strings.Join(strings.Fields(text.String()), " "), strings.Join(strings.Fields(d), " ")) {
				t.Errorf("text report lacks the damage:\n%s", text.String())
			}
		})
	}
	if d := (&Report{}).Damage(); d != "" {
		t.Errorf("damage of another scenario's report: %q", d)
	}
}

// TestFreshRTO: with split-brain the RTO is that of the clients that
// follow DNS; those kept on the cut-off region fail on, and are counted
// apart.
func TestFreshRTO(t *testing.T) {
	kept := series("....xxxxxxxxxxxxxxxx")
	fresh := series("....xxx.............")
	for i := range fresh {
		fresh[i].Fresh = true
	}
	samples := append(kept, fresh...)
	for _, tt := range []struct {
		freshRTO  bool
		recovered bool
		rto       float64
	}{{false, false, 1.5}, {true, true, 0.3}} {
		r := &Report{StartedAt: t0, FaultAt: t0.Add(400 * time.Millisecond), EndedAt: t0.Add(2 * time.Second), freshRTO: tt.freshRTO}
		r.fill(samples, nil, nil, nil, nil, Options{Sustain: 500 * time.Millisecond})
		if r.Recovered != tt.recovered || math.Abs(r.RTOSeconds-tt.rto) > 1e-9 || r.Requests != 40 || r.Errors != 19 {
			t.Errorf("fresh RTO %v: recovered %v RTO %.2f s, %d requests %d errors; want %v, %.2f s, 40 and 19",
				tt.freshRTO, r.Recovered, r.RTOSeconds, r.Requests, r.Errors, tt.recovered, tt.rto)
		}
	}
	if got := FreshOnly(samples); len(got) != len(fresh) || !got[0].Fresh {
		t.Fatalf("FreshOnly kept %d of %d samples", len(got), len(samples))
	}
}

// TestLoadFreshClients: the fresh clients open a connection for each
// request, the others keep theirs.
func TestLoadFreshClients(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	load, err := NewLoad(LoadConfig{URL: srv.URL, Rate: 200, Clients: 4, Fresh: 2, WriteRatio: 0})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { load.Run(ctx); close(done) }()
	testenv.WaitFor(t, "requests from both kinds of client", 10*time.Second, func() bool {
		var fresh, kept int
		for _, s := range load.Samples() {
			if s.Fresh {
				fresh++
			} else {
				kept++
			}
		}
		return fresh >= 20 && kept >= 20
	})
	cancel()
	<-done
	fresh := len(FreshOnly(load.Samples()))
	mu.Lock()
	defer mu.Unlock()
	// One connection per fresh request, one per kept client (two).
	if conns < fresh || conns > fresh+2 {
		t.Fatalf("%d connections for %d fresh requests and 2 kept clients", conns, fresh)
	}
}

// TestSplitBrainHTML: the page shows the divergent writes and explains
// them.
func TestSplitBrainHTML(t *testing.T) {
	fault := 3 * time.Second
	r, _ := splitReport("none", []Sample{write("split", "us-east-1", fault+5*time.Second, true)}, nil)
	r.Scenario, r.StartedAt, r.EndedAt = "split-brain", t0, r.FaultAt.Add(10*time.Second)
	var page strings.Builder
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Divergent writes", "Writers overlap", `<p class="damage">Split brain: 1 write was acknowledged through us-east-1`, "as on AWS"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
