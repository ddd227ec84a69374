package stack

import (
	"net/url"
	"os"
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
	Events   []Event        `json:"recent_events,omitempty"`
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
	Name         string           `json:"name"`
	Role         string           `json:"role"`
	Failed       bool             `json:"failed"`
	VPC          VPCStatus        `json:"vpc"`
	LoadBalancer LBStatus         `json:"load_balancer"`
	Instances    []InstanceStatus `json:"instances"`
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
	ID      string `json:"id"`
	AZ      string `json:"az"`
	Address string `json:"address"`
	State   string `json:"state"`
	Health  string `json:"health"`
	Reason  string `json:"reason,omitempty"`
	PID     int    `json:"pid"`
}

type DatabaseStatus struct {
	WriterEndpoint string       `json:"writer_endpoint"`
	Nodes          []NodeStatus `json:"nodes"`
}

type NodeStatus struct {
	Name     string `json:"name"`
	Region   string `json:"region"`
	AZ       string `json:"az"`
	Role     string `json:"role"`
	Address  string `json:"address"`
	Running  bool   `json:"running"`
	LagBytes int64  `json:"lag_bytes"`
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
		s.Database.WriterEndpoint = hostOfURL(st.db.WriterURL())
		for _, n := range st.db.Nodes() {
			s.Database.Nodes = append(s.Database.Nodes, NodeStatus{
				Name: n.Name, Region: n.Region, AZ: n.AZ, Role: string(n.Role),
				Address: n.Address, Running: n.Running, LagBytes: n.LagBytes,
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
	rs.LoadBalancer = LBStatus{Address: r.lbAddr(), Running: lb != nil}
	if lb == nil {
		return rs
	}
	rs.LoadBalancer.HealthyTargets = lb.HealthyCount()
	targets := map[string]alb.TargetStatus{}
	for _, t := range lb.Targets() {
		targets[t.ID] = t
	}
	for _, in := range group.Instances() {
		is := InstanceStatus{ID: in.ID, AZ: in.AZ, Address: in.Addr, State: string(in.State), PID: in.PID, Health: "unused"}
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
