package dashboard

import (
	"math"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name string
		h    Histogram
		q    float64
		want float64
	}{
		{"empty", Histogram{}, 0.5, math.NaN()},
		{"no observations", Histogram{Bounds: []float64{1, inf}, Counts: []float64{0, 0}}, 0.5, math.NaN()},
		{"first bucket", Histogram{Bounds: []float64{0.1, 1, inf}, Counts: []float64{10, 10, 10}}, 0.5, 0.05},
		{"interpolated", Histogram{Bounds: []float64{0.1, 0.2, inf}, Counts: []float64{0, 10, 10}}, 0.5, 0.15},
		{"p99 in the top bucket", Histogram{Bounds: []float64{0.1, 0.2, inf}, Counts: []float64{50, 98, 100}}, 0.99, 0.2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.h.quantile(tt.q)
			if math.IsNaN(tt.want) != math.IsNaN(got) || (!math.IsNaN(got) && math.Abs(got-tt.want) > 1e-9) {
				t.Errorf("quantile(%g) = %g, want %g", tt.q, got, tt.want)
			}
		})
	}
}

func TestPoints(t *testing.T) {
	t0 := time.Unix(1000, 0)
	bounds := []float64{0.001, 0.01, math.Inf(1)}
	prev := Snapshot{At: t0, Regions: []RegionSample{{Region: "r1", Requests: 100, Errors: 1, Latency: Histogram{bounds, []float64{50, 100, 100}}}}}
	cur := Snapshot{At: t0.Add(2 * time.Second), Regions: []RegionSample{{
		Region: "r1", Requests: 300, Errors: 11, Latency: Histogram{bounds, []float64{150, 300, 300}},
		CheckersHealthy: 2, Checkers: 3, Desired: 2, InService: 1,
		PerChecker: map[string]bool{"127.0.53.1": true, "127.0.53.2": false, "127.0.53.3": true},
		CPU:        map[string]float64{"i-1": 12.5}, Alarms: map[string]string{"high-cpu": "ALARM"},
	}}, Nodes: []NodeSample{{Node: "db-b", LagSeconds: 0.25}}}
	got := map[string]float64{}
	for _, p := range points(prev, cur) {
		got[p.ID] = p.Value
	}
	want := map[string]float64{
		"r1|Requests/s|requests":                   100,
		"r1|Error rate %|5xx":                      5,
		"r1|Latency ms|p50":                        1,
		"r1|Latency ms|p99":                        1 + 9*(198-100)/100.0,
		"r1|Route53 checkers healthy|healthy":      2,
		"r1|Route53 checkers healthy|checkers":     3,
		"r1|Route53 health per checker|127.0.53.1": 1,
		"r1|Route53 health per checker|127.0.53.2": 0,
		"r1|Route53 health per checker|127.0.53.3": 1,
		"r1|Auto Scaling capacity|desired":         2,
		"r1|Auto Scaling capacity|in service":      1,
		"r1|CPU % per instance|i-1":                12.5,
		"r1|Alarms (1 = ALARM)|high-cpu":           1,
		"database|Replication lag s|db-b":          0.25,
	}
	for id, w := range want {
		if g, ok := got[id]; !ok || math.Abs(g-w) > 1e-9 {
			t.Errorf("%s = %g (present %v), want %g", id, g, ok, w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d points, want %d: %v", len(got), len(want), got)
	}

	// Counters that went back (a restarted load balancer) give no rates.
	restarted := cur
	restarted.Regions = []RegionSample{{Region: "r1", Requests: 5}}
	for _, p := range points(cur, restarted) {
		if p.ID == "r1|Requests/s|requests" {
			t.Errorf("rate after a counter reset: %v", p)
		}
	}
}

func TestHistoryWindow(t *testing.T) {
	h := newHistory(3*time.Second, time.Second)
	t0 := time.Unix(100, 0)
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Second)
		var ev []Event
		if i == 0 || i == 4 {
			ev = []Event{{Time: at, Kind: "fault.inject", Marker: "fault"}}
		}
		h.add(at, []Point{{ID: "g|c|s", Value: float64(i)}}, ev)
	}
	c := h.columns()
	if len(c.Times) != 3 || c.Times[0] != 102 || c.Times[2] != 104 {
		t.Fatalf("times = %v, want 102..104", c.Times)
	}
	col := c.Series["g|c|s"]
	if len(col) != 3 || *col[0] != 2 || *col[2] != 4 {
		t.Errorf("series = %v", col)
	}
	if len(c.Events) != 1 || !c.Events[0].Time.Equal(t0.Add(4*time.Second)) {
		t.Errorf("events = %v, want only the one inside the window", c.Events)
	}
}
