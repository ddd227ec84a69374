package stack

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// promCollector exports the stack's state as Prometheus metrics, read from
// Status at scrape time. The load balancers' request metrics are alb's own
// (internal/alb/metrics.go); the DNS server's query counts are route53's
// (Server.Queries), read here. Instances are labelled instance_id, since
// Prometheus gives every series of a scrape its own instance label (the
// target's address).
type promCollector struct {
	st *Stack
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descReady  = desc("hastack_stack_ready", "1 once every part of the stack has become healthy at start-up.")
	descUptime = desc("hastack_stack_uptime_seconds", "Time since the stack process started.")

	descDNSAnswer = desc("hastack_dns_answer_info", "The address the DNS server answers for the failover record (always 1), with the region it belongs to.", "name", "address", "region")
	descDNSTTL    = desc("hastack_dns_ttl_seconds", "TTL of the failover record's answers.", "name")
	descDNSQuery  = desc("hastack_dns_queries_total", "Replies of the DNS server (UDP and TCP) by the type of their question (A, AAAA, NS, SOA, TXT, other) and their rcode.", "type", "rcode")

	descR53Healthy   = desc("hastack_route53_health_check_healthy", "1 while Route53 counts the region's failover record healthy (its health check, and with evaluate_target_health its load balancer's targets).", "region", "failover")
	descR53Answering = desc("hastack_route53_record_answering", "1 for the failover record the DNS server answers with.", "region", "failover")
	descR53Checkers  = desc("hastack_route53_health_checkers", "Route53 health checkers probing the region's load balancer.", "region")
	descR53CheckersH = desc("hastack_route53_health_checkers_healthy", "Route53 health checkers whose latest verdict on the region's load balancer is healthy.", "region")
	descR53Checker   = desc("hastack_route53_checker_healthy", "1 while the checker's verdict on the record's load balancer is healthy (it flips after failure_threshold consecutive results); checker is the address it connects from.", "record", "checker")
	descR53CheckerOK = desc("hastack_route53_checker_last_check_passed", "1 if the checker's latest check of the record's load balancer passed (0 before its first).", "record", "checker")

	descRegionFailed = desc("hastack_region_failed", "1 while a region fault (isolate or crash) is in place.", "region", "mode")
	descAZFailed     = desc("hastack_az_failed", "1 while the AZ is failed (fail az).", "region", "az")
	descLBUp         = desc("hastack_alb_up", "1 while the region's load balancer is serving (0 after a crash).", "region")

	descASGDesired   = desc("hastack_asg_desired_capacity", "The Auto Scaling group's desired capacity.", "region")
	descASGMin       = desc("hastack_asg_min_size", "The Auto Scaling group's minimum size.", "region")
	descASGMax       = desc("hastack_asg_max_size", "The Auto Scaling group's maximum size.", "region")
	descASGInService = desc("hastack_asg_in_service_instances", "Instances in service in the Auto Scaling group.", "region")
	descASGPending   = desc("hastack_asg_pending_instances", "Instances launching (pending) in the Auto Scaling group.", "region")
	descASGCPU       = desc("hastack_asg_cpu_utilization_percent", "The group's average CPU at its last sample, in percent of one core.", "region")

	descInstHealthy = desc("hastack_instance_healthy", "1 while the load balancer counts the instance healthy.", "region", "az", "instance_id")
	descInstState   = desc("hastack_instance_state", "1 for the instance's lifecycle state and load balancer health.", "region", "az", "instance_id", "state", "health")
	descInstCPU     = desc("hastack_instance_cpu_utilization_percent", "The instance's CPU at its last sample, in percent of one core.", "region", "az", "instance_id")

	descAlarm = desc("hastack_alarm_state", "1 for the CloudWatch-style alarm's current state, 0 for its other states.", "region", "alarm", "state")

	descDBRole     = desc("hastack_db_node_role", "1 for the database node's current role, 0 for its other roles.", "node", "region", "az", "role")
	descDBUp       = desc("hastack_db_node_up", "1 while the database node's server runs.", "node", "region", "az")
	descDBFenced   = desc("hastack_db_node_fenced", "1 while the database node is fenced (an old primary kept from taking writes).", "node", "region", "az")
	descDBLagB     = desc("hastack_db_replication_lag_bytes", "How far the node's replay is behind the primary's WAL, in bytes (0 on the primary).", "node", "region", "az")
	descDBLagS     = desc("hastack_db_replication_lag_seconds", "How far the node's replay is behind the primary, in seconds (0 on the primary).", "node", "region", "az")
	descDBRepl     = desc("hastack_db_replication_state", "1 for the node's replication state (streaming, catching_up, stopped, ...).", "node", "region", "az", "state")
	descDBRestarts = desc("hastack_db_node_restarts_total", "Times hastack restarted the node's server after it stopped on its own.", "node", "region", "az")
	descDBDiscard  = desc("hastack_db_discarded_transactions_total", "Transactions the node had committed that pg_rewind took back when it rejoined as a follower.", "node", "region", "az")
	descDBSync     = desc("hastack_db_sync_standby", "1 while a synchronous standby holds every commit.")
	descDBPromos   = desc("hastack_db_promotions_total", "Database promotions (a new primary accepting writes) since the stack started.")

	descFaults = desc("hastack_faults_active", "Faults in place, by kind.", "kind")
	descEvents = desc("hastack_events_total", "Events of the stack's event log since it started, by kind.", "kind")

	descDrillPassed  = desc("hastack_drill_last_passed", "1 if the scenario's last drill passed, 0 if it failed.", "scenario")
	descDrillRTO     = desc("hastack_drill_last_rto_seconds", "Recovery time of the scenario's last drill.", "scenario")
	descDrillRPO     = desc("hastack_drill_last_rpo_seconds", "Recovery point of the scenario's last drill.", "scenario")
	descDrillErrRate = desc("hastack_drill_last_error_ratio", "Share of failed requests in the scenario's last drill, 0 to 1.", "scenario")
	descDrillLost    = desc("hastack_drill_last_writes_lost", "Acknowledged writes lost in the scenario's last drill.", "scenario")
	descDrillDNS     = desc("hastack_drill_last_dns_switch_seconds", "From the fault to the DNS answer changing, in the scenario's last drill.", "scenario")
	descDrillEnd     = desc("hastack_drill_last_end_timestamp_seconds", "When the scenario's last drill ended, in Unix seconds.", "scenario")
	descDrillRunning = desc("hastack_drill_running", "1 while a drill runs against the stack.", "scenario")
)

var allDescs = []*prometheus.Desc{
	descReady, descUptime, descDNSAnswer, descDNSTTL, descDNSQuery,
	descR53Healthy, descR53Answering, descR53Checkers, descR53CheckersH, descR53Checker, descR53CheckerOK,
	descRegionFailed, descAZFailed, descLBUp, descASGDesired, descASGMin, descASGMax, descASGInService, descASGPending, descASGCPU,
	descInstHealthy, descInstState, descInstCPU, descAlarm, descDBRole, descDBUp, descDBFenced, descDBLagB, descDBLagS, descDBRepl,
	descDBRestarts, descDBDiscard, descDBSync, descDBPromos, descFaults, descEvents,
	descDrillPassed, descDrillRTO, descDrillRPO, descDrillErrRate, descDrillLost, descDrillDNS, descDrillEnd, descDrillRunning,
}

func (c promCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

var (
	alarmStates = []string{"OK", "ALARM", "INSUFFICIENT_DATA"}
	dbRoles     = []string{"primary", "standby", "replica"}
)

func (c promCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.st
	s := st.Status()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge(descReady, b2f(s.Ready))
	gauge(descUptime, s.Uptime)

	answerRegion := ""
	for _, r := range s.DNS.Records {
		if r.Address == s.DNS.Answer {
			answerRegion = r.SetID
		}
		gauge(descR53Healthy, b2f(r.Healthy), r.SetID, r.Failover)
		gauge(descR53Answering, b2f(r.Address == s.DNS.Answer), r.SetID, r.Failover)
		gauge(descR53Checkers, float64(r.Checkers), r.SetID)
		gauge(descR53CheckersH, float64(r.CheckersHealthy), r.SetID)
	}
	if s.DNS.Answer != "" && s.DNS.Answer != "invalid IP" {
		gauge(descDNSAnswer, 1, s.DNS.Name, s.DNS.Answer, answerRegion)
	}
	gauge(descDNSTTL, float64(s.DNS.TTL), s.DNS.Name)
	if st.dns != nil {
		for _, q := range st.dns.Queries() {
			counter(descDNSQuery, float64(q.Count), q.Type, q.Rcode)
		}
	}
	if st.dnsCtl != nil {
		for _, t := range st.dnsCtl.Status() {
			for _, ch := range t.PerChecker {
				gauge(descR53Checker, b2f(ch.Healthy), t.SetID, ch.Name)
				gauge(descR53CheckerOK, b2f(ch.LastPassed), t.SetID, ch.Name)
			}
		}
	}

	for i, r := range s.Regions {
		gauge(descRegionFailed, b2f(r.Failed), r.Name, r.Fault)
		failedAZ := map[string]bool{}
		for _, az := range r.FailedAZs {
			failedAZ[az] = true
		}
		for _, az := range st.spec.Regions[i].VPC.AZs {
			gauge(descAZFailed, b2f(failedAZ[az]), r.Name, az)
		}
		gauge(descLBUp, b2f(r.LoadBalancer.Running), r.Name)
		if a := r.AutoScaling; a != nil {
			gauge(descASGDesired, float64(a.Desired), r.Name)
			gauge(descASGMin, float64(a.Min), r.Name)
			gauge(descASGMax, float64(a.Max), r.Name)
			gauge(descASGInService, float64(a.InService), r.Name)
			gauge(descASGCPU, a.CPUPercent, r.Name)
			for _, al := range a.Alarms {
				for _, state := range alarmStates {
					gauge(descAlarm, b2f(al.State == state), r.Name, al.Name, state)
				}
			}
		}
		if _, group, _ := st.regions[i].parts(); group != nil {
			gauge(descASGPending, float64(group.Status().Pending), r.Name)
		}
		for _, in := range r.Instances {
			gauge(descInstHealthy, b2f(in.Health == "healthy"), r.Name, in.AZ, in.ID)
			gauge(descInstState, 1, r.Name, in.AZ, in.ID, in.State, in.Health)
			gauge(descInstCPU, in.CPUPercent, r.Name, in.AZ, in.ID)
		}
	}

	if st.db != nil {
		gauge(descDBSync, b2f(s.Database.SyncStandby))
	}
	for _, n := range s.Database.Nodes {
		for _, role := range dbRoles {
			gauge(descDBRole, b2f(n.Role == role), n.Name, n.Region, n.AZ, role)
		}
		gauge(descDBUp, b2f(n.Running), n.Name, n.Region, n.AZ)
		gauge(descDBFenced, b2f(n.Fenced), n.Name, n.Region, n.AZ)
		gauge(descDBLagB, float64(n.LagBytes), n.Name, n.Region, n.AZ)
		gauge(descDBLagS, n.LagSeconds, n.Name, n.Region, n.AZ)
		if n.ReplicationState != "" {
			gauge(descDBRepl, 1, n.Name, n.Region, n.AZ, n.ReplicationState)
		}
		counter(descDBRestarts, float64(n.Restarts), n.Name, n.Region, n.AZ)
		counter(descDBDiscard, float64(n.DiscardedTransactions), n.Name, n.Region, n.AZ)
	}

	faults := map[string]int{}
	for _, f := range s.Faults {
		faults[f.Kind]++
	}
	for _, kind := range []string{FaultRegion, FaultAZ, FaultInstance, FaultDBPrimary, FaultPartition, FaultNetwork} {
		gauge(descFaults, float64(faults[kind]), kind)
	}

	counts := st.observer().counts()
	counter(descDBPromos, float64(counts["db_promoted"]))
	for _, kind := range sortedKinds(counts) {
		counter(descEvents, float64(counts[kind]), kind)
	}
	for _, d := range st.observer().drillResults() {
		if d.Running {
			gauge(descDrillRunning, 1, d.Scenario)
			continue
		}
		gauge(descDrillRunning, 0, d.Scenario)
		if d.EndedAt.IsZero() {
			continue
		}
		gauge(descDrillPassed, b2f(d.Passed), d.Scenario)
		gauge(descDrillRTO, d.RTOSeconds, d.Scenario)
		gauge(descDrillRPO, d.RPOSeconds, d.Scenario)
		gauge(descDrillErrRate, d.ErrorRate, d.Scenario)
		gauge(descDrillLost, float64(d.WritesLost), d.Scenario)
		gauge(descDrillDNS, d.DNSSwitchSeconds, d.Scenario)
		gauge(descDrillEnd, float64(d.EndedAt.UnixMilli())/1000, d.Scenario)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func sortedKinds(m map[string]uint64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// DrillResult is what `hastack drill` tells the stack about a drill it
// runs: Running at its start, then its outcome.
type DrillResult struct {
	Scenario         string    `json:"scenario"`
	Running          bool      `json:"running"`
	Passed           bool      `json:"passed"`
	RTOSeconds       float64   `json:"rto_seconds"`
	RPOSeconds       float64   `json:"rpo_seconds"`
	ErrorRate        float64   `json:"error_rate"`
	WritesLost       int       `json:"writes_lost"`
	DNSSwitchSeconds float64   `json:"dns_switch_seconds"`
	EndedAt          time.Time `json:"ended_at,omitzero"`
}

// observation follows the stack's event log for the metrics and the
// dashboard: it counts events by kind and hands out the new ones, reading
// the log's recent events rather than hooking its writer.
type observation struct {
	st *Stack

	mu     sync.Mutex
	last   Event // the newest event seen; zero before the first
	seen   bool
	kinds  map[string]uint64
	fresh  []Event // events since the dashboard last took them
	drills map[string]DrillResult
}

// poll reads the events added since the previous poll.
func (o *observation) poll() {
	recent := o.st.events.Recent()
	o.mu.Lock()
	defer o.mu.Unlock()
	start := 0
	if o.seen {
		// Everything after the newest event seen last time; if it has
		// scrolled out of the recent ones, all of them are new.
		for i := len(recent) - 1; i >= 0; i-- {
			if recent[i] == o.last {
				start = i + 1
				break
			}
		}
	}
	for _, e := range recent[start:] {
		o.kinds[e.Kind]++
		o.fresh = append(o.fresh, e)
	}
	if len(o.fresh) > recentEvents {
		o.fresh = o.fresh[len(o.fresh)-recentEvents:]
	}
	if len(recent) > 0 {
		o.last, o.seen = recent[len(recent)-1], true
	}
}

func (o *observation) counts() map[string]uint64 {
	o.poll()
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]uint64, len(o.kinds))
	for k, v := range o.kinds {
		out[k] = v
	}
	return out
}

// take returns the events since the previous take.
func (o *observation) take() []Event {
	o.poll()
	o.mu.Lock()
	defer o.mu.Unlock()
	out := o.fresh
	o.fresh = nil
	return out
}

func (o *observation) recordDrill(d DrillResult) {
	o.mu.Lock()
	o.drills[d.Scenario] = d
	o.mu.Unlock()
	if d.Running {
		o.st.events.Add("drill.start", "drill "+d.Scenario+" started")
		return
	}
	verdict := "FAILED"
	if d.Passed {
		verdict = "PASSED"
	}
	o.st.events.Add("drill.done", "drill "+d.Scenario+" "+strings.ToLower(verdict))
}

func (o *observation) drillResults() []DrillResult {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]DrillResult, 0, len(o.drills))
	for _, d := range o.drills {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Scenario < out[j].Scenario })
	return out
}
