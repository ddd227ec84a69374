package network

import (
	"fmt"
	"net/netip"
	"time"
)

// State is the network a stack wants: everything in it is enforced at once,
// and applying a new State replaces the previous one.
type State struct {
	Partitions     []Partition
	SecurityGroups []SecurityGroup
	Shapes         []Shape
}

// Partition drops every packet from A to B, and from B to A unless OneWay,
// whatever the protocol and whether or not a connection was already open.
type Partition struct {
	A, B   Domain
	OneWay bool
}

// SecurityGroup lets TCP to Port on the Dest addresses in only from the
// Allow domains, as an AWS security group's inbound rule does: a new
// connection from anywhere else is dropped (the client times out). Like a
// stateful security group, it never cuts a connection already open, nor
// its replies: only the packet that opens a connection (SYN without ACK)
// is judged, so this holds even for connections opened before the group,
// which the kernel's connection tracker may not have seen.
type SecurityGroup struct {
	Name  string // shown in rule comments, e.g. "instances us-east-1"
	Dest  []netip.Prefix
	Port  uint16
	Allow []Domain
}

// Shape delays, jitters and drops the packets between A and B in both
// directions; each packet is delayed by Delay, so a round trip grows by
// twice Delay. B nil means every address outside A. Several shapes that
// match one packet add up: delays and jitters are summed, losses are
// independent.
type Shape struct {
	A      Domain
	B      *Domain
	Delay  time.Duration // one way
	Jitter time.Duration // each packet's delay is Delay ± up to Jitter, uniformly
	Loss   float64       // percent of packets dropped, 0–100
}

// String describes the shape, e.g. for events.
func (s Shape) String() string {
	b := "everything else"
	if s.B != nil {
		b = s.B.Name
	}
	return fmt.Sprintf("%s <-> %s: delay %s jitter %s loss %g%%", s.A.Name, b, s.Delay, s.Jitter, s.Loss)
}
