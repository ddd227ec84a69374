package vpc

import (
	"net/netip"
	"testing"

	"github.com/hastack/hastack/internal/spec"
)

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func twoRegions() *spec.Stack {
	return &spec.Stack{Regions: []spec.Region{
		{Name: "us-east-1", VPC: spec.VPC{
			CIDR:           netip.MustParsePrefix("10.0.0.0/16"),
			AZs:            []string{"us-east-1a", "us-east-1b"},
			PublicSubnets:  prefixes("10.0.1.0/24", "10.0.2.0/24"),
			PrivateSubnets: prefixes("10.0.11.0/24", "10.0.12.0/24"),
		}},
		{Name: "us-west-2", VPC: spec.VPC{
			CIDR:           netip.MustParsePrefix("10.1.0.0/16"),
			AZs:            []string{"us-west-2a", "us-west-2b"},
			PublicSubnets:  prefixes("10.1.1.0/24", "10.1.2.0/24"),
			PrivateSubnets: prefixes("10.1.11.0/24", "10.1.12.0/24"),
		}},
	}}
}

func TestPlan(t *testing.T) {
	p, err := New(twoRegions())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		what string
		got  any
		want any
	}{
		{"first region block", p.Regions[0].Block.String(), "127.1.0.0/16"},
		{"second region block", p.Regions[1].Block.String(), "127.2.0.0/16"},
		{"primary LB", p.Regions[0].LoadBalancer.String(), "127.1.1.10"},
		{"secondary LB", p.Regions[1].LoadBalancer.String(), "127.2.1.10"},
		{"mapped address", p.Regions[1].Map(netip.MustParseAddr("10.1.12.34")).String(), "127.2.12.34"},
		{"private subnet", p.Region("us-east-1").Subnets[3].Loopback.String(), "127.1.12.0/24"},
		{"first instance in b", p.Regions[0].InstanceAddrs("us-east-1b")[0].String(), "127.1.12.10"},
		{"instance slots in a /24", len(p.Regions[0].InstanceAddrs("us-east-1a")), 245},
		{"unknown AZ", len(p.Regions[0].InstanceAddrs("nowhere")), 0},
		{"writer endpoint", p.Regions[1].WriterEndpoint().String(), "127.2.11.6"},
		{"reader endpoint", p.Regions[1].ReaderEndpoint().String(), "127.2.11.7"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.what, tt.got, tt.want)
		}
	}
	db, ok := p.Regions[0].DatabaseAddr("us-east-1a")
	if !ok || db.String() != "127.1.11.5" {
		t.Errorf("database address = %v %v, want 127.1.11.5", db, ok)
	}
}

func TestPlanIsDeterministic(t *testing.T) {
	a, _ := New(twoRegions())
	b, _ := New(twoRegions())
	for i := range a.Regions {
		if a.Regions[i].LoadBalancer != b.Regions[i].LoadBalancer || a.Regions[i].Block != b.Regions[i].Block {
			t.Fatalf("plans differ in region %d", i)
		}
	}
}

func TestPlanRejectsTinySubnet(t *testing.T) {
	s := twoRegions()
	s.Regions[0].VPC.PublicSubnets[0] = netip.MustParsePrefix("10.0.1.0/29")
	if _, err := New(s); err == nil {
		t.Fatal("a /29 public subnet has no room for the load balancer at .10; want an error")
	}
}
