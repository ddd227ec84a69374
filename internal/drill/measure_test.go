package drill

import (
	"net/netip"
	"testing"
	"time"
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

func TestWrites(t *testing.T) {
	w := func(key string, at time.Duration) Sample {
		return Sample{Kind: Write, OK: true, Key: key, Start: t0.Add(at)}
	}
	samples := []Sample{w("a", 0), w("b", time.Second), w("c", 2*time.Second), w("d", 3*time.Second),
		{Kind: Write, OK: false, Key: "e", Start: t0.Add(4 * time.Second)}, {Kind: Read, OK: true}}
	tests := []struct {
		name  string
		lost  map[string]bool
		acked int
		lostN int
		rpo   time.Duration
	}{
		{"nothing lost", nil, 4, 0, 0},
		{"the last two lost", map[string]bool{"c": true, "d": true}, 4, 2, 2 * time.Second},
		{"the first lost", map[string]bool{"a": true}, 4, 1, 0},
		{"unacknowledged writes are not lost", map[string]bool{"e": true}, 4, 0, 0},
	}
	for _, tt := range tests {
		acked, lostN, rpo := Writes(samples, tt.lost)
		if acked != tt.acked || lostN != tt.lostN || rpo != tt.rpo {
			t.Errorf("%s: Writes = %d, %d, %v; want %d, %d, %v", tt.name, acked, lostN, rpo, tt.acked, tt.lostN, tt.rpo)
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
