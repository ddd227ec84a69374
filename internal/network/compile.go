package network

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"
)

// Verdict is what a rule does with the packets it matches.
type Verdict int

const (
	// Drop discards the packet.
	Drop Verdict = iota + 1
	// Impair hands the packet to the enforcer, which delays or drops it
	// according to the plan's impairments.
	Impair
)

func (v Verdict) String() string {
	switch v {
	case Drop:
		return "drop"
	case Impair:
		return "impair"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// Rule is one nftables rule: a packet from Src to Dst (and, when Port is
// set, TCP to that port) gets the verdict. With Opening, only packets that
// open a TCP connection (SYN without ACK) are matched.
type Rule struct {
	Comment string
	Src     AddrSet
	Dst     AddrSet
	Port    uint16
	Opening bool
	Verdict Verdict
}

// Impairment is what happens to packets between A and B, either way.
type Impairment struct {
	Comment string
	A, B    AddrSet
	Effect
}

// Effect is what happens to one packet.
type Effect struct {
	Delay  time.Duration
	Jitter time.Duration
	Loss   float64 // percent
}

// IsZero reports whether the effect leaves a packet alone.
func (e Effect) IsZero() bool { return e.Delay == 0 && e.Jitter == 0 && e.Loss == 0 }

// Plan is a State compiled: the rules in the order the chain holds them,
// and the impairments the enforcer applies to the packets Impair rules hand
// it.
type Plan struct {
	Rules       []Rule
	Impairments []Impairment
}

// Compile turns the desired state into a plan. Drops come first, so a
// partitioned or refused packet is never delayed: partitions, then security
// groups, then the Impair rules. A rule whose source or destination is empty
// matches nothing and is left out.
func Compile(s State) (Plan, error) {
	var p Plan
	for _, part := range s.Partitions {
		a, err := part.A.Set()
		if err != nil {
			return Plan{}, fmt.Errorf("partition %s/%s: %w", part.A.Name, part.B.Name, err)
		}
		b, err := part.B.Set()
		if err != nil {
			return Plan{}, fmt.Errorf("partition %s/%s: %w", part.A.Name, part.B.Name, err)
		}
		p.add(Rule{Comment: "partition " + part.A.Name + " -> " + part.B.Name, Src: a, Dst: b, Verdict: Drop})
		if !part.OneWay {
			p.add(Rule{Comment: "partition " + part.B.Name + " -> " + part.A.Name, Src: b, Dst: a, Verdict: Drop})
		}
	}
	for _, sg := range s.SecurityGroups {
		r, err := compileGroup(sg)
		if err != nil {
			return Plan{}, err
		}
		p.add(r)
	}
	for _, sh := range s.Shapes {
		imp, err := compileShape(sh)
		if err != nil {
			return Plan{}, err
		}
		if imp.IsZero() || imp.A.IsEmpty() || imp.B.IsEmpty() {
			continue
		}
		p.Impairments = append(p.Impairments, imp)
		p.add(Rule{Comment: imp.Comment, Src: imp.A, Dst: imp.B, Verdict: Impair})
		p.add(Rule{Comment: imp.Comment, Src: imp.B, Dst: imp.A, Verdict: Impair})
	}
	return p, nil
}

func (p *Plan) add(r Rule) {
	if r.Src.IsEmpty() || r.Dst.IsEmpty() {
		return
	}
	p.Rules = append(p.Rules, r)
}

func compileGroup(sg SecurityGroup) (Rule, error) {
	if sg.Port == 0 {
		return Rule{}, fmt.Errorf("security group %s: no port", sg.Name)
	}
	dest, err := setOf(sg.Dest)
	if err != nil {
		return Rule{}, fmt.Errorf("security group %s: %w", sg.Name, err)
	}
	if dest.IsEmpty() {
		return Rule{}, fmt.Errorf("security group %s: no destination address", sg.Name)
	}
	var allowed AddrSet
	for _, d := range sg.Allow {
		s, err := d.Set()
		if err != nil {
			return Rule{}, fmt.Errorf("security group %s: %w", sg.Name, err)
		}
		allowed = allowed.Union(s)
	}
	return Rule{
		Comment: fmt.Sprintf("security group %s port %d", sg.Name, sg.Port),
		Src:     allowed.Complement(),
		Dst:     dest,
		Port:    sg.Port,
		Opening: true,
		Verdict: Drop,
	}, nil
}

func compileShape(sh Shape) (Impairment, error) {
	name := sh.A.Name + " <-> everything else"
	if sh.B != nil {
		name = sh.A.Name + " <-> " + sh.B.Name
	}
	switch {
	case sh.Delay < 0 || sh.Jitter < 0:
		return Impairment{}, fmt.Errorf("shape %s: delay and jitter must not be negative", name)
	case math.IsNaN(sh.Loss) || sh.Loss < 0 || sh.Loss > 100:
		return Impairment{}, fmt.Errorf("shape %s: loss %v%% is not between 0 and 100", name, sh.Loss)
	}
	a, err := sh.A.Set()
	if err != nil {
		return Impairment{}, fmt.Errorf("shape %s: %w", name, err)
	}
	b := a.Complement()
	if sh.B != nil {
		if b, err = sh.B.Set(); err != nil {
			return Impairment{}, fmt.Errorf("shape %s: %w", name, err)
		}
	}
	return Impairment{
		Comment: fmt.Sprintf("shape %s delay %s jitter %s loss %g%%", name, sh.Delay, sh.Jitter, sh.Loss),
		A:       a,
		B:       b,
		Effect:  Effect{Delay: sh.Delay, Jitter: sh.Jitter, Loss: sh.Loss},
	}, nil
}

// EffectOn is what the plan does to a packet from src to dst that an Impair
// rule handed over: the sum of every matching impairment.
func (p Plan) EffectOn(src, dst netip.Addr) Effect {
	if !src.Is4() || !dst.Is4() {
		return Effect{}
	}
	return effectOn(p.Impairments, v4(src), v4(dst))
}

func effectOn(imps []Impairment, src, dst uint32) Effect {
	var e Effect
	keep := 1.0 // probability the packet survives every matching loss
	for _, imp := range imps {
		if !(imp.A.contains(src) && imp.B.contains(dst)) && !(imp.B.contains(src) && imp.A.contains(dst)) {
			continue
		}
		e.Delay += imp.Delay
		e.Jitter += imp.Jitter
		keep *= 1 - imp.Loss/100
	}
	e.Loss = (1 - keep) * 100
	return e
}

// Cuts reports whether the plan's partitions drop every packet from src
// to dst: the path is cut, whatever the port. Security groups, which
// judge only the packets that open a connection, do not cut a path.
func (p Plan) Cuts(src, dst netip.Addr) bool {
	if !src.Is4() || !dst.Is4() {
		return false
	}
	return cut(p.Rules, v4(src), v4(dst))
}

// cut reports whether a rule of rules drops every packet from src to dst.
func cut(rules []Rule, src, dst uint32) bool {
	for _, r := range rules {
		if r.Verdict == Drop && r.Port == 0 && !r.Opening && r.Src.contains(src) && r.Dst.contains(dst) {
			return true
		}
	}
	return false
}

// errNotIPv4 is returned for packets the enforcer cannot read an IPv4
// header from; they are let through unharmed.
var errNotIPv4 = errors.New("not an IPv4 packet")

// ipv4Addrs reads the source and destination of an IPv4 header.
func ipv4Addrs(pkt []byte) (src, dst uint32, err error) {
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		return 0, 0, errNotIPv4
	}
	src = uint32(pkt[12])<<24 | uint32(pkt[13])<<16 | uint32(pkt[14])<<8 | uint32(pkt[15])
	dst = uint32(pkt[16])<<24 | uint32(pkt[17])<<16 | uint32(pkt[18])<<8 | uint32(pkt[19])
	return src, dst, nil
}
