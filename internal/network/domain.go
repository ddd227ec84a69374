package network

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strings"
)

// Domain is a failure domain as address ranges: every IPv4 address in one of
// Include and in none of Exclude. The stack resolves names (a region, an AZ,
// internet, dns, witness) to domains; internet is Include 127.0.0.0/8 with
// every region's VPC excluded.
type Domain struct {
	Name    string // shown in rule comments and errors
	Include []netip.Prefix
	Exclude []netip.Prefix
}

// Prefixes is a domain of exactly these prefixes, named after them.
func Prefixes(prefixes ...netip.Prefix) Domain {
	names := make([]string, len(prefixes))
	for i, p := range prefixes {
		names[i] = p.String()
	}
	return Domain{Name: strings.Join(names, ","), Include: prefixes}
}

// Complement is every IPv4 address outside d: isolating a region is a
// partition between the region and its complement.
func Complement(d Domain) (Domain, error) {
	s, err := d.Set()
	if err != nil {
		return Domain{}, err
	}
	return Domain{Name: "outside " + d.Name, Include: s.Complement().Prefixes()}, nil
}

// Set is the domain's addresses. Only IPv4 prefixes are accepted: the stack
// lives on 127.0.0.0/8.
func (d Domain) Set() (AddrSet, error) {
	inc, err := setOf(d.Include)
	if err != nil {
		return AddrSet{}, fmt.Errorf("domain %s: %w", d.Name, err)
	}
	exc, err := setOf(d.Exclude)
	if err != nil {
		return AddrSet{}, fmt.Errorf("domain %s: %w", d.Name, err)
	}
	return inc.Minus(exc), nil
}

func setOf(prefixes []netip.Prefix) (AddrSet, error) {
	spans := make([]span, 0, len(prefixes))
	for _, p := range prefixes {
		if !p.IsValid() || !p.Addr().Is4() {
			return AddrSet{}, fmt.Errorf("%q is not an IPv4 prefix", p.String())
		}
		p = p.Masked()
		lo := v4(p.Addr())
		size := uint64(1) << (32 - p.Bits())
		spans = append(spans, span{lo, uint32(uint64(lo) + size - 1)})
	}
	return normalize(spans), nil
}

// AddrSet is a set of IPv4 addresses kept as sorted, disjoint, non-adjacent
// inclusive ranges. The zero value is empty.
type AddrSet struct {
	spans []span
}

type span struct{ lo, hi uint32 }

// Range is an inclusive range of IPv4 addresses.
type Range struct{ From, To netip.Addr }

// AllAddrs is every IPv4 address.
func AllAddrs() AddrSet { return AddrSet{spans: []span{{0, math.MaxUint32}}} }

// SetOf is the union of the prefixes; it panics on a non-IPv4 prefix, so it
// is for literals (tests, constants). Use Domain.Set for input.
func SetOf(prefixes ...string) AddrSet {
	ps := make([]netip.Prefix, len(prefixes))
	for i, s := range prefixes {
		ps[i] = netip.MustParsePrefix(s)
	}
	s, err := setOf(ps)
	if err != nil {
		panic(err)
	}
	return s
}

// IsEmpty reports whether the set has no address.
func (s AddrSet) IsEmpty() bool { return len(s.spans) == 0 }

// IsAll reports whether the set is every IPv4 address.
func (s AddrSet) IsAll() bool {
	return len(s.spans) == 1 && s.spans[0] == span{0, math.MaxUint32}
}

// Contains reports whether a is in the set.
func (s AddrSet) Contains(a netip.Addr) bool {
	return a.Is4() && s.contains(v4(a))
}

func (s AddrSet) contains(a uint32) bool {
	i := sort.Search(len(s.spans), func(i int) bool { return s.spans[i].hi >= a })
	return i < len(s.spans) && s.spans[i].lo <= a
}

// Union is every address in s or t.
func (s AddrSet) Union(t AddrSet) AddrSet {
	all := make([]span, 0, len(s.spans)+len(t.spans))
	all = append(append(all, s.spans...), t.spans...)
	return normalize(all)
}

// Complement is every IPv4 address not in s.
func (s AddrSet) Complement() AddrSet {
	var out []span
	next := uint64(0) // first address not yet covered
	for _, sp := range s.spans {
		if uint64(sp.lo) > next {
			out = append(out, span{uint32(next), sp.lo - 1})
		}
		next = uint64(sp.hi) + 1
	}
	if next <= math.MaxUint32 {
		out = append(out, span{uint32(next), math.MaxUint32})
	}
	return AddrSet{spans: out}
}

// Minus is every address in s and not in t.
func (s AddrSet) Minus(t AddrSet) AddrSet {
	return s.Intersect(t.Complement())
}

// Intersect is every address in both s and t.
func (s AddrSet) Intersect(t AddrSet) AddrSet {
	var out []span
	i, j := 0, 0
	for i < len(s.spans) && j < len(t.spans) {
		a, b := s.spans[i], t.spans[j]
		lo, hi := max(a.lo, b.lo), min(a.hi, b.hi)
		if lo <= hi {
			out = append(out, span{lo, hi})
		}
		if a.hi < b.hi {
			i++
		} else {
			j++
		}
	}
	return AddrSet{spans: out}
}

// Ranges lists the set's ranges in ascending order.
func (s AddrSet) Ranges() []Range {
	out := make([]Range, len(s.spans))
	for i, sp := range s.spans {
		out[i] = Range{addr(sp.lo), addr(sp.hi)}
	}
	return out
}

// Prefixes covers the set exactly with the fewest CIDR prefixes.
func (s AddrSet) Prefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, sp := range s.spans {
		lo, hi := uint64(sp.lo), uint64(sp.hi)
		for lo <= hi {
			// The largest aligned block starting at lo that fits in [lo, hi].
			bits := 32
			for bits > 0 {
				size := uint64(1) << (32 - bits + 1)
				if lo%size != 0 || lo+size-1 > hi {
					break
				}
				bits--
			}
			out = append(out, netip.PrefixFrom(addr(uint32(lo)), bits))
			lo += uint64(1) << (32 - bits)
		}
	}
	return out
}

// String shows each range of the set as a prefix when it is one and as
// "first-last" otherwise; "none" when empty.
func (s AddrSet) String() string {
	if s.IsEmpty() {
		return "none"
	}
	parts := make([]string, len(s.spans))
	for i, sp := range s.spans {
		ps := AddrSet{spans: []span{sp}}.Prefixes()
		if len(ps) == 1 {
			parts[i] = ps[0].String()
		} else {
			parts[i] = addr(sp.lo).String() + "-" + addr(sp.hi).String()
		}
	}
	return strings.Join(parts, ",")
}

// normalize sorts spans and merges overlapping and adjacent ones.
func normalize(spans []span) AddrSet {
	if len(spans) == 0 {
		return AddrSet{}
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	out := []span{spans[0]}
	for _, sp := range spans[1:] {
		last := &out[len(out)-1]
		if uint64(sp.lo) <= uint64(last.hi)+1 {
			last.hi = max(last.hi, sp.hi)
			continue
		}
		out = append(out, sp)
	}
	return AddrSet{spans: out}
}

func v4(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func addr(u uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}
