package drill

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/hastack/hastack/internal/ledger"
	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/stack"
)

// Report is a drill's result. JSON field names are a contract: add, never rename.
type Report struct {
	Scenario    string    `json:"scenario"`
	Description string    `json:"description"`
	Fault       string    `json:"fault"`
	Passed      bool      `json:"passed"`
	StartedAt   time.Time `json:"started_at"`
	FaultAt     time.Time `json:"fault_at"`
	RecoverAt   time.Time `json:"recover_at,omitzero"`
	EndedAt     time.Time `json:"ended_at"`

	// Recovered and RTOSeconds are of every client, or with split-brain
	// of the clients that open a new connection for each request (they
	// follow DNS): the others stay on the region cut off, and
	// SplitBrain counts what they saw.
	Recovered  bool    `json:"recovered"`
	RTOSeconds float64 `json:"rto_seconds"`
	// Restored: after the fault was recovered, the stack came back as it
	// was (nil when the scenario has nothing to recover).
	Restored *bool `json:"restored,omitempty"`
	// NotRestored says what was not as before when the restore wait ended.
	NotRestored string `json:"not_restored,omitempty"`
	// RecoverError says why undoing the fault failed; the drill then
	// fails, its measurements kept.
	RecoverError string `json:"recover_error,omitempty"`

	Requests     int            `json:"requests"`
	Errors       int            `json:"errors"`
	ErrorRate    float64        `json:"error_rate"`
	ErrorsByKind map[string]int `json:"errors_by_kind,omitempty"`
	StaleReads   int            `json:"stale_reads"`

	// WritesAcked, WritesLost and RPOSeconds are the ledger's verdict on
	// the load's writes (VerifyWrites).
	WritesAcked int     `json:"writes_acked"`
	WritesLost  int     `json:"writes_lost"`
	RPOSeconds  float64 `json:"rpo_seconds"`
	// LagAtFaultBytes and LagAtFaultSeconds are how far behind the primary
	// LagAtFaultNode was just before the fault, as the stack's status
	// reported it: the node promoted after the fault, or without a
	// promotion the standby or replica furthest behind (LagAtFault).
	// LagAtFaultNode is "" when no node was measured; LagAtFaultRole is
	// its role then, "standby" or "replica".
	LagAtFaultBytes   int64   `json:"lag_at_fault_bytes"`
	LagAtFaultSeconds float64 `json:"lag_at_fault_seconds"`
	LagAtFaultNode    string  `json:"lag_at_fault_node,omitempty"`
	LagAtFaultRole    string  `json:"lag_at_fault_role,omitempty"`

	// LinkDelaySeconds is the delay, one way, the drill put on the link
	// between the primary region and the replica's from before the
	// warm-up until the fault was undone (Options.LinkDelay).
	LinkDelaySeconds float64 `json:"link_delay_seconds,omitempty"`
	// LagNode is the follower whose lag the drill sampled all along (the
	// replica in another region, else the standby), straight from the
	// database nodes; Lag holds its samples (see Lag for the measure).
	LagNode string `json:"lag_node,omitempty"`
	Lag     []Lag  `json:"lag,omitempty"`
	// MaxLagSeconds and MaxLagBytes are the most LagNode trailed while the
	// fault was in place; nil when it was not measured then.
	MaxLagSeconds *float64 `json:"max_lag_seconds,omitempty"`
	MaxLagBytes   int64    `json:"max_lag_bytes,omitempty"`
	// MaxLagTransactions is the same in transactions, on MariaDB.
	MaxLagTransactions int64 `json:"max_lag_transactions,omitempty"`
	// CatchUpSeconds: from undoing the fault until LagNode was back within
	// 250 ms of its largest lag before the fault (timed scenarios).
	CatchUpSeconds *float64 `json:"catch_up_seconds,omitempty"`
	// FaultWindow is what clients saw while a timed scenario's fault was
	// in place, and UntilDNSSwitch the part of it before DNS failed over.
	FaultWindow    *Window `json:"fault_window,omitempty"`
	UntilDNSSwitch *Window `json:"until_dns_switch,omitempty"`
	// ServedByAZ counts the requests served while the fault was in place
	// by the AZ of the instance that answered (AZ scenarios).
	ServedByAZ map[string]int `json:"served_by_az_during_fault,omitempty"`
	// Checks are what the scenario expects besides recovery and the
	// objectives; the drill passes only if each held.
	Checks []Check `json:"checks,omitempty"`

	// DivergentWrites (split-brain) counts the writes the old primary
	// acknowledged after the new primary's promotion: acknowledged through
	// an instance of the old primary's region, cut off from the new one.
	// WritersOverlapSeconds runs from the promotion to the last of them,
	// 0 when there was none. Both are nil for other scenarios; SplitBrain
	// holds the rest of what the scenario measures.
	DivergentWrites       *int        `json:"divergent_writes,omitempty"`
	WritersOverlapSeconds *float64    `json:"writers_overlap_seconds,omitempty"`
	SplitBrain            *SplitBrain `json:"split_brain,omitempty"`
	// Failback is the way out and back of the failback drill (nil for
	// other scenarios).
	Failback *Failback `json:"failback,omitempty"`

	DNSSwitchSeconds *float64 `json:"dns_switch_seconds"`
	DNSSwitchedTo    string   `json:"dns_switched_to,omitempty"`
	// PromotionSeconds: from the fault to a database node's promotion
	// (the first db_promoted event after it); nil when none happened.
	PromotionSeconds *float64 `json:"promotion_seconds"`
	// ScaleOutSeconds: from the start of the CPU load until the group
	// ran at its maximum (scale-out only).
	ScaleOutSeconds *float64 `json:"scale_out_seconds,omitempty"`

	Latency    PhaseLatency `json:"latency"`
	Objectives []Objective  `json:"objectives"`
	Timeline   []Bucket     `json:"timeline"`
	Markers    []Marker     `json:"markers"`

	// freshRTO: the RTO is measured on the fresh clients' requests.
	freshRTO bool
}

// Window is what clients saw over a stretch of the drill.
type Window struct {
	Seconds   float64 `json:"seconds"`
	Requests  int     `json:"requests"`
	Errors    int     `json:"errors"`
	ErrorRate float64 `json:"error_rate"`
	// Latency of the requests served.
	Latency Latency `json:"latency"`
}

// WindowBetween summarises the requests started in [from, to).
func WindowBetween(samples []Sample, from, to time.Time) Window {
	w := Window{Seconds: to.Sub(from).Seconds(), Latency: LatencyBetween(samples, from, to)}
	for _, s := range samples {
		if s.Start.Before(from) || !s.Start.Before(to) {
			continue
		}
		w.Requests++
		if !s.OK {
			w.Errors++
		}
	}
	if w.Requests > 0 {
		w.ErrorRate = float64(w.Errors) / float64(w.Requests)
	}
	return w
}

// PhaseLatency splits latency around the outage.
type PhaseLatency struct {
	Before Latency `json:"before"`
	During Latency `json:"during"`
	After  Latency `json:"after"`
}

// Objective is one target from the stack file and whether it was met.
type Objective struct {
	Name   string  `json:"name"`
	Target float64 `json:"target"`
	Actual float64 `json:"actual"`
	Met    bool    `json:"met"`
}

// Marker is a moment worth a line on the timeline.
type Marker struct {
	At    time.Time `json:"at"`
	Kind  string    `json:"kind"`
	Label string    `json:"label"`
}

// fill computes every measurement from what the drill recorded. verified
// is the ledger's verdict on the writes (VerifyWrites); nil when they were
// not checked, and then none counts as lost.
func (r *Report) fill(samples []Sample, answers []Answer, events []stack.Event, verified *ledger.Report, regions map[netip.Addr]string, opts Options) {
	rtoOf := samples
	if r.freshRTO {
		rtoOf = FreshOnly(samples)
	}
	rto, recovered := RTO(rtoOf, r.FaultAt, opts.Sustain)
	r.Recovered, r.RTOSeconds = recovered, rto.Seconds()
	r.ErrorsByKind = map[string]int{}
	for _, s := range samples {
		r.Requests++
		if !s.OK {
			r.Errors++
			r.ErrorsByKind[s.Err]++
		}
		if s.Stale {
			r.StaleReads++
		}
	}
	if r.Requests > 0 {
		r.ErrorRate = float64(r.Errors) / float64(r.Requests)
	}
	if verified != nil {
		r.WritesAcked, r.WritesLost, r.RPOSeconds = verified.Acked, verified.Lost, verified.RPO.Seconds()
	} else {
		for _, s := range samples {
			if s.Kind == Write && s.OK {
				r.WritesAcked++
			}
		}
	}
	if d, to, ok := DNSSwitch(answers, r.FaultAt); ok {
		secs := d.Seconds()
		r.DNSSwitchSeconds, r.DNSSwitchedTo = &secs, regions[to]
		r.Markers = append(r.Markers, Marker{At: r.FaultAt.Add(d), Kind: "dns", Label: "DNS answers " + regions[to]})
	}
	recoveredAt := r.FaultAt.Add(rto)
	r.Latency = PhaseLatency{
		Before: LatencyBetween(samples, r.StartedAt, r.FaultAt),
		During: LatencyBetween(samples, r.FaultAt, recoveredAt),
		After:  LatencyBetween(samples, recoveredAt, r.EndedAt),
	}
	r.Timeline = Timeline(samples, r.StartedAt, r.EndedAt, timelineStep(r.EndedAt.Sub(r.StartedAt)))
	r.Markers = append(r.Markers, Marker{At: r.FaultAt, Kind: "fault", Label: "fault: " + r.Fault})
	if recovered && rto > 0 {
		r.Markers = append(r.Markers, Marker{At: recoveredAt, Kind: "recovered", Label: "clients served again"})
	}
	if !r.RecoverAt.IsZero() {
		r.Markers = append(r.Markers, Marker{At: r.RecoverAt, Kind: "recover", Label: "fault recovered"})
	}
	r.Markers = append(r.Markers, eventMarkers(events, r.StartedAt, r.EndedAt)...)
	for _, e := range events {
		if e.Kind == "db_promoted" && !e.Time.Before(r.FaultAt) {
			secs := e.Time.Sub(r.FaultAt).Seconds()
			r.PromotionSeconds = &secs
			r.Markers = append(r.Markers, Marker{At: e.Time, Kind: "promotion", Label: e.Message})
			break
		}
	}
	sort.SliceStable(r.Markers, func(i, j int) bool { return r.Markers[i].At.Before(r.Markers[j].At) })
	r.Objectives = objectives(opts.Objectives, r)
	r.judge()
}

// judge sets Passed: recovered, every objective met, every check held.
func (r *Report) judge() {
	r.Passed = r.Recovered
	for _, o := range r.Objectives {
		r.Passed = r.Passed && o.Met
	}
	for _, c := range r.Checks {
		r.Passed = r.Passed && c.Passed
	}
	r.Passed = r.Passed && r.RecoverError == ""
}

// withLag returns nodes with the lag of each node measured in lags (the
// latest sample of it) in place of the lag the status reported.
func withLag(nodes []stack.NodeStatus, lags []Lag) []stack.NodeStatus {
	out := append([]stack.NodeStatus(nil), nodes...)
	for i, n := range out {
		for _, l := range lags {
			if l.Node == n.Name {
				out[i].LagBytes, out[i].LagSeconds = l.Bytes, l.Seconds
			}
		}
	}
	return out
}

// setLag records the replication lag at the fault of the node LagAtFault
// picks from nodes, the database just before the fault (withLag), with
// LagNode as the watched follower.
func (r *Report) setLag(nodes []stack.NodeStatus, events []stack.Event) {
	n, ok := LagAtFault(nodes, events, r.FaultAt, r.LagNode)
	if !ok {
		return
	}
	r.LagAtFaultBytes, r.LagAtFaultSeconds, r.LagAtFaultNode, r.LagAtFaultRole = n.LagBytes, n.LagSeconds, n.Name, n.Role
}

// Loss says in one sentence what the fault cost in writes, e.g. "replica
// 0.42 s behind when us-east-1 was lost; 37 acknowledged writes lost; RPO
// 0.41 s". The lag is left out when it was not measured.
func (r *Report) Loss() string {
	writes := fmt.Sprintf("%d acknowledged writes lost; RPO %.2f s", r.WritesLost, r.RPOSeconds)
	if r.WritesLost == 1 {
		writes = fmt.Sprintf("1 acknowledged write lost; RPO %.2f s", r.RPOSeconds)
	}
	if r.LagAtFaultNode == "" {
		return writes
	}
	role := r.LagAtFaultRole
	if role == "" {
		role = "replica"
	}
	return fmt.Sprintf("%s %.2f s behind %s; %s", role, r.LagAtFaultSeconds, faultMoment(r.Fault), writes)
}

// faultMoment words the moment of a fault ("region us-east-1", or several
// separated by "; ") for Loss.
func faultMoment(fault string) string {
	parts := strings.Split(strings.TrimSpace(fault), "; ")
	fields := strings.Fields(parts[0])
	kind, name := "", ""
	if len(fields) > 0 {
		kind = fields[0]
	}
	if len(fields) > 1 {
		name = fields[1]
	}
	switch {
	case kind == "db-primary":
		return "when the database primary was lost"
	case kind == "partition" && len(parts) > 1:
		for _, p := range parts[1:] {
			if f := strings.Fields(p); len(f) < 2 || f[0] != "partition" || f[1] != name {
				return "at the fault"
			}
		}
		return "when " + name + " was cut off"
	case kind == "partition" && len(fields) > 2:
		return "when " + name + " and " + fields[2] + " were cut apart"
	case name != "" && (kind == "region" || kind == "az" || kind == "instance"):
		return "when " + name + " was lost"
	}
	return "at the fault"
}

// timelineStep aims at about 120 buckets, never finer than 100ms.
func timelineStep(span time.Duration) time.Duration {
	return max(100*time.Millisecond, (span / 120).Round(100*time.Millisecond))
}

// eventMarkers picks the stack events a timeline reader wants to see:
// health flips, failovers, database role changes and scaling — not
// routine registrations or alarm states (scaling shows what alarms did).
func eventMarkers(events []stack.Event, from, to time.Time) []Marker {
	var out []Marker
	for _, e := range events {
		if e.Time.Before(from) || e.Time.After(to) || !notable(e) {
			continue
		}
		out = append(out, Marker{At: e.Time, Kind: e.Kind, Label: e.Message})
	}
	return out
}

func notable(e stack.Event) bool {
	switch {
	case e.Kind == "dns.health", e.Kind == "dns.failover", e.Kind == "asg.unhealthy", strings.HasPrefix(e.Kind, "asg.scale"):
		return true
	case e.Kind == "alb.target":
		return strings.HasSuffix(e.Message, " unhealthy") || strings.Contains(e.Message, " unhealthy ")
	case strings.HasPrefix(e.Kind, "db_"):
		return e.Kind != "db_promoted" && e.Kind != "db_node_starting" && e.Kind != "db_node_ready"
	case strings.HasPrefix(e.Kind, "fault."):
		return false // the drill marks its own fault and recovery
	}
	return false
}

// objectives compares the results with the stack file's objectives.
func objectives(o spec.Objectives, r *Report) []Objective {
	out := []Objective{}
	if o.RTO > 0 {
		out = append(out, Objective{Name: "rto_seconds", Target: o.RTO.Seconds(), Actual: r.RTOSeconds, Met: r.Recovered && r.RTOSeconds <= o.RTO.Seconds()})
	}
	if o.RPOSet {
		out = append(out, Objective{Name: "rpo_seconds", Target: o.RPO.Seconds(), Actual: r.RPOSeconds, Met: r.RPOSeconds <= o.RPO.Seconds() && (o.RPO > 0 || r.WritesLost == 0)})
	}
	if o.MaxErrorRateSet {
		out = append(out, Objective{Name: "error_rate", Target: o.MaxErrorRate, Actual: r.ErrorRate, Met: r.ErrorRate <= o.MaxErrorRate})
	}
	return out
}

// maxLagAmount is how far LagNode trailed at most during the fault, in
// its engine's unit: bytes of WAL, or transactions on MariaDB.
func (r *Report) maxLagAmount() string {
	if r.MaxLagTransactions > 0 {
		return plural(int(r.MaxLagTransactions), "transaction", "transactions")
	}
	return fmt.Sprintf("%d bytes", r.MaxLagBytes)
}
