package drill

import (
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hastack/hastack/internal/ledger"
	"github.com/hastack/hastack/internal/stack"
)

// The measurements are pure functions of what was recorded, so each
// definition is tested on its own and documented once, here.

// RTO is the time from the fault to the start of the first sustained run
// of successful requests after the first failure that followed the fault.
// A run is sustained once it spans at least sustain. With no failure after
// the fault, RTO is 0. recovered is false when no run was sustained before
// the samples end; RTO is then the time to the last sample (a lower bound).
func RTO(samples []Sample, fault time.Time, sustain time.Duration) (rto time.Duration, recovered bool) {
	after := byStart(samples, fault)
	first := slices.IndexFunc(after, func(s Sample) bool { return !s.OK })
	if first < 0 {
		return 0, true
	}
	runStart := -1
	for i := first + 1; i < len(after); i++ {
		if !after[i].OK {
			runStart = -1
			continue
		}
		if runStart < 0 {
			runStart = i
		}
		if after[i].Start.Sub(after[runStart].Start) >= sustain {
			return after[runStart].Start.Sub(fault), true
		}
	}
	if len(after) == 0 {
		return 0, false
	}
	return after[len(after)-1].Start.Sub(fault), false
}

// ServedAgain reports, at now, whether clients have been served again
// after the fault for at least sustain (RTO). It judges only requests
// started at least timeout (the longest a request takes) before now: a
// later one may still be waiting on a region that is cut off, and a run of
// quick successes elsewhere must not hide it.
func ServedAgain(samples []Sample, fault, now time.Time, sustain, timeout time.Duration) bool {
	cutoff := now.Add(-timeout)
	if cutoff.Sub(fault) < sustain {
		return false
	}
	var settled []Sample
	spans := false // the settled requests reach sustain past the fault
	for _, s := range samples {
		if !s.Start.After(cutoff) {
			settled = append(settled, s)
			spans = spans || !s.Start.Before(fault.Add(sustain))
		}
	}
	_, ok := RTO(settled, fault, sustain)
	return ok && spans
}

// ServedBy returns samples with the successes served by any region but
// region counted as failures: for recovery that must happen in region.
func ServedBy(samples []Sample, region string) []Sample {
	out := make([]Sample, len(samples))
	for i, s := range samples {
		if s.OK && s.Region != region {
			s.OK = false
		}
		out[i] = s
	}
	return out
}

// FreshOnly returns the samples of the clients that open a new connection
// for each request (Sample.Fresh).
func FreshOnly(samples []Sample) []Sample {
	var out []Sample
	for _, s := range samples {
		if s.Fresh {
			out = append(out, s)
		}
	}
	return out
}

// byStart returns the samples started at or after from, in start order.
func byStart(samples []Sample, from time.Time) []Sample {
	out := make([]Sample, 0, len(samples))
	for _, s := range samples {
		if !s.Start.Before(from) {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// Latency summarises the latency of successful requests in seconds.
type Latency struct {
	Requests int     `json:"requests"`
	P50      float64 `json:"p50_seconds"`
	P95      float64 `json:"p95_seconds"`
	P99      float64 `json:"p99_seconds"`
}

// LatencyBetween summarises successful requests started in [from, to).
func LatencyBetween(samples []Sample, from, to time.Time) Latency {
	var d []time.Duration
	for _, s := range samples {
		if s.OK && !s.Start.Before(from) && s.Start.Before(to) {
			d = append(d, s.Latency)
		}
	}
	slices.Sort(d)
	return Latency{Requests: len(d), P50: quantile(d, 0.50), P95: quantile(d, 0.95), P99: quantile(d, 0.99)}
}

// quantile of sorted durations by the nearest-rank method, in seconds.
func quantile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q*float64(len(sorted))+0.999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank].Seconds()
}

// Answer is one DNS observation.
type Answer struct {
	At   time.Time  `json:"at"`
	Addr netip.Addr `json:"addr"`
}

// DNSSwitch is the time from the fault to the first answer after it that
// differs from the last answer before it.
func DNSSwitch(answers []Answer, fault time.Time) (time.Duration, netip.Addr, bool) {
	var before netip.Addr
	for _, a := range answers {
		if a.At.Before(fault) {
			before = a.Addr
			continue
		}
		if before.IsValid() && a.Addr.IsValid() && a.Addr != before {
			return a.At.Sub(fault), a.Addr, true
		}
		if !before.IsValid() {
			before = a.Addr
		}
	}
	return 0, netip.Addr{}, false
}

// VerifyWrites judges the load's writes by the ledger's one definition of
// a lost write and of RPO (ledger.Compare): a write acknowledged by the
// application (a 2xx or 3xx answer to PUT /kv/KEY, at the end of the
// request) whose key is not present is lost, and the RPO runs from the
// acknowledgement of the last surviving write before the first lost one
// (or from started, the start of the load, when none survived before it)
// to the acknowledgement of the last lost one. present holds the keys found
// in the database after the fault.
func VerifyWrites(samples []Sample, present map[string]bool, started time.Time) ledger.Report {
	var writes []ledger.Write
	seqs := map[int64]bool{}
	for _, s := range samples {
		if s.Kind != Write {
			continue
		}
		w := ledger.Write{Seq: s.Seq, Start: s.Start, End: ackTime(s), Outcome: ledger.Acked, Err: s.Err}
		if !s.OK {
			// An HTTP client cannot tell whether a failed request's commit
			// happened: the row may or may not be there.
			w.Outcome = ledger.Unknown
		}
		writes = append(writes, w)
		if present[s.Key] {
			seqs[s.Seq] = true
		}
	}
	return ledger.Compare(writes, seqs, started)
}

func ackTime(s Sample) time.Time { return s.Start.Add(s.Latency) }

// LagAtFault picks the database node whose replication lag at the fault
// decides what the fault costs in writes: the node promoted after the
// fault (named by the first db_promoted event after it), or, without a
// promotion, watch (the follower the drill watched) when it is among
// nodes, else the standby or replica furthest behind. nodes are the
// database nodes just before the fault. ok is false when none of them was
// a standby or replica.
func LagAtFault(nodes []stack.NodeStatus, events []stack.Event, fault time.Time, watch string) (node stack.NodeStatus, ok bool) {
	for _, e := range events {
		if e.Kind != "db_promoted" || e.Time.Before(fault) {
			continue
		}
		// rds words it "<node> promoted: ...".
		name, _, _ := strings.Cut(e.Message, " ")
		for _, n := range nodes {
			if n.Name == name && n.Role != "primary" {
				return n, true
			}
		}
		break
	}
	for _, n := range nodes {
		if n.Name == watch && n.Role != "primary" {
			return n, true
		}
	}
	for _, n := range nodes {
		if n.Role == "primary" {
			continue
		}
		if !ok || n.LagSeconds > node.LagSeconds || (n.LagSeconds == node.LagSeconds && n.LagBytes > node.LagBytes) {
			node, ok = n, true
		}
	}
	return node, ok
}

// Bucket is one slice of the timeline.
type Bucket struct {
	At       time.Time      `json:"at"`
	OK       map[string]int `json:"ok_by_region"`
	Errors   int            `json:"errors"`
	P50      float64        `json:"p50_seconds"`
	Requests int            `json:"requests"`
}

// Timeline counts requests per bucket of width step from start to end, by
// serving region for successes.
func Timeline(samples []Sample, start, end time.Time, step time.Duration) []Bucket {
	if step <= 0 || !end.After(start) {
		return nil
	}
	n := int(end.Sub(start)/step) + 1
	buckets := make([]Bucket, n)
	lat := make([][]time.Duration, n)
	for i := range buckets {
		buckets[i] = Bucket{At: start.Add(time.Duration(i) * step), OK: map[string]int{}}
	}
	for _, s := range samples {
		if s.Start.Before(start) || s.Start.After(end) {
			continue
		}
		i := int(s.Start.Sub(start) / step)
		buckets[i].Requests++
		if s.OK {
			region := s.Region
			if region == "" {
				region = "unknown"
			}
			buckets[i].OK[region]++
			lat[i] = append(lat[i], s.Latency)
		} else {
			buckets[i].Errors++
		}
	}
	for i := range buckets {
		slices.Sort(lat[i])
		buckets[i].P50 = quantile(lat[i], 0.5)
	}
	return buckets
}
