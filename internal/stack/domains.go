package stack

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/hastack/hastack/internal/network"
	"github.com/hastack/hastack/internal/route53"
	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/vpc"
)

// The failure domains outside the regions.
const (
	// DomainInternet is every address outside every region: clients, the
	// operator (127.0.0.1), the Route53 health checkers, a witness.
	DomainInternet = "internet"
	// DomainDNS is the Route53 health checkers' addresses only.
	DomainDNS = "dns"
	// DomainWitness is where a fencing witness lives.
	DomainWitness = "witness"
)

// WitnessPrefix holds a fencing witness's addresses, in the internet
// domain and apart from the health checkers.
var WitnessPrefix = netip.MustParsePrefix("127.0.99.0/24")

// operatorAddr is where the operator, and hastack's own tools, connect
// from: the address the kernel picks for a loopback destination.
var operatorAddr = netip.MustParsePrefix("127.0.0.1/32")

// DomainNames lists the failure domains a fault may name, in the order
// the stack file declares them: each region, each AZ, then internet, dns
// and witness.
func DomainNames(s *spec.Stack) []string {
	var names []string
	for _, r := range s.Regions {
		names = append(names, r.Name)
	}
	for _, r := range s.Regions {
		names = append(names, r.VPC.AZs...)
	}
	return append(names, DomainInternet, DomainDNS, DomainWitness)
}

// UnknownDomain is the sentence refusing a name that is no failure domain
// of the stack, or "" when name is one.
func UnknownDomain(s *spec.Stack, name string) string {
	names := DomainNames(s)
	if slices.Contains(names, name) {
		return ""
	}
	return fmt.Sprintf("unknown failure domain %q; stack %s has %s", name, s.Name, strings.Join(names, ", "))
}

// domains resolves failure domain names to their addresses on the plan.
type domains struct {
	byName  map[string]network.Domain
	regions map[string]network.Domain
	names   []string
}

// newDomains lays the failure domains on the address plan: a region is its
// 127.R.0.0/16; an AZ is its public and private subnets, less the
// region's load balancer and database endpoints, which serve the whole
// region from every AZ as AWS's do; internet is every address outside the
// regions; dns is the Route53 checkers' prefix; witness is WitnessPrefix.
func newDomains(plan *vpc.Plan) (*domains, error) {
	d := &domains{byName: map[string]network.Domain{}, regions: map[string]network.Domain{}}
	add := func(dom network.Domain) error {
		if _, dup := d.byName[dom.Name]; dup {
			return fmt.Errorf("two failure domains are named %q", dom.Name)
		}
		d.byName[dom.Name] = dom
		d.names = append(d.names, dom.Name)
		return nil
	}
	var blocks []netip.Prefix
	for _, r := range plan.Regions {
		dom := network.Domain{Name: r.Name, Include: []netip.Prefix{r.Block}}
		if err := add(dom); err != nil {
			return nil, err
		}
		d.regions[r.Name] = dom
		blocks = append(blocks, r.Block)
	}
	for _, r := range plan.Regions {
		regional := []netip.Prefix{netip.PrefixFrom(r.LoadBalancer, 32)}
		for _, a := range []netip.Addr{r.WriterEndpoint(), r.ReaderEndpoint()} {
			if a.IsValid() {
				regional = append(regional, netip.PrefixFrom(a, 32))
			}
		}
		var azs []string
		byAZ := map[string][]netip.Prefix{}
		for _, sn := range r.Subnets {
			if _, seen := byAZ[sn.AZ]; !seen {
				azs = append(azs, sn.AZ)
			}
			byAZ[sn.AZ] = append(byAZ[sn.AZ], sn.Loopback)
		}
		for _, az := range azs {
			if err := add(network.Domain{Name: az, Include: byAZ[az], Exclude: regional}); err != nil {
				return nil, err
			}
		}
	}
	internet := network.Domain{Name: DomainInternet, Include: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Exclude: blocks}
	for _, dom := range []network.Domain{
		internet,
		{Name: DomainDNS, Include: []netip.Prefix{route53.CheckerPrefix}},
		{Name: DomainWitness, Include: []netip.Prefix{WitnessPrefix}},
	} {
		if err := add(dom); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// lookup returns the named failure domain.
func (d *domains) lookup(name string) (network.Domain, error) {
	if dom, ok := d.byName[name]; ok {
		return dom, nil
	}
	return network.Domain{}, fmt.Errorf("unknown failure domain %q; this stack has %s", name, strings.Join(d.names, ", "))
}

// apart makes two domains disjoint for a rule between them: when one lies
// inside the other, the outer one loses the inner one (us-east-1 and
// us-east-1a: the rest of the region and that AZ); when they overlap
// otherwise, both lose what they share. The same domain twice, or two
// names for the same addresses, is refused.
func apart(a, b network.Domain) (network.Domain, network.Domain, error) {
	as, err := a.Set()
	if err != nil {
		return a, b, err
	}
	bs, err := b.Set()
	if err != nil {
		return a, b, err
	}
	both := as.Intersect(bs)
	switch {
	case both.IsEmpty():
		return a, b, nil
	case as.Minus(bs).IsEmpty() && bs.Minus(as).IsEmpty():
		return a, b, fmt.Errorf("%s and %s are the same addresses; name two different failure domains", a.Name, b.Name)
	case as.Minus(bs).IsEmpty(): // a inside b
		return a, narrowed(b, bs.Minus(as)), nil
	case bs.Minus(as).IsEmpty(): // b inside a
		return narrowed(a, as.Minus(bs)), b, nil
	default:
		return narrowed(a, as.Minus(both)), narrowed(b, bs.Minus(both)), nil
	}
}

func narrowed(d network.Domain, s network.AddrSet) network.Domain {
	return network.Domain{Name: d.Name, Include: s.Prefixes()}
}
