// Package vpc realises each region's VPC address plan on loopback. Linux
// routes all of 127.0.0.0/8 to the local host, so region number R (its place
// in the stack file, from 1) gets the block 127.R.0.0/16 and every address of
// its VPC keeps its lower 16 bits there: 10.0.11.10 in the first region is
// 127.1.11.10. Every load balancer, instance and database node thus has an
// address of its own, and all of them can use the same port, as on AWS.
package vpc

import (
	"fmt"
	"net/netip"

	"github.com/hastack/hastack/internal/spec"
)

// Host offsets inside a subnet. AWS reserves the first four addresses and the
// last one of every subnet; we keep clear of them too.
const (
	dbNodeHost       = 5  // database node of the AZ (private subnet)
	writerHost       = 6  // the region's database writer endpoint (first private subnet)
	readerHost       = 7  // the region's database reader endpoint (first private subnet)
	loadBalancerHost = 10 // load balancer (first public subnet)
	firstInstance    = 10 // instances from here up (private subnets)
)

// Plan is the address plan of a whole stack.
type Plan struct {
	Regions []Region
}

// Region is one region's slice of loopback.
type Region struct {
	Name string
	// Block is the region's 127.R.0.0/16.
	Block netip.Prefix
	// VPC is the CIDR from the stack file.
	VPC     netip.Prefix
	Subnets []Subnet
	// LoadBalancer is the load balancer's address (in the first public subnet).
	LoadBalancer netip.Addr
}

// Subnet is one subnet with its loopback realisation.
type Subnet struct {
	AZ       string
	Public   bool
	CIDR     netip.Prefix // as written in the stack file
	Loopback netip.Prefix // where it lives on this machine
}

// New computes the plan. It relies on the stack having been validated
// (VPCs of /16 or smaller, subnets inside them) and re-checks only what it
// needs to stay safe.
func New(s *spec.Stack) (*Plan, error) {
	if len(s.Regions) > 254 {
		return nil, fmt.Errorf("a stack has at most 254 regions, this one has %d", len(s.Regions))
	}
	p := &Plan{}
	for i, r := range s.Regions {
		block := netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(i + 1), 0, 0}), 16)
		reg := Region{Name: r.Name, Block: block, VPC: r.VPC.CIDR}
		for j, az := range r.VPC.AZs {
			for _, sub := range []struct {
				list   []netip.Prefix
				public bool
			}{{r.VPC.PublicSubnets, true}, {r.VPC.PrivateSubnets, false}} {
				if j >= len(sub.list) {
					return nil, fmt.Errorf("region %s: AZ %s has no subnet", r.Name, az)
				}
				lo, err := reg.mapPrefix(sub.list[j])
				if err != nil {
					return nil, fmt.Errorf("region %s: %w", r.Name, err)
				}
				reg.Subnets = append(reg.Subnets, Subnet{AZ: az, Public: sub.public, CIDR: sub.list[j], Loopback: lo})
			}
		}
		pub := reg.subnet(r.VPC.AZs[0], true)
		if pub == nil {
			return nil, fmt.Errorf("region %s has no public subnet", r.Name)
		}
		lb, ok := host(pub.Loopback, loadBalancerHost)
		if !ok {
			return nil, fmt.Errorf("region %s: public subnet %s is too small for a load balancer", r.Name, pub.CIDR)
		}
		reg.LoadBalancer = lb
		p.Regions = append(p.Regions, reg)
	}
	return p, nil
}

// Region returns the named region's plan, or nil.
func (p *Plan) Region(name string) *Region {
	for i := range p.Regions {
		if p.Regions[i].Name == name {
			return &p.Regions[i]
		}
	}
	return nil
}

// Map returns where a VPC address lives on loopback.
func (r *Region) Map(a netip.Addr) netip.Addr {
	b := a.As4()
	blk := r.Block.Addr().As4()
	return netip.AddrFrom4([4]byte{blk[0], blk[1], b[2], b[3]})
}

func (r *Region) mapPrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.Addr().Is4() || p.Bits() < 16 {
		return netip.Prefix{}, fmt.Errorf("subnet %s must be IPv4 and /16 or smaller", p)
	}
	return netip.PrefixFrom(r.Map(p.Masked().Addr()), p.Bits()), nil
}

func (r *Region) subnet(az string, public bool) *Subnet {
	for i := range r.Subnets {
		if r.Subnets[i].AZ == az && r.Subnets[i].Public == public {
			return &r.Subnets[i]
		}
	}
	return nil
}

// InstanceAddrs lists the private addresses instances in az may take, in
// order of preference.
func (r *Region) InstanceAddrs(az string) []netip.Addr {
	sub := r.subnet(az, false)
	if sub == nil {
		return nil
	}
	var out []netip.Addr
	for off := firstInstance; ; off++ {
		a, ok := host(sub.Loopback, off)
		if !ok {
			return out
		}
		out = append(out, a)
	}
}

// DatabaseAddr is the address of the database node placed in az.
func (r *Region) DatabaseAddr(az string) (netip.Addr, bool) {
	sub := r.subnet(az, false)
	if sub == nil {
		return netip.Addr{}, false
	}
	return host(sub.Loopback, dbNodeHost)
}

// WriterEndpoint is the address of the region's database writer endpoint,
// which always leads to the current primary, like an RDS cluster endpoint.
func (r *Region) WriterEndpoint() netip.Addr { return r.firstPrivate(writerHost) }

// ReaderEndpoint is the address of the region's database reader endpoint.
func (r *Region) ReaderEndpoint() netip.Addr { return r.firstPrivate(readerHost) }

func (r *Region) firstPrivate(offset int) netip.Addr {
	for _, sn := range r.Subnets {
		if !sn.Public {
			a, _ := host(sn.Loopback, offset)
			return a
		}
	}
	return netip.Addr{}
}

// host returns the address at offset inside p, if it is a usable host
// address (not the last one, which AWS reserves as broadcast).
func host(p netip.Prefix, offset int) (netip.Addr, bool) {
	size := 1 << (32 - p.Bits())
	if offset >= size-1 {
		return netip.Addr{}, false
	}
	b := p.Masked().Addr().As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n += uint32(offset)
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}
