package stack

import (
	"fmt"
	"net/netip"

	"github.com/hastack/hastack/internal/network"
	"github.com/hastack/hastack/internal/rds"
	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/vpc"
)

// The decisions in this file are pure: what the stack's network must be,
// from the stack file, its address plan and the faults in place. The
// network package makes the kernel enforce it.

// securityGroups are the seed's security groups, enforced at the receiving
// addresses:
//   - a load balancer accepts its listener port from anywhere (no rule);
//   - an instance accepts its port, and the target health check's port,
//     only from its region's load balancer (whose address the group also
//     checks new instances from);
//   - a database node and an endpoint accept the database port only from
//     their VPC, their replication peers (every database node and
//     endpoint, which relay writes to the primary wherever it is) and the
//     operator.
func securityGroups(s *spec.Stack, plan *vpc.Plan, nodes []rds.NodeConfig, endpoints []rds.EndpointConfig) ([]network.SecurityGroup, error) {
	var groups []network.SecurityGroup
	operator := network.Domain{Name: "operator", Include: []netip.Prefix{operatorAddr}}
	var peers []netip.Prefix
	for _, n := range nodes {
		peers = append(peers, netip.PrefixFrom(n.Addr, 32))
	}
	for _, ep := range endpoints {
		peers = append(peers, netip.PrefixFrom(ep.Writer, 32), netip.PrefixFrom(ep.Reader, 32))
	}
	replication := network.Domain{Name: "database peers", Include: peers}

	for i, r := range s.Regions {
		rp := plan.Region(r.Name)
		if rp == nil {
			return nil, fmt.Errorf("region %s is not in the address plan", r.Name)
		}
		var addrs network.AddrSet
		for _, az := range r.VPC.AZs {
			for _, a := range rp.InstanceAddrs(az) {
				addrs = addrs.Union(network.SetOf(netip.PrefixFrom(a, 32).String()))
			}
		}
		if addrs.IsEmpty() {
			return nil, fmt.Errorf("region %s has no address for instances", r.Name)
		}
		lb := network.Domain{Name: r.Name + " load balancer", Include: []netip.Prefix{netip.PrefixFrom(rp.LoadBalancer, 32)}}
		ports := []int{r.AutoScaling.LaunchTemplate.Port}
		if hc := r.LoadBalancer.HealthCheck.Port; hc != 0 && hc != ports[0] {
			ports = append(ports, hc)
		}
		for _, port := range ports {
			groups = append(groups, network.SecurityGroup{
				Name:  "instances " + r.Name,
				Dest:  addrs.Prefixes(),
				Port:  uint16(port),
				Allow: []network.Domain{lb},
			})
		}

		var db []netip.Prefix
		for _, n := range nodes {
			if n.Region == r.Name {
				db = append(db, netip.PrefixFrom(n.Addr, 32))
			}
		}
		for _, ep := range endpoints {
			if ep.Region == r.Name {
				db = append(db, netip.PrefixFrom(ep.Writer, 32), netip.PrefixFrom(ep.Reader, 32))
			}
		}
		if len(db) == 0 {
			continue
		}
		vpcDomain := network.Domain{Name: r.Name + " VPC", Include: []netip.Prefix{plan.Regions[i].Block}}
		groups = append(groups, network.SecurityGroup{
			Name:  "database " + r.Name,
			Dest:  db,
			Port:  uint16(s.Database.Port),
			Allow: []network.Domain{vpcDomain, replication, operator},
		})
	}
	return groups, nil
}

// distance is the delay between every two regions: half the round trip
// each way, the measured one between the AWS regions of the same names
// with inter_region_latency = "auto", the stack file's otherwise, none for
// "0s".
func distance(n spec.Network, regions map[string]network.Domain) []network.Shape {
	rtt := network.MeasuredRTT
	if !n.InterRegionAuto {
		rtt = network.FixedRTT(n.InterRegionLatency)
	}
	return network.InterRegion(regions, rtt)
}

// networkState is the network the stack must have with these faults in
// place: the base (security groups and distance) with, for each fault,
// its rules: an isolated or crashed region is partitioned from everything
// outside it;
// a partition drops what it names; a network fault adds its delay, jitter
// and loss to whatever else applies. Other faults have no rules.
func networkState(base network.State, faults []Fault, doms *domains) (network.State, error) {
	st := network.State{
		Partitions:     append([]network.Partition(nil), base.Partitions...),
		SecurityGroups: append([]network.SecurityGroup(nil), base.SecurityGroups...),
		Shapes:         append([]network.Shape(nil), base.Shapes...),
	}
	for _, f := range faults {
		switch {
		case f.Kind == FaultRegion:
			r, err := doms.lookup(f.Name)
			if err != nil {
				return network.State{}, err
			}
			outside, err := network.Complement(r)
			if err != nil {
				return network.State{}, err
			}
			st.Partitions = append(st.Partitions, network.Partition{A: r, B: outside})
		case f.Kind == FaultPartition:
			a, b, err := pair(doms, f.Name, f.Other)
			if err != nil {
				return network.State{}, err
			}
			st.Partitions = append(st.Partitions, network.Partition{A: a, B: b, OneWay: f.OneWay})
		case f.Kind == FaultNetwork:
			sh := network.Shape{Delay: f.Delay, Jitter: f.Jitter, Loss: f.Loss}
			if f.Other == "" {
				a, err := doms.lookup(f.Name)
				if err != nil {
					return network.State{}, err
				}
				sh.A = a
			} else {
				a, b, err := pair(doms, f.Name, f.Other)
				if err != nil {
					return network.State{}, err
				}
				sh.A, sh.B = a, &b
			}
			st.Shapes = append(st.Shapes, sh)
		}
	}
	return st, nil
}

// pair looks two domains up and makes them disjoint (see apart).
func pair(doms *domains, a, b string) (network.Domain, network.Domain, error) {
	da, err := doms.lookup(a)
	if err != nil {
		return da, network.Domain{}, err
	}
	db, err := doms.lookup(b)
	if err != nil {
		return da, db, err
	}
	return apart(da, db)
}

// reachable reports whether the state's partitions let packets go from
// one address to another.
func reachable(st network.State, from, to netip.Addr) bool {
	in := func(d network.Domain, a netip.Addr) bool {
		s, err := d.Set()
		return err == nil && s.Contains(a)
	}
	for _, p := range st.Partitions {
		if in(p.A, from) && in(p.B, to) {
			return false
		}
		if !p.OneWay && in(p.B, from) && in(p.A, to) {
			return false
		}
	}
	return true
}
