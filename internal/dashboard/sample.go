package dashboard

import (
	"encoding/json"
	"math"
	"sort"
	"time"
)

// Snapshot is the stack as a Source sees it at one moment.
type Snapshot struct {
	At time.Time
	// Status is the topology the page draws, as JSON (the stack's status
	// without its clock-driven fields, so equal states are equal bytes).
	Status json.RawMessage
	// Regions are the regions' cumulative counters and gauges.
	Regions []RegionSample
	// Nodes are the database nodes.
	Nodes []NodeSample
	// Events are the stack's events after the Source's previous Snapshot.
	Events []Event
}

// RegionSample is one region's numbers at one moment.
type RegionSample struct {
	Region string
	// Requests and Errors (5xx) count since the stack started.
	Requests, Errors float64
	// Latency is the cumulative histogram of request durations in seconds.
	Latency Histogram
	// CheckersHealthy of Checkers Route53 health checkers pass.
	CheckersHealthy, Checkers int
	// PerChecker is each Route53 checker's verdict on the region's load
	// balancer, by checker name (its source address).
	PerChecker         map[string]bool
	Desired, InService int
	// CPU is each in-service instance's CPU in percent.
	CPU map[string]float64
	// Alarms is each alarm's state: OK, ALARM or INSUFFICIENT_DATA.
	Alarms map[string]string
}

// Histogram is a cumulative Prometheus histogram: Counts[i] observations
// at most Bounds[i]; the last bound may be +Inf.
type Histogram struct {
	Bounds []float64
	Counts []float64
}

// NodeSample is one database node's replication lag.
type NodeSample struct {
	Node       string
	Region     string
	LagSeconds float64
	LagBytes   float64
}

// Event is one event of the stack's log; Marker names the chart marker it
// draws ("fault", "dns", "promotion", "recovery", "drill"), or "".
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
	Marker  string    `json:"marker,omitempty"`
}

// Point is one value of one chart series; the ID reads
// "GROUP|CHART|SERIES", e.g. "us-east-1|Requests/s|requests".
type Point struct {
	ID    string
	Value float64
}

// Chart titles, shared with the page.
const (
	chartRequests = "Requests/s"
	chartErrors   = "Error rate %"
	chartLatency  = "Latency ms"
	chartHealth   = "Route53 checkers healthy"
	chartChecker  = "Route53 health per checker"
	chartCapacity = "Auto Scaling capacity"
	chartCPU      = "CPU % per instance"
	chartAlarms   = "Alarms (1 = ALARM)"
	chartLag      = "Replication lag s"
)

// points turns two snapshots dt apart into chart values: rates and
// latency quantiles from the counters' differences, the rest as read in
// cur. A region missing from prev (or whose counters went back, after a
// restart) gets no rates for this interval.
func points(prev, cur Snapshot) []Point {
	var out []Point
	add := func(group, chart, series string, v float64) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, Point{ID: group + "|" + chart + "|" + series, Value: v})
		}
	}
	before := map[string]RegionSample{}
	for _, r := range prev.Regions {
		before[r.Region] = r
	}
	dt := cur.At.Sub(prev.At).Seconds()
	for _, r := range cur.Regions {
		g := r.Region
		if p, ok := before[g]; ok && dt > 0 && r.Requests >= p.Requests && r.Errors >= p.Errors {
			n := r.Requests - p.Requests
			add(g, chartRequests, "requests", n/dt)
			if n > 0 {
				add(g, chartErrors, "5xx", 100*(r.Errors-p.Errors)/n)
				d := r.Latency.minus(p.Latency)
				add(g, chartLatency, "p50", 1000*d.quantile(0.5))
				add(g, chartLatency, "p99", 1000*d.quantile(0.99))
			}
		}
		if r.Checkers > 0 {
			add(g, chartHealth, "healthy", float64(r.CheckersHealthy))
			add(g, chartHealth, "checkers", float64(r.Checkers))
		}
		for _, name := range sortedKeys(r.PerChecker) {
			add(g, chartChecker, name, b2f(r.PerChecker[name]))
		}
		add(g, chartCapacity, "desired", float64(r.Desired))
		add(g, chartCapacity, "in service", float64(r.InService))
		for _, id := range sortedKeys(r.CPU) {
			add(g, chartCPU, id, r.CPU[id])
		}
		for _, name := range sortedKeys(r.Alarms) {
			add(g, chartAlarms, name, alarmValue(r.Alarms[name]))
		}
	}
	for _, n := range cur.Nodes {
		add("database", chartLag, n.Node, n.LagSeconds)
	}
	return out
}

// alarmValue charts an alarm state: ALARM 1, OK 0, no data in between.
func alarmValue(state string) float64 {
	switch state {
	case "ALARM":
		return 1
	case "OK":
		return 0
	default:
		return 0.5
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// minus is the histogram of the observations made between o and h; nil
// when their buckets differ.
func (h Histogram) minus(o Histogram) Histogram {
	if len(o.Counts) != len(h.Counts) {
		return Histogram{}
	}
	d := Histogram{Bounds: h.Bounds, Counts: make([]float64, len(h.Counts))}
	for i := range h.Counts {
		d.Counts[i] = h.Counts[i] - o.Counts[i]
	}
	return d
}

// quantile estimates the q-quantile by linear interpolation inside the
// bucket that holds it, as PromQL's histogram_quantile does; NaN with no
// observations. A quantile in the +Inf bucket is the highest finite bound.
func (h Histogram) quantile(q float64) float64 {
	n := len(h.Counts)
	if n == 0 || h.Counts[n-1] <= 0 {
		return math.NaN()
	}
	rank := q * h.Counts[n-1]
	for i, c := range h.Counts {
		if c < rank {
			continue
		}
		if math.IsInf(h.Bounds[i], 1) {
			if i == 0 {
				return math.NaN()
			}
			return h.Bounds[i-1]
		}
		lo, below := 0.0, 0.0
		if i > 0 {
			lo, below = h.Bounds[i-1], h.Counts[i-1]
		}
		if c == below {
			return h.Bounds[i]
		}
		return lo + (h.Bounds[i]-lo)*(rank-below)/(c-below)
	}
	return h.Bounds[n-1]
}

// markerOf says which chart marker an event kind draws, or "".
func markerOf(kind string) string {
	switch kind {
	case "fault.inject":
		return "fault"
	case "fault.recover":
		return "recovery"
	case "dns.failover":
		return "dns"
	case "db_promoted":
		return "promotion"
	case "drill.start", "drill.done":
		return "drill"
	}
	return ""
}

// b2f charts a yes as 1 and a no as 0.
func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
