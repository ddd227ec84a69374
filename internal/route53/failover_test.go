package route53

import (
	"net/netip"
	"testing"
)

func TestChoose(t *testing.T) {
	p := netip.MustParseAddr("127.1.1.10")
	s := netip.MustParseAddr("127.2.1.10")
	primary := func(checked, healthy bool) Record {
		return Record{SetID: "east", Role: RolePrimary, Addr: p, HealthChecked: checked, Healthy: healthy}
	}
	secondary := func(checked, healthy bool) Record {
		return Record{SetID: "west", Role: RoleSecondary, Addr: s, HealthChecked: checked, Healthy: healthy}
	}
	withTarget := func(r Record, targetHealthy bool) Record {
		r.EvaluateTargetHealth, r.TargetHealthy = true, targetHealthy
		return r
	}
	tests := []struct {
		name    string
		records []Record
		want    netip.Addr
		wantOK  bool
	}{
		{"no records", nil, netip.Addr{}, false},
		{"no failover roles", []Record{{Role: "WEIGHTED", Addr: p}}, netip.Addr{}, false},
		{"primary healthy", []Record{primary(true, true), secondary(true, true)}, p, true},
		{"primary healthy, secondary unhealthy", []Record{primary(true, true), secondary(true, false)}, p, true},
		{"primary unhealthy, secondary healthy", []Record{primary(true, false), secondary(true, true)}, s, true},
		{"both unhealthy answers primary", []Record{primary(true, false), secondary(true, false)}, p, true},
		{"order does not matter", []Record{secondary(true, true), primary(true, false)}, s, true},
		{"primary without health check counts healthy", []Record{primary(false, false), secondary(true, true)}, p, true},
		{"secondary without health check counts healthy", []Record{primary(true, false), secondary(false, false)}, s, true},
		{"primary's load balancer without healthy target", []Record{withTarget(primary(true, true), false), secondary(true, true)}, s, true},
		{"primary's load balancer healthy", []Record{withTarget(primary(true, true), true), secondary(true, true)}, p, true},
		{"target health alone, no health check", []Record{withTarget(primary(false, false), false), secondary(false, false)}, s, true},
		{"target health ignored without evaluate_target_health", []Record{{Role: RolePrimary, Addr: p, TargetHealthy: false}, secondary(true, true)}, p, true},
		{"both load balancers empty answers primary", []Record{withTarget(primary(true, true), false), withTarget(secondary(true, true), false)}, p, true},
		{"secondary's target unhealthy, primary down", []Record{primary(true, false), withTarget(secondary(true, true), false)}, p, true},
		{"only primary, unhealthy", []Record{primary(true, false)}, p, true},
		{"only secondary, unhealthy", []Record{secondary(true, false)}, s, true},
		{"roles in lower case", []Record{{Role: "primary", Addr: p, HealthChecked: true}, {Role: "secondary", Addr: s}}, s, true},
		{"first record of a role counts", []Record{primary(true, false), {Role: RolePrimary, Addr: netip.MustParseAddr("127.9.9.9")}, secondary(true, true)}, s, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Choose(tt.records)
			if ok != tt.wantOK || got.Addr != tt.want {
				t.Fatalf("Choose = %v, %v; want %v, %v", got.Addr, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestAggregate(t *testing.T) {
	tests := []struct {
		healthy, total int
		want           bool
	}{
		{3, 3, true},
		{1, 3, true},
		{0, 3, false},
		{2, 16, false}, // 12.5%
		{3, 16, true},  // 18.75%
		{9, 50, false}, // exactly 18% is not more than 18%
		{10, 50, true},
		{1, 1, true},
		{0, 1, false},
		{0, 0, false},
	}
	for _, tt := range tests {
		if got := Aggregate(tt.healthy, tt.total); got != tt.want {
			t.Errorf("Aggregate(%d, %d) = %v, want %v", tt.healthy, tt.total, got, tt.want)
		}
	}
}
