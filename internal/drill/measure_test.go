package drill

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/ledger"
	"github.com/hastack/hastack/internal/stack"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// series builds one sample every 100ms from t0 with outcomes from a string:
// '.' success, 'x' failure.
func series(outcomes string) []Sample {
	var out []Sample
	for i, c := range outcomes {
		out = append(out, Sample{Start: t0.Add(time.Duration(i) * 100 * time.Millisecond), OK: c == '.', Latency: 10 * time.Millisecond})
	}
	return out
}

func TestRTO(t *testing.T) {
	tests := []struct {
		name      string
		outcomes  string
		fault     time.Duration
		sustain   time.Duration
		want      time.Duration
		recovered bool
	}{
		{"no failure after the fault", "..........", 200 * time.Millisecond, 300 * time.Millisecond, 0, true},
		{"failures before the fault do not count", "xx........", 300 * time.Millisecond, 300 * time.Millisecond, 0, true},
		{"outage then recovery", "..xxxx......", 200 * time.Millisecond, 300 * time.Millisecond, 400 * time.Millisecond, true},
		{"a short success run does not end the outage", "..xx..xx......", 200 * time.Millisecond, 300 * time.Millisecond, 600 * time.Millisecond, true},
		{"successes before the first failure are not the recovery", ".....xx.....", 0, 300 * time.Millisecond, 700 * time.Millisecond, true},
		{"never sustained", "..xxxx..", 200 * time.Millisecond, time.Second, 500 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, recovered := RTO(series(tt.outcomes), t0.Add(tt.fault), tt.sustain)
			if got != tt.want || recovered != tt.recovered {
				t.Fatalf("RTO = %v, %v; want %v, %v", got, recovered, tt.want, tt.recovered)
			}
		})
	}
}

// TestServedAgain: requests still waiting on a cut-off region (recorded
// only when they time out) must not let quick successes elsewhere count as
// recovery; only requests started a timeout ago are judged.
func TestServedAgain(t *testing.T) {
	fault := t0.Add(300 * time.Millisecond)
	const sustain, timeout = 500 * time.Millisecond, time.Second
	// Successes after the fault, one every 100 ms from t0; the failures
	// started at 0.3-0.5 s complete only at their timeout.
	samples := series("...xxx..............................")
	tests := []struct {
		name    string
		samples []Sample
		now     time.Duration // since t0
		want    bool
	}{
		// Every client stuck: nothing started after the fault is known.
		{"nothing since the fault settled", samples[:3:3], 2 * time.Second, false},
		// At 1.2 s the failures started at 0.3-0.5 s may still be waiting.
		{"too soon after the fault to judge", samples, 1200 * time.Millisecond, false},
		{"successes elsewhere while the failures may still wait", samples[15:20], 1500 * time.Millisecond, false},
		{"a sustained run after the failures, judged a timeout later", samples, 2500 * time.Millisecond, true},
		{"the run not yet sustained among the settled requests", samples, 1900 * time.Millisecond, false},
		{"no failure at all", series(".........................."), 1800 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ServedAgain(tt.samples, fault, t0.Add(tt.now), sustain, timeout); got != tt.want {
				t.Fatalf("ServedAgain = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestServedBy(t *testing.T) {
	samples := series("..x..")
	samples[0].Region, samples[1].Region, samples[3].Region, samples[4].Region = "us-east-1", "us-west-2", "us-east-1", ""
	got := ServedBy(samples, "us-east-1")
	var ok []bool
	for _, s := range got {
		ok = append(ok, s.OK)
	}
	if want := []bool{true, false, false, true, false}; !slices.Equal(ok, want) {
		t.Fatalf("ServedBy OKs = %v, want %v", ok, want)
	}
	if !samples[1].OK {
		t.Fatal("ServedBy changed its input")
	}
}

func TestLatencyBetween(t *testing.T) {
	var samples []Sample
	for i := 1; i <= 100; i++ {
		samples = append(samples, Sample{Start: t0.Add(time.Duration(i) * time.Millisecond), OK: true, Latency: time.Duration(i) * time.Millisecond})
	}
	samples = append(samples, Sample{Start: t0, OK: false, Latency: time.Hour})
	l := LatencyBetween(samples, t0, t0.Add(time.Second))
	if l.Requests != 100 || l.P50 != 0.050 || l.P95 != 0.095 || l.P99 != 0.099 {
		t.Fatalf("latency = %+v", l)
	}
	if empty := LatencyBetween(samples, t0.Add(time.Hour), t0.Add(2*time.Hour)); empty.Requests != 0 || empty.P99 != 0 {
		t.Fatalf("empty window = %+v", empty)
	}
}

func TestDNSSwitch(t *testing.T) {
	a := netip.MustParseAddr("127.1.1.10")
	b := netip.MustParseAddr("127.2.1.10")
	answers := []Answer{{t0, a}, {t0.Add(time.Second), a}, {t0.Add(2 * time.Second), a}, {t0.Add(3 * time.Second), b}}
	d, to, ok := DNSSwitch(answers, t0.Add(1500*time.Millisecond))
	if !ok || d != 1500*time.Millisecond || to != b {
		t.Fatalf("DNSSwitch = %v %v %v", d, to, ok)
	}
	if _, _, ok := DNSSwitch(answers[:3], t0.Add(500*time.Millisecond)); ok {
		t.Fatal("no switch reported as a switch")
	}
}

func TestVerifyWrites(t *testing.T) {
	// Writes acknowledged 10 ms after they start, one a second from t0+1s;
	// the load started at t0.
	w := func(seq int64, at time.Duration) Sample {
		return Sample{Kind: Write, OK: true, Seq: seq, Key: fmt.Sprintf("k%d", seq), Start: t0.Add(at), Latency: 10 * time.Millisecond}
	}
	samples := []Sample{w(1, time.Second), w(2, 2*time.Second), w(3, 3*time.Second), w(4, 4*time.Second),
		{Kind: Write, OK: false, Seq: 5, Key: "k5", Start: t0.Add(5 * time.Second), Latency: 2 * time.Second, Err: "timeout"},
		{Kind: Read, OK: true, Start: t0}}
	all := map[string]bool{"k1": true, "k2": true, "k3": true, "k4": true}
	without := func(keys ...string) map[string]bool {
		m := maps.Clone(all)
		for _, k := range keys {
			delete(m, k)
		}
		return m
	}
	tests := []struct {
		name    string
		present map[string]bool
		lost    int
		rpo     time.Duration
	}{
		{"nothing lost", all, 0, 0},
		{"the last two lost", without("k3", "k4"), 2, 2 * time.Second},
		// The old rule of the drill called this RPO 0: a lost write with no
		// lost write after it cost nothing. It costs the time since the
		// last survivor before it, here the start of the load.
		{"the first lost, later ones survived", without("k1"), 1, time.Second + 10*time.Millisecond},
		{"one in the middle lost", without("k3"), 1, time.Second},
		{"everything lost", map[string]bool{}, 4, 4*time.Second + 10*time.Millisecond},
		{"an unacknowledged write present is no loss", map[string]bool{"k1": true, "k2": true, "k3": true, "k4": true, "k5": true}, 0, 0},
		{"an unacknowledged write missing is no loss", without(), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := VerifyWrites(samples, tt.present, t0)
			if got.Acked != 4 || got.Lost != tt.lost || got.RPO != tt.rpo {
				t.Fatalf("VerifyWrites = %d acked, %d lost, RPO %v; want 4, %d, %v", got.Acked, got.Lost, got.RPO, tt.lost, tt.rpo)
			}
			if tt.lost > 0 && got.RPO <= 0 {
				t.Fatalf("%d writes lost with RPO %v", got.Lost, got.RPO)
			}
		})
	}
}

// TestVerifyWritesIsTheLedgerRule: the drill's verdict on writes is
// ledger.Compare's, so the two can never disagree on a loss.
func TestVerifyWritesIsTheLedgerRule(t *testing.T) {
	var samples []Sample
	var writes []ledger.Write
	present := map[string]bool{}
	seqs := map[int64]bool{}
	for i := range 50 {
		seq := int64(i + 1)
		s := Sample{Kind: Write, OK: i%7 != 3, Seq: seq, Key: fmt.Sprintf("k%d", seq),
			Start: t0.Add(time.Duration(i) * 37 * time.Millisecond), Latency: time.Duration(5+i%4) * time.Millisecond}
		samples = append(samples, s)
		outcome := ledger.Acked
		if !s.OK {
			outcome = ledger.Unknown
		}
		writes = append(writes, ledger.Write{Seq: seq, Start: s.Start, End: s.Start.Add(s.Latency), Outcome: outcome})
		if i%5 != 2 && i < 40 {
			present[s.Key], seqs[seq] = true, true
		}
	}
	got, want := VerifyWrites(samples, present, t0), ledger.Compare(writes, seqs, t0)
	if got.Acked != want.Acked || got.Lost != want.Lost || got.RPO != want.RPO || !slices.Equal(got.LostSeqs, want.LostSeqs) {
		t.Fatalf("VerifyWrites = %+v, ledger.Compare = %+v", got, want)
	}
	if got.Lost == 0 || got.RPO <= 0 {
		t.Fatalf("the case loses nothing: %+v", got)
	}
}

func TestLagAtFault(t *testing.T) {
	fault := t0.Add(5 * time.Second)
	nodes := []stack.NodeStatus{
		{Name: "db-us-east-1a", Role: "primary"},
		{Name: "db-us-east-1b", Role: "standby", LagBytes: 0, LagSeconds: 0.001},
		{Name: "db-us-west-2a", Role: "replica", LagBytes: 40960, LagSeconds: 0.42},
	}
	promoted := func(at time.Duration, node string) stack.Event {
		return stack.Event{Time: t0.Add(at), Kind: "db_promoted", Message: node + " promoted: it accepts writes on timeline 2"}
	}
	tests := []struct {
		name   string
		nodes  []stack.NodeStatus
		events []stack.Event
		want   string // node name; "" when none
	}{
		{"the replica promoted after a region loss", nodes, []stack.Event{promoted(9*time.Second, "db-us-west-2a")}, "db-us-west-2a"},
		{"the standby promoted after the primary's loss", nodes, []stack.Event{promoted(6*time.Second, "db-us-east-1b")}, "db-us-east-1b"},
		{"a promotion before the fault does not count", nodes, []stack.Event{promoted(time.Second, "db-us-east-1b")}, "db-us-west-2a"},
		{"no promotion: the node furthest behind", nodes, nil, "db-us-west-2a"},
		{"equal seconds: more bytes behind", []stack.NodeStatus{{Name: "a", Role: "replica", LagBytes: 1}, {Name: "b", Role: "replica", LagBytes: 9}}, nil, "b"},
		{"a promoted node unknown before the fault", nodes, []stack.Event{promoted(6*time.Second, "db-new")}, "db-us-west-2a"},
		{"no promotion: the watched follower", nodes, nil, "db-us-east-1b"},
		{"only a primary", nodes[:1], nil, ""},
		{"no database", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			watch := ""
			if strings.HasPrefix(tt.name, "no promotion: the watched") {
				watch = "db-us-east-1b"
			}
			got, ok := LagAtFault(tt.nodes, tt.events, fault, watch)
			if ok != (tt.want != "") || got.Name != tt.want {
				t.Fatalf("LagAtFault = %q, %v; want %q", got.Name, ok, tt.want)
			}
		})
	}
}

func TestLoss(t *testing.T) {
	tests := []struct {
		r    Report
		want string
	}{
		{Report{Fault: "region us-east-1", WritesLost: 37, RPOSeconds: 0.41, LagAtFaultNode: "db-us-west-2a", LagAtFaultRole: "replica", LagAtFaultSeconds: 0.42},
			"replica 0.42 s behind when us-east-1 was lost; 37 acknowledged writes lost; RPO 0.41 s"},
		{Report{Fault: "db-primary ", LagAtFaultNode: "db-b", LagAtFaultRole: "standby"},
			"standby 0.00 s behind when the database primary was lost; 0 acknowledged writes lost; RPO 0.00 s"},
		{Report{Fault: "cpu us-east-1", WritesLost: 1, RPOSeconds: 0.2, LagAtFaultNode: "db-c", LagAtFaultRole: "replica", LagAtFaultSeconds: 0.01},
			"replica 0.01 s behind at the fault; 1 acknowledged write lost; RPO 0.20 s"},
		{Report{Fault: "first failed request", WritesLost: 2, RPOSeconds: 1.5}, "2 acknowledged writes lost; RPO 1.50 s"},
	}
	for _, tt := range tests {
		if got := tt.r.Loss(); got != tt.want {
			t.Errorf("Loss() = %q, want %q", got, tt.want)
		}
	}
}

func TestReportStatesLagAndLoss(t *testing.T) {
	r := &Report{Scenario: "region-failure", Fault: "region us-east-1", StartedAt: t0, FaultAt: t0.Add(time.Second), EndedAt: t0.Add(3 * time.Second), Recovered: true, Passed: true}
	r.fill(series("..........xx........"), nil, nil, &ledger.Report{Acked: 90, Lost: 37, RPO: 410 * time.Millisecond}, nil, Options{Sustain: 300 * time.Millisecond})
	r.setLag([]stack.NodeStatus{{Name: "db-us-east-1a", Role: "primary"}, {Name: "db-us-west-2a", Role: "replica", LagBytes: 81920, LagSeconds: 0.42}}, nil)
	want := "replica 0.42 s behind when us-east-1 was lost; 37 acknowledged writes lost; RPO 0.41 s"

	var text bytes.Buffer
	r.WriteText(&text)
	for _, line := range []string{want, "replica lag at fault  0.42 s", "81920 bytes behind (db-us-west-2a)", "lost 37, RPO 0.41 s"} {
		if !strings.Contains(text.String(), line) {
			t.Errorf("text report lacks %q:\n%s", line, text.String())
		}
	}

	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{"writes_acked": 90.0, "writes_lost": 37.0, "rpo_seconds": 0.41,
		"lag_at_fault_bytes": 81920.0, "lag_at_fault_seconds": 0.42, "lag_at_fault_node": "db-us-west-2a"} {
		if fields[name] != v {
			t.Errorf("JSON %s = %v, want %v", name, fields[name], v)
		}
	}

	var page bytes.Buffer
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{want, "Lag at fault", "0.42 s", "replica db-us-west-2a, 81920 bytes behind"} {
		if !strings.Contains(page.String(), s) {
			t.Errorf("HTML report lacks %q", s)
		}
	}
}

func TestTimeline(t *testing.T) {
	samples := series("..xx..")
	samples[0].Region, samples[1].Region = "us-east-1", "us-east-1"
	samples[4].Region, samples[5].Region = "us-west-2", "us-west-2"
	b := Timeline(samples, t0, t0.Add(600*time.Millisecond), 200*time.Millisecond)
	if len(b) != 4 || b[0].OK["us-east-1"] != 2 || b[1].Errors != 2 || b[2].OK["us-west-2"] != 2 {
		t.Fatalf("timeline = %+v", b)
	}
}
