package stack

import (
	"net/url"
	"os"
	"sort"
	"time"

	"github.com/hastack/hastack/internal/alb"
)

// Status is what `hastack status --json` prints. Field names are a contract
// other tools rely on; add fields, never rename them.
type Status struct {
	Name     string         `json:"name"`
	Ready    bool           `json:"ready"`
	PID      int            `json:"pid"`
	StateDir string         `json:"state_dir"`
	Uptime   float64        `json:"uptime_seconds"`
	DNS      DNSStatus      `json:"dns"`
	Regions  []RegionStatus `json:"regions"`
	Database DatabaseStatus `json:"database"`
	// Faults are the faults in place, oldest first.
	Faults  []FaultStatus `json:"faults"`
	Network NetworkStatus `json:"network"`
	Events  []Event       `json:"recent_events,omitempty"`
	// Dashboard says where the live page is (url "" when it is off).
	Dashboard DashboardStatus `json:"dashboard"`
}

type DNSStatus struct {
	Address string         `json:"address"`
	Name    string         `json:"name"`
	Zone    string         `json:"zone"`
	Answer  string         `json:"answer"`
	TTL     uint32         `json:"ttl"`
	Records []RecordStatus `json:"records"`
}

type RecordStatus struct {
	SetID           string `json:"set_id"`
	Failover        string `json:"failover"`
	Address         string `json:"address"`
	Healthy         bool   `json:"healthy"`
	CheckersHealthy int    `json:"checkers_healthy"`
	Checkers        int    `json:"checkers"`
	Reason          string `json:"reason,omitempty"`
}

type RegionStatus struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Failed: a region fault is in place; Fault says which mode.
	Failed       bool             `json:"failed"`
	Fault        string           `json:"fault,omitempty"`
	FailedAZs    []string         `json:"failed_azs,omitempty"`
	VPC          VPCStatus        `json:"vpc"`
	LoadBalancer LBStatus         `json:"load_balancer"`
	AutoScaling  *ASGStatus       `json:"autoscaling,omitempty"`
	Instances    []InstanceStatus `json:"instances"`
}

// ASGStatus is the group's capacity, CPU and alarms.
type ASGStatus struct {
	Min        int     `json:"min"`
	Max        int     `json:"max"`
	Desired    int     `json:"desired"`
	InService  int     `json:"in_service"`
	CPUPercent float64 `json:"cpu_percent"`
	// ScaleOutCPU is the scale-out alarm's threshold, in percent.
	ScaleOutCPU   float64       `json:"scale_out_cpu_percent"`
	CooldownUntil time.Time     `json:"cooldown_until,omitzero"`
	Alarms        []AlarmStatus `json:"alarms"`
}

// AlarmStatus is one CloudWatch-style alarm.
type AlarmStatus struct {
	Name   string `json:"name"`
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

type VPCStatus struct {
	CIDR     string         `json:"cidr"`
	Loopback string         `json:"loopback"`
	Subnets  []SubnetStatus `json:"subnets"`
}

type SubnetStatus struct {
	AZ       string `json:"az"`
	Kind     string `json:"kind"`
	CIDR     string `json:"cidr"`
	Loopback string `json:"loopback"`
}

type LBStatus struct {
	Address        string `json:"address"`
	Running        bool   `json:"running"`
	HealthyTargets int    `json:"healthy_targets"`
}

type InstanceStatus struct {
	ID         string  `json:"id"`
	AZ         string  `json:"az"`
	Address    string  `json:"address"`
	State      string  `json:"state"`
	Health     string  `json:"health"`
	Reason     string  `json:"reason,omitempty"`
	PID        int     `json:"pid"`
	CPUPercent float64 `json:"cpu_percent"`
	Draining   bool    `json:"draining,omitempty"`
}

type DatabaseStatus struct {
	// Engine is the stack file's: "postgres" or "mysql" (MariaDB).
	Engine         string `json:"engine"`
	WriterEndpoint string `json:"writer_endpoint"`
	// CrossRegionFailover is "manual" or "automatic", from the stack file.
	CrossRegionFailover string `json:"cross_region_failover"`
	MultiAZ             bool   `json:"multi_az"`
	// SyncStandby: a synchronous standby holds every commit now.
	SyncStandby bool             `json:"sync_standby"`
	Endpoints   []EndpointStatus `json:"endpoints"`
	Nodes       []NodeStatus     `json:"nodes"`
	// Fencing is the stack file's fencing: "none" or "lease"; Lease says
	// who holds the write lease (only with "lease").
	Fencing string       `json:"fencing"`
	Lease   *LeaseStatus `json:"lease,omitempty"`
	// CrossRegionCommit is the stack file's: "async", or "sync" when
	// commits also wait for a replica in another region.
	CrossRegionCommit string `json:"cross_region_commit"`
}

// LeaseStatus is the write lease as the witness and each region see it.
type LeaseStatus struct {
	Witness       string  `json:"witness"`
	LeaseSeconds  float64 `json:"lease_seconds"`
	Holder        string  `json:"holder"` // "" when no region holds it
	Epoch         uint64  `json:"epoch"`
	ExpiresInSecs float64 `json:"expires_in_seconds"`
	// Regions says, per region, whether it holds the lease by its own
	// count (it takes writes only then).
	Regions []RegionLease `json:"regions"`
}

// RegionLease is one region's own view of its write lease.
type RegionLease struct {
	Region    string `json:"region"`
	Held      bool   `json:"held"`
	Renewals  uint64 `json:"renewals"`
	Failures  uint64 `json:"failures"`
	LastError string `json:"last_error,omitempty"`
}

// EndpointStatus is one region's writer and reader endpoint.
type EndpointStatus struct {
	Region string `json:"region"`
	Writer string `json:"writer"`
	Reader string `json:"reader"`
}

type NodeStatus struct {
	Name       string  `json:"name"`
	Region     string  `json:"region"`
	AZ         string  `json:"az"`
	Role       string  `json:"role"`
	Address    string  `json:"address"`
	Running    bool    `json:"running"`
	LagBytes   int64   `json:"lag_bytes"`
	LagSeconds float64 `json:"lag_seconds"`
	// LagTransactions: on MariaDB, the transactions yet to apply.
	LagTransactions  int64  `json:"lag_transactions,omitempty"`
	ReplicationState string `json:"replication_state"`
	Fenced           bool   `json:"fenced"`
	// DiscardedTransactions counts what pg_rewind took back from the
	// node's data when it rejoined as a follower: transactions it had
	// committed after its history left the primary's.
	DiscardedTransactions int `json:"discarded_transactions"`
	// Restarts counts the times hastack restarted the node's server after
	// it stopped on its own; CrashLoop says it keeps stopping; LastExit
	// and LastExitAt tell how and when it last stopped on its own.
	Restarts   int       `json:"restarts"`
	CrashLoop  bool      `json:"crash_loop"`
	LastExit   string    `json:"last_exit,omitempty"`
	LastExitAt time.Time `json:"last_exit_at,omitzero"`
}

// Status assembles the current status from every part.
func (st *Stack) Status() Status {
	s := Status{
		Name:     st.spec.Name,
		Ready:    st.Ready(),
		PID:      os.Getpid(),
		StateDir: st.paths.Dir,
		Uptime:   time.Since(st.started).Seconds(),
		Events:   st.events.Recent(),
		Faults:   []FaultStatus{},
	}
	s.Dashboard = st.dashboardStatus()
	for _, a := range st.faultsNow() {
		s.Faults = append(s.Faults, a.status())
	}
	if st.domains != nil {
		s.Network = st.networkStatus()
	}
	d := st.spec.DNS
	s.DNS = DNSStatus{Address: d.Listen, Name: d.Domain, Zone: d.Zone, TTL: d.TTL}
	if st.dns != nil {
		s.DNS.Answer = st.dns.Answer().String()
	}
	if st.dnsCtl != nil {
		for _, t := range st.dnsCtl.Status() {
			s.DNS.Records = append(s.DNS.Records, RecordStatus{
				SetID: t.SetID, Failover: t.Role, Address: t.Addr.String(), Healthy: t.Healthy,
				CheckersHealthy: t.CheckersHealthy, Checkers: t.Checkers, Reason: t.Reason,
			})
		}
	}
	for _, r := range st.regions {
		s.Regions = append(s.Regions, r.status())
	}
	if st.db != nil {
		s.Database.Engine = st.spec.Database.Engine
		s.Database.WriterEndpoint = hostOfURL(st.db.WriterURL(""))
		s.Database.CrossRegionFailover = st.spec.Database.CrossRegionFailover
		s.Database.MultiAZ = st.spec.Database.MultiAZ
		s.Database.SyncStandby = st.db.SyncStandby()
		s.Database.Fencing = st.spec.Database.Fencing
		s.Database.CrossRegionCommit = st.spec.Database.CrossRegionCommit
		s.Database.Lease = st.leaseStatus()
		for _, r := range st.spec.Regions {
			s.Database.Endpoints = append(s.Database.Endpoints, EndpointStatus{Region: r.Name,
				Writer: hostOfURL(st.db.WriterURL(r.Name)), Reader: hostOfURL(st.db.ReaderURL(r.Name))})
		}
		for _, n := range st.db.Nodes() {
			s.Database.Nodes = append(s.Database.Nodes, NodeStatus{
				Name: n.Name, Region: n.Region, AZ: n.AZ, Role: string(n.Role),
				Address: n.Address, Running: n.Running, LagBytes: n.LagBytes, LagSeconds: n.LagSeconds, LagTransactions: n.LagTransactions,
				ReplicationState: n.ReplicationState, Fenced: n.Fenced, DiscardedTransactions: n.DiscardedTransactions,
				Restarts: n.Restarts, CrashLoop: n.CrashLoop, LastExit: n.LastExit, LastExitAt: n.LastExitAt,
			})
		}
	}
	return s
}

func (r *region) status() RegionStatus {
	rs := RegionStatus{
		Name: r.spec.Name,
		Role: string(r.spec.Role),
		VPC:  VPCStatus{CIDR: r.plan.VPC.String(), Loopback: r.plan.Block.String()},
	}
	for _, sn := range r.plan.Subnets {
		kind := "private"
		if sn.Public {
			kind = "public"
		}
		rs.VPC.Subnets = append(rs.VPC.Subnets, SubnetStatus{AZ: sn.AZ, Kind: kind, CIDR: sn.CIDR.String(), Loopback: sn.Loopback.String()})
	}
	lb, group, failed := r.parts()
	rs.Failed = failed
	rs.Fault = r.faultMode()
	r.mu.Lock()
	for az := range r.blockedAZs {
		rs.FailedAZs = append(rs.FailedAZs, az)
	}
	r.mu.Unlock()
	sort.Strings(rs.FailedAZs)
	rs.LoadBalancer = LBStatus{Address: r.lbAddr(), Running: lb != nil}
	if lb == nil {
		return rs
	}
	rs.LoadBalancer.HealthyTargets = lb.HealthyCount()
	targets := map[string]alb.TargetStatus{}
	for _, t := range lb.Targets() {
		targets[t.ID] = t
	}
	gs := group.Status()
	rs.AutoScaling = &ASGStatus{Min: gs.Min, Max: gs.Max, Desired: gs.Desired, InService: gs.InService, CPUPercent: gs.CPU,
		ScaleOutCPU: r.spec.AutoScaling.ScaleOut.CPUThreshold, CooldownUntil: gs.CooldownUntil}
	for _, a := range gs.Alarms {
		rs.AutoScaling.Alarms = append(rs.AutoScaling.Alarms, AlarmStatus{Name: a.Name, State: string(a.State), Reason: a.Reason})
	}
	for _, in := range group.Instances() {
		is := InstanceStatus{ID: in.ID, AZ: in.AZ, Address: in.Addr, State: string(in.State), PID: in.PID, Health: "unused", CPUPercent: in.CPU, Draining: in.Draining}
		if t, ok := targets[in.ID]; ok {
			is.Health, is.Reason = t.State, t.Reason
		}
		rs.Instances = append(rs.Instances, is)
	}
	return rs
}

// hostOfURL extracts host:port from a postgres:// URL, leaving the
// credentials behind.
func hostOfURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
