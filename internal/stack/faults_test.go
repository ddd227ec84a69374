package stack

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/network"
	"github.com/hastack/hastack/internal/rds"
	"github.com/hastack/hastack/internal/route53"
	"github.com/hastack/hastack/internal/spec"
)

// fakeNet stands in for the kernel: it keeps the states it was given.
type fakeNet struct {
	mu      sync.Mutex
	applied []network.State
	fail    error
}

func (f *fakeNet) Apply(s network.State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.applied = append(f.applied, s)
	return nil
}

func (f *fakeNet) last() network.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied[len(f.applied)-1]
}

// withNetwork gives a test stack its failure domains and a fake enforcer.
func withNetwork(t *testing.T, st *Stack) *fakeNet {
	t.Helper()
	d, err := newDomains(st.plan)
	if err != nil {
		t.Fatal(err)
	}
	fn := &fakeNet{}
	st.domains, st.net = d, fn
	st.netBase = network.State{Shapes: distance(st.spec.Network, d.regions)}
	return fn
}

func eventKinds(st *Stack) string {
	var kinds []string
	for _, e := range st.events.Recent() {
		kinds = append(kinds, e.Kind+": "+e.Message)
	}
	return strings.Join(kinds, "\n")
}

// TestNetworkFaults: partitions and network faults become rules, several
// at once; status lists them and the events record each; recover removes
// exactly the one it names; what is not in place, or is already, is
// refused with one sentence.
func TestNetworkFaults(t *testing.T) {
	st := newTestStack(t, newFakeDB(0), false)
	fn := withNetwork(t, st)
	ctx := context.Background()

	a := Fault{Kind: FaultPartition, Name: "us-east-1", Other: "internet", OneWay: true}
	b := Fault{Kind: FaultPartition, Name: "dns", Other: "us-west-2"}
	c := Fault{Kind: FaultNetwork, Name: "us-east-1", Other: "us-west-2", Delay: 200 * time.Millisecond, Jitter: 50 * time.Millisecond, Loss: 20}
	for _, f := range []Fault{a, b, c} {
		if err := st.Fail(ctx, f); err != nil {
			t.Fatalf("fail %s: %v", f, err)
		}
	}
	if got := fn.last(); len(got.Partitions) != 2 || len(got.Shapes) != 2 || !got.Partitions[0].OneWay {
		t.Fatalf("applied %d partitions, %d shapes: %+v", len(got.Partitions), len(got.Shapes), got)
	}
	faults := st.Status().Faults
	if len(faults) != 3 || faults[0].Kind != "partition" || faults[0].Target != "us-east-1" || faults[0].Other != "internet" || !faults[0].OneWay ||
		faults[2].Kind != "network" || faults[2].DelaySeconds != 0.2 || faults[2].JitterSeconds != 0.05 || faults[2].LossPercent != 20 || faults[2].Details == "" {
		t.Fatalf("status faults = %+v", faults)
	}

	refusals := []struct {
		fail bool
		f    Fault
		want string
	}{
		{true, Fault{Kind: FaultPartition, Name: "us-west-2", Other: "dns"}, "partition dns us-west-2 is already in place; undo it first with hastack recover partition dns us-west-2"},
		{true, Fault{Kind: FaultNetwork, Name: "us-west-2", Other: "us-east-1", Loss: 1}, "already in place; undo it first with hastack recover network us-east-1 --to us-west-2"},
		{true, Fault{Kind: FaultPartition, Name: "mars", Other: "dns"}, `unknown failure domain "mars"`},
		{true, Fault{Kind: FaultNetwork, Name: "us-east-1", Loss: 101}, "loss 101% is not between 0% and 100%"},
		{false, Fault{Kind: FaultPartition, Name: "internet", Other: "us-east-1"}, "there is no partition between internet and us-east-1 to recover"},
		{false, Fault{Kind: FaultNetwork, Name: "us-west-2"}, "there is no network fault on us-west-2 to recover"},
		{false, Fault{Kind: FaultRegion, Name: "us-east-1"}, "region us-east-1 is not failed"},
	}
	for _, r := range refusals {
		var err error
		if r.fail {
			err = st.Fail(ctx, r.f)
		} else {
			err = st.Recover(ctx, r.f)
		}
		if err == nil || !strings.Contains(err.Error(), r.want) || strings.Count(err.Error(), ". ") > 0 {
			t.Errorf("%v %s: %v, want one sentence with %q", r.fail, r.f, err, r.want)
		}
	}
	if n := len(st.Status().Faults); n != 3 {
		t.Fatalf("%d faults after refusals, want 3", n)
	}

	// A two-way partition is recovered naming its domains either way.
	if err := st.Recover(ctx, Fault{Kind: FaultPartition, Name: "us-west-2", Other: "dns"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Recover(ctx, Fault{Kind: FaultNetwork, Name: "us-west-2", Other: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	got := fn.last()
	if len(got.Partitions) != 1 || got.Partitions[0].A.Name != "us-east-1" || len(got.Shapes) != 1 {
		t.Fatalf("after two recoveries: %+v", got)
	}
	if faults := st.Status().Faults; len(faults) != 1 || faults[0].Target != "us-east-1" {
		t.Fatalf("status faults = %+v", faults)
	}
	events := eventKinds(st)
	if strings.Count(events, "fault.inject") != 3 || strings.Count(events, "fault.recover") != 2 {
		t.Errorf("events:\n%s", events)
	}

	// A refused rule change leaves everything as it was.
	fn.fail = errors.New("netlink: boom")
	if err := st.Fail(ctx, b); err == nil || !strings.Contains(err.Error(), "changing the network: netlink: boom") {
		t.Fatalf("fail with a refusing kernel: %v", err)
	}
	if n := len(st.Status().Faults); n != 1 {
		t.Fatalf("%d faults after a refused change, want 1", n)
	}
}

// TestIsolateRegion: an isolated region keeps running and shows as failed
// with its mode; recover makes it reachable again.
func TestIsolateRegion(t *testing.T) {
	st := newTestStack(t, newFakeDB(0), true)
	fn := withNetwork(t, st)
	ctx := context.Background()
	if err := st.Fail(ctx, Fault{Kind: FaultRegion, Name: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	lb, group, failed := st.regions[0].parts()
	if lb == nil || group == nil || !failed {
		t.Fatalf("isolated region: load balancer %v, group %v, failed %v; want both running and failed", lb != nil, group != nil, failed)
	}
	rs := st.Status().Regions[0]
	if !rs.Failed || rs.Fault != ModeIsolate || !rs.LoadBalancer.Running {
		t.Fatalf("region status %+v", rs)
	}
	if p := fn.last().Partitions; len(p) != 1 || p[0].A.Name != "us-east-1" || p[0].OneWay {
		t.Fatalf("partitions %+v", p)
	}
	// Route53 cannot see the isolated load balancer's targets.
	if st.reachableFromDNS(st.regions[0].lbIP()) || !st.reachableFromDNS(st.regions[1].lbIP()) {
		t.Fatal("reachableFromDNS does not follow the isolation")
	}
	if err := st.Fail(ctx, Fault{Kind: FaultRegion, Name: "us-east-1", Mode: ModeCrash}); err == nil || err.Error() != "region us-east-1 is already failed (isolate); recover it first" {
		t.Fatalf("crash of an isolated region: %v", err)
	}
	if err := st.Recover(ctx, Fault{Kind: FaultRegion, Name: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	if len(fn.last().Partitions) != 0 || st.Status().Regions[0].Failed || !st.reachableFromDNS(st.regions[0].lbIP()) {
		t.Fatalf("after recover: %+v, %+v", fn.last(), st.Status().Regions[0])
	}
}

// TestCrashRegion: a crash stops the region's load balancer, group and
// database nodes; status lists it; recover starts them again.
func TestCrashRegion(t *testing.T) {
	db := newFakeDB(0)
	st := newTestStack(t, db, true)
	ctx := context.Background()
	if err := st.Fail(ctx, Fault{Kind: FaultRegion, Name: "us-west-2", Mode: ModeCrash}); err != nil {
		t.Fatal(err)
	}
	if lb, _, failed := st.regions[1].parts(); lb != nil || !failed || !db.regionStopped("us-west-2") {
		t.Fatalf("crashed region: load balancer running %v, failed %v, database stopped %v", lb != nil, failed, db.regionStopped("us-west-2"))
	}
	if f := st.Status().Faults; len(f) != 1 || f[0].Mode != ModeCrash || f[0].Target != "us-west-2" {
		t.Fatalf("faults %+v", f)
	}
	if err := st.Recover(ctx, Fault{Kind: FaultRegion, Name: "us-west-2"}); err != nil {
		t.Fatal(err)
	}
	if lb, _, failed := st.regions[1].parts(); lb == nil || failed || db.regionStopped("us-west-2") || len(st.Status().Faults) != 0 {
		t.Fatalf("recovered region: load balancer running %v, failed %v", lb != nil, failed)
	}
}

// TestNetworkFaultsNeedNetAdmin: without the network enforced, network
// faults and isolation are refused with the sentence naming
// CAP_NET_ADMIN; a crash still works.
func TestNetworkFaultsNeedNetAdmin(t *testing.T) {
	st := newTestStack(t, newFakeDB(0), true)
	ctx := context.Background()
	for _, f := range []Fault{
		{Kind: FaultRegion, Name: "us-east-1"},
		{Kind: FaultPartition, Name: "us-east-1", Other: "internet"},
		{Kind: FaultNetwork, Name: "us-east-1", Delay: time.Second},
	} {
		if err := st.Fail(ctx, f); !errors.Is(err, network.ErrNoNetAdmin) {
			t.Errorf("fail %s: %v, want %v", f, err, network.ErrNoNetAdmin)
		}
	}
	if !strings.Contains(network.ErrNoNetAdmin.Error(), "CAP_NET_ADMIN") {
		t.Fatal("the refusal does not name CAP_NET_ADMIN")
	}
	if err := st.Fail(ctx, Fault{Kind: FaultRegion, Name: "us-east-1", Mode: ModeCrash}); err != nil {
		t.Fatalf("crash without the network: %v", err)
	}
}

// TestApplyDistance: a new inter_region_latency is applied live, with the
// faults in place kept.
func TestApplyDistance(t *testing.T) {
	st := newTestStack(t, newFakeDB(0), true)
	fn := withNetwork(t, st)
	if err := st.Fail(context.Background(), Fault{Kind: FaultPartition, Name: "dns", Other: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	n := testSpec(t, st.spec.Regions[0].LoadBalancer.Port)
	n.Network = spec.Network{InterRegionLatency: 40 * time.Millisecond}
	if _, err := st.Apply(n, false); err != nil {
		t.Fatal(err)
	}
	got := fn.last()
	if len(got.Shapes) != 1 || got.Shapes[0].Delay != 20*time.Millisecond || len(got.Partitions) != 1 {
		t.Fatalf("after apply: %+v", got)
	}
	n = testSpec(t, st.spec.Regions[0].LoadBalancer.Port)
	n.Network = spec.Network{}
	if _, err := st.Apply(n, false); err != nil {
		t.Fatal(err)
	}
	if got := fn.last(); len(got.Shapes) != 0 || len(got.Partitions) != 1 {
		t.Fatalf("after apply of 0s: %+v", got)
	}
}

// TestCrashedNodes: recover db-primary brings back a server that stopped
// on its own, but not one a fault in place keeps down.
func TestCrashedNodes(t *testing.T) {
	nodes := []rds.NodeStatus{
		{Name: "db-a", Region: "east", AZ: "east-a", Running: true},
		{Name: "db-b", Region: "east", AZ: "east-b"},
		{Name: "db-c", Region: "west", AZ: "west-a"},
	}
	tests := []struct {
		name   string
		faults []Fault
		killed []activeFault
		want   []string
	}{
		{"nothing in place", nil, nil, []string{"db-b", "db-c"}},
		{"killed by fail db-primary", nil, []activeFault{{Fault: Fault{Kind: FaultDBPrimary, Name: "db-b"}}}, []string{"db-c"}},
		{"region crashed", []Fault{{Kind: FaultRegion, Name: "west", Mode: ModeCrash}}, nil, []string{"db-b"}},
		{"region isolated keeps nothing down", []Fault{{Kind: FaultRegion, Name: "west", Mode: ModeIsolate}}, nil, []string{"db-b", "db-c"}},
		{"AZ failed", []Fault{{Kind: FaultAZ, Name: "east-b"}}, nil, []string{"db-c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := crashedNodes(nodes, tt.faults, tt.killed)
			if !slices.Equal(got, tt.want) {
				t.Errorf("crashedNodes = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRegionLostAsksTheRecord: automatic failover asks whether Route53
// counts the primary's region unhealthy, not whether DNS answers it.
// After a failover to us-west-2 and the recovery of us-east-1, DNS
// answers us-east-1 again; us-west-2, well, is not lost (asking DNS's
// answer promoted back to us-east-1 and lost the writes made since).
func TestRegionLostAsksTheRecord(t *testing.T) {
	cases := []struct {
		name               string
		eastUp, westUp     bool
		wantEast, wantWest bool
	}{
		{"both healthy", true, true, false, false},
		{"primary region down", false, true, true, false},
		{"secondary region down", true, false, false, true},
		{"both down", false, false, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := route53.NewServer(route53.Config{Zone: "example.test.", Domain: "app.example.test.", TTL: 60})
			targets := []route53.Target{
				{SetID: "us-east-1", Role: route53.RolePrimary, Addr: netip.MustParseAddr("127.1.0.10"), TargetHealthy: func() bool { return tc.eastUp }},
				{SetID: "us-west-2", Role: route53.RoleSecondary, Addr: netip.MustParseAddr("127.2.0.10"), TargetHealthy: func() bool { return tc.westUp }},
			}
			st := &Stack{dnsCtl: route53.NewController(srv, spec.DNSHealthCheck{}, targets, nil, nil)}
			if got := st.regionLost("us-east-1"); got != tc.wantEast {
				t.Errorf("regionLost(us-east-1) = %v, want %v (DNS answers %s)", got, tc.wantEast, srv.Answer())
			}
			if got := st.regionLost("us-west-2"); got != tc.wantWest {
				t.Errorf("regionLost(us-west-2) = %v, want %v (DNS answers %s)", got, tc.wantWest, srv.Answer())
			}
		})
	}
}
