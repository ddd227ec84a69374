package stack

import (
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/network"
	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/vpc"
)

func TestFaultCheck(t *testing.T) {
	tests := []struct {
		in       Fault
		wantMode string
		wantErr  string
	}{
		{in: Fault{Kind: FaultRegion, Name: "us-east-1"}, wantMode: ModeIsolate},
		{in: Fault{Kind: FaultRegion, Name: "us-east-1", Mode: ModeCrash}, wantMode: ModeCrash},
		{in: Fault{Kind: FaultRegion, Name: "us-east-1", Mode: "polite"}, wantErr: `unknown region failure mode "polite" (supported: isolate, crash)`},
		{in: Fault{Kind: FaultPartition, Name: "us-east-1", Other: "internet"}},
		{in: Fault{Kind: FaultPartition, Name: "us-east-1"}, wantErr: "a partition needs two failure domains"},
		{in: Fault{Kind: FaultPartition, Name: "dns", Other: "dns"}, wantErr: "a partition needs two different failure domains, not dns twice"},
		{in: Fault{Kind: FaultNetwork, Name: "us-east-1", Delay: time.Millisecond}},
		{in: Fault{Kind: FaultNetwork, Name: "us-east-1", Loss: 100}},
		{in: Fault{Kind: FaultNetwork, Name: "us-east-1"}, wantErr: "a network fault needs a delay, a jitter or a loss"},
		{in: Fault{Kind: FaultNetwork, Name: "us-east-1", Delay: -time.Millisecond}, wantErr: "delay and jitter must not be negative"},
		{in: Fault{Kind: FaultNetwork, Name: "us-east-1", Jitter: -time.Millisecond}, wantErr: "delay and jitter must not be negative"},
		{in: Fault{Kind: FaultNetwork, Name: "us-east-1", Loss: 100.5}, wantErr: "loss 100.5% is not between 0% and 100%"},
		{in: Fault{Kind: FaultNetwork, Name: "us-east-1", Loss: -1}, wantErr: "loss -1% is not between 0% and 100%"},
		{in: Fault{Kind: FaultNetwork, Name: "us-east-1", Other: "us-east-1", Loss: 1}, wantErr: "changes nothing"},
		{in: Fault{Kind: "planet", Name: "x"}, wantErr: `unknown fault "planet"`},
		{in: Fault{Kind: FaultDBPrimary}},
	}
	for _, tt := range tests {
		t.Run(tt.in.String(), func(t *testing.T) {
			got, err := tt.in.check()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("check: %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Mode != tt.wantMode {
				t.Errorf("mode %q, want %q", got.Mode, tt.wantMode)
			}
		})
	}
}

func TestFaultMatchesAndConflicts(t *testing.T) {
	part := func(a, b string, oneWay bool) Fault {
		return Fault{Kind: FaultPartition, Name: a, Other: b, OneWay: oneWay}
	}
	gray := func(a, b string) Fault { return Fault{Kind: FaultNetwork, Name: a, Other: b, Loss: 5} }
	tests := []struct {
		name              string
		active, other     Fault
		matches, conflict bool
	}{
		{"same partition", part("a", "b", false), part("a", "b", false), true, true},
		{"a two-way partition the other way round", part("a", "b", false), part("b", "a", false), true, true},
		{"a one-way partition", part("a", "b", true), part("a", "b", false), true, true},
		{"a one-way partition the other way round", part("a", "b", true), part("b", "a", true), false, false},
		{"another pair", part("a", "b", false), part("a", "c", false), false, false},
		{"a network fault is not a partition", part("a", "b", false), gray("a", "b"), false, false},
		{"network fault on the same pair", gray("a", "b"), gray("b", "a"), true, true},
		{"network fault on everything else", gray("a", ""), gray("a", ""), true, true},
		{"network fault on a pair and everything else", gray("a", "b"), gray("a", ""), false, false},
		{"region, other mode", Fault{Kind: FaultRegion, Name: "r", Mode: ModeIsolate}, Fault{Kind: FaultRegion, Name: "r", Mode: ModeCrash}, true, true},
		{"another region", Fault{Kind: FaultRegion, Name: "r"}, Fault{Kind: FaultRegion, Name: "s"}, false, false},
		{"db-primary", Fault{Kind: FaultDBPrimary, Name: "db-a"}, Fault{Kind: FaultDBPrimary}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := matches(tt.active, tt.other); got != tt.matches {
				t.Errorf("matches = %v, want %v", got, tt.matches)
			}
			if got := conflicts(tt.active, tt.other); got != tt.conflict {
				t.Errorf("conflicts = %v, want %v", got, tt.conflict)
			}
		})
	}
}

// TestNetworkState: each fault becomes the rules that make it, on top of
// the base, and the rules do what the fault says to the packets between
// the stack's addresses.
func TestNetworkState(t *testing.T) {
	d := quickDomains(t)
	base := network.State{Shapes: []network.Shape{{A: d.regions["us-east-1"], B: ptr(d.regions["us-west-2"]), Delay: 32 * time.Millisecond}}}
	const (
		client  = "127.0.0.1"
		checker = "127.0.53.1"
		eastLB  = "127.1.1.10"
		eastDB  = "127.1.11.5"
		eastDBb = "127.1.12.5"
		eastIn  = "127.1.12.10"
		westLB  = "127.2.1.10"
		westDB  = "127.2.11.5"
	)
	type path struct {
		from, to string
		open     bool          // packets pass the partitions
		delay    time.Duration // what the shapes add, one way
		loss     float64
	}
	tests := []struct {
		name    string
		faults  []Fault
		paths   []path
		wantErr string
	}{
		{"no fault: only the distance", nil, []path{
			{from: client, to: eastLB, open: true},
			{from: eastDB, to: westDB, open: true, delay: 32 * time.Millisecond},
			{from: westDB, to: eastDB, open: true, delay: 32 * time.Millisecond},
			{from: eastDB, to: eastDBb, open: true},
		}, ""},
		{"isolated region", []Fault{{Kind: FaultRegion, Name: "us-east-1", Mode: ModeIsolate}}, []path{
			{from: client, to: eastLB}, {from: eastLB, to: client}, {from: checker, to: eastLB},
			{from: eastDB, to: westDB}, {from: westDB, to: eastDB},
			{from: eastLB, to: eastIn, open: true}, {from: eastDB, to: eastDBb, open: true},
			{from: client, to: westLB, open: true},
		}, ""},
		{"a crashed region's network is dark", []Fault{{Kind: FaultRegion, Name: "us-east-1", Mode: ModeCrash}}, []path{
			{from: client, to: eastLB}, {from: eastLB, to: client},
			{from: eastDB, to: westDB}, {from: westDB, to: eastDB},
			{from: client, to: westLB, open: true},
		}, ""},
		{"one-way partition", []Fault{{Kind: FaultPartition, Name: "us-east-1", Other: "us-west-2", OneWay: true}}, []path{
			{from: eastDB, to: westDB}, {from: westDB, to: eastDB, open: true, delay: 32 * time.Millisecond},
			{from: client, to: eastLB, open: true},
		}, ""},
		{"AZ from its region", []Fault{{Kind: FaultPartition, Name: "us-east-1a", Other: "us-east-1"}}, []path{
			{from: eastDB, to: eastDBb}, {from: eastDBb, to: eastDB},
			{from: eastLB, to: eastDB}, // the load balancer is the region's, not the AZ's
			{from: eastLB, to: eastIn, open: true},
			{from: eastDB, to: westDB, open: true, delay: 32 * time.Millisecond},
		}, ""},
		{"checkers from a region", []Fault{{Kind: FaultPartition, Name: "dns", Other: "us-west-2"}}, []path{
			{from: checker, to: westLB}, {from: client, to: westLB, open: true}, {from: checker, to: eastLB, open: true},
		}, ""},
		{"two partitions", []Fault{
			{Kind: FaultPartition, Name: "dns", Other: "us-west-2"},
			{Kind: FaultPartition, Name: "internet", Other: "us-east-1", OneWay: true},
		}, []path{
			{from: checker, to: westLB}, {from: client, to: eastLB}, {from: eastLB, to: client, open: true}, {from: client, to: westLB, open: true},
		}, ""},
		{"gray failure between two regions adds to the distance", []Fault{{Kind: FaultNetwork, Name: "us-east-1", Other: "us-west-2", Delay: 500 * time.Millisecond, Loss: 10}}, []path{
			{from: eastDB, to: westDB, open: true, delay: 532 * time.Millisecond, loss: 10},
			{from: client, to: eastLB, open: true},
		}, ""},
		{"gray failure on everything outside a region", []Fault{{Kind: FaultNetwork, Name: "us-east-1", Delay: 200 * time.Millisecond}}, []path{
			{from: client, to: eastLB, open: true, delay: 200 * time.Millisecond},
			{from: eastLB, to: eastIn, open: true},
			{from: client, to: westLB, open: true},
		}, ""},
		{"unknown domain", []Fault{{Kind: FaultPartition, Name: "mars", Other: "us-east-1"}}, nil, `unknown failure domain "mars"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := networkState(base, tt.faults, d)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("networkState: %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			plan, err := network.Compile(st)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tt.paths {
				from, to := netip.MustParseAddr(p.from), netip.MustParseAddr(p.to)
				if got := reachable(st, from, to); got != p.open {
					t.Errorf("%s -> %s passes: %v, want %v", p.from, p.to, got, p.open)
				}
				if !p.open {
					continue
				}
				e := plan.EffectOn(from, to)
				if e.Delay != p.delay || math.Abs(e.Loss-p.loss) > 1e-9 {
					t.Errorf("%s -> %s: delay %s loss %g%%, want %s %g%%", p.from, p.to, e.Delay, e.Loss, p.delay, p.loss)
				}
			}
		})
	}
	if len(base.Partitions) != 0 || len(base.Shapes) != 1 {
		t.Errorf("networkState changed its base: %+v", base)
	}
}

func ptr[T any](v T) *T { return &v }

// TestSecurityGroups: the quick example's groups let in only what the
// seed's security groups let in.
func TestSecurityGroups(t *testing.T) {
	s := loadQuick(t)
	s.Regions[1].LoadBalancer.HealthCheck.Port = 9000 // a separate health check port
	plan, err := vpc.New(s)
	if err != nil {
		t.Fatal(err)
	}
	st := &Stack{spec: s, plan: plan}
	nodes, endpoints, err := st.databaseLayout()
	if err != nil {
		t.Fatal(err)
	}
	groups, err := securityGroups(s, plan, nodes, endpoints)
	if err != nil {
		t.Fatal(err)
	}
	// Whether a new TCP connection from -> to:port is let in.
	admitted := func(from, to string, port uint16) bool {
		for _, g := range groups {
			dest, _ := network.Prefixes(g.Dest...).Set()
			if g.Port != port || !dest.Contains(netip.MustParseAddr(to)) {
				continue
			}
			for _, a := range g.Allow {
				set, _ := a.Set()
				if set.Contains(netip.MustParseAddr(from)) {
					return true
				}
			}
			return false
		}
		return true // no group guards it
	}
	tests := []struct {
		from, to string
		port     uint16
		want     bool
	}{
		{"127.0.7.7", "127.1.1.10", 8080, true},     // anyone to the load balancer
		{"127.0.53.1", "127.1.1.10", 8080, true},    // the checkers too
		{"127.1.1.10", "127.1.11.10", 8080, true},   // the load balancer to an instance
		{"127.1.1.10", "127.1.12.13", 8080, true},   // in the other AZ
		{"127.0.0.1", "127.1.11.10", 8080, false},   // not even the operator: only the load balancer
		{"127.0.7.7", "127.1.11.10", 8080, false},   // anyone else
		{"127.2.1.10", "127.1.11.10", 8080, false},  // another region's load balancer
		{"127.1.11.11", "127.1.11.10", 8080, false}, // another instance
		{"127.2.1.10", "127.2.11.10", 9000, true},   // the health check port
		{"127.0.7.7", "127.2.11.10", 9000, false},
		{"127.1.11.10", "127.1.11.5", 5432, true},  // the VPC to a database node
		{"127.1.12.200", "127.1.11.6", 5432, true}, // and to its endpoints
		{"127.2.11.5", "127.1.11.5", 5432, true},   // the replica to the primary
		{"127.2.11.6", "127.1.11.5", 5432, true},   // another region's writer endpoint
		{"127.0.0.1", "127.1.11.5", 5432, true},    // the operator
		{"127.0.7.7", "127.1.11.5", 5432, false},   // anyone else
		{"127.2.11.10", "127.1.11.5", 5432, false}, // another region's instance
		{"127.0.7.7", "127.2.11.7", 5432, false},   // to an endpoint
		{"127.0.7.7", "127.1.11.5", 22, true},      // no group on other ports
	}
	for _, tt := range tests {
		if got := admitted(tt.from, tt.to, tt.port); got != tt.want {
			t.Errorf("%s -> %s:%d admitted %v, want %v", tt.from, tt.to, tt.port, got, tt.want)
		}
	}
	if _, err := network.Compile(network.State{SecurityGroups: groups}); err != nil {
		t.Fatalf("the groups do not compile: %v", err)
	}
}

func TestDistance(t *testing.T) {
	d := quickDomains(t)
	tests := []struct {
		net  spec.Network
		want time.Duration // one way between the two regions; 0 for no shape
	}{
		{spec.Network{InterRegionAuto: true}, 32 * time.Millisecond}, // us-east-1 <-> us-west-2, 64 ms round trip
		{spec.Network{InterRegionLatency: 40 * time.Millisecond}, 20 * time.Millisecond},
		{spec.Network{}, 0},
	}
	for _, tt := range tests {
		shapes := distance(tt.net, d.regions)
		switch {
		case tt.want == 0 && len(shapes) != 0:
			t.Errorf("%+v: shapes %v, want none", tt.net, shapes)
		case tt.want != 0 && (len(shapes) != 1 || shapes[0].Delay != tt.want || shapes[0].B == nil):
			t.Errorf("%+v: shapes %v, want one of %s each way", tt.net, shapes, tt.want)
		}
	}
}
