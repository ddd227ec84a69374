package route53

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// fakeLB is a load balancer stand-in whose /health passes, and which can be
// stopped (connections refused) and started again on the same address.
type fakeLB struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	srv  *http.Server
	done chan struct{}
}

func newFakeLB(t *testing.T) *fakeLB {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lb := &fakeLB{t: t, addr: ln.Addr().String()}
	lb.serve(ln)
	t.Cleanup(lb.stop)
	return lb
}

func (lb *fakeLB) serve(ln net.Listener) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	})}
	lb.done = make(chan struct{})
	srv, done := lb.srv, lb.done
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			lb.t.Errorf("fake load balancer: %v", err)
		}
	}()
}

func (lb *fakeLB) start() {
	ln, err := net.Listen("tcp", lb.addr)
	if err != nil {
		lb.t.Fatalf("restarting fake load balancer on %s: %v", lb.addr, err)
	}
	lb.serve(ln)
}

func (lb *fakeLB) stop() {
	lb.mu.Lock()
	srv, done := lb.srv, lb.done
	lb.srv = nil
	lb.mu.Unlock()
	if srv != nil {
		srv.Close()
		<-done
	}
}

// events records what a controller emits.
type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) add(kind, msg string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, kind+": "+msg)
}

func (e *events) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.list, "\n")
}

// await reports whether an event containing substr arrives soon: events
// follow the change they announce.
func (e *events) await(substr string) bool {
	_, ok := eventually(margin, func() bool { return e.has(substr) })
	return ok
}

func (e *events) has(substr string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ev := range e.list {
		if strings.Contains(ev, substr) {
			return true
		}
	}
	return false
}

var (
	eastAddr = netip.MustParseAddr("127.1.1.10")
	westAddr = netip.MustParseAddr("127.2.1.10")
)

func TestControllerFailover(t *testing.T) {
	east, west := newFakeLB(t), newFakeLB(t)
	ts := startServer(t, testConfig())
	ev := &events{}
	c := NewController(ts.Server, testHealthSpec(), []Target{
		{SetID: "us-east-1", Role: "primary", Addr: eastAddr, HealthCheckAddr: east.addr},
		{SetID: "us-west-2", Role: "secondary", Addr: westAddr, HealthCheckAddr: west.addr},
	}, nil, ev.add)
	if got := ts.Answer(); got != eastAddr {
		t.Fatalf("answer after NewController = %v, want the primary %v", got, eastAddr)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	// served asks the server over the wire what it answers now.
	served := func() netip.Addr {
		r := query(t, ts.udp, "udp", "app.example.com.", dns.TypeA, false)
		if len(r.Answer) != 1 {
			t.Fatalf("A answer %v", r.Answer)
		}
		a, _ := netip.AddrFromSlice(r.Answer[0].(*dns.A).A)
		return a.Unmap()
	}
	awaitAnswer := func(step string, want netip.Addr) {
		t.Helper()
		took, ok := eventually(testInterval*testThreshold+margin, func() bool { return served() == want })
		if !ok {
			t.Fatalf("%s: still answering %v after %v, want %v; status %+v", step, served(), took, want, c.Status())
		}
		t.Logf("%s: answers %v after %v", step, want, took)
	}

	east.stop()
	awaitAnswer("primary down", westAddr)
	// Each checker's verdict and latest result, per record.
	st := c.Status()
	for i, wantHealthy := range []bool{false, true} {
		per := st[i].PerChecker
		if len(per) != 3 {
			t.Fatalf("%s: %d checkers in %+v, want 3", st[i].SetID, len(per), per)
		}
		for k, ch := range per {
			if want := CheckerAddrs(3)[k]; ch.Addr != want || ch.Name != want.String() {
				t.Errorf("%s checker %d is %s (%s), want %s", st[i].SetID, k, ch.Name, ch.Addr, want)
			}
			if ch.Healthy != wantHealthy || ch.LastPassed != wantHealthy || ch.LastCheck.IsZero() || (ch.Reason == "") != wantHealthy {
				t.Errorf("%s checker %s = %+v, want healthy %v", st[i].SetID, ch.Name, ch, wantHealthy)
			}
		}
	}
	west.stop()
	awaitAnswer("both down", eastAddr)
	west.start()
	awaitAnswer("secondary back", westAddr)
	east.start()
	awaitAnswer("primary back", eastAddr)

	for _, want := range []string{
		"dns.health: us-east-1 health check unhealthy (0/3 checkers healthy): ",
		"dns.failover: app.example.com now answers 127.2.1.10 (SECONDARY us-west-2)",
		"dns.failover: app.example.com now answers 127.1.1.10 (PRIMARY us-east-1; every record is unhealthy)",
		"dns.health: us-west-2 health check healthy (",
		"dns.failover: app.example.com now answers 127.1.1.10 (PRIMARY us-east-1)",
	} {
		if !ev.await(want) {
			t.Errorf("no event %q in\n%s", want, ev)
		}
	}
	st = c.Status()
	if len(st) != 2 || st[0].SetID != "us-east-1" || !st[0].Answering || st[1].Answering || st[0].Checkers != 3 {
		t.Errorf("status %+v", st)
	}
}

func TestControllerEvaluateTargetHealth(t *testing.T) {
	east, west := newFakeLB(t), newFakeLB(t)
	srv := NewServer(testConfig())
	var eastTargets atomic.Bool
	eastTargets.Store(true)
	ev := &events{}
	c := NewController(srv, testHealthSpec(), []Target{
		{SetID: "us-east-1", Role: RolePrimary, Addr: eastAddr, HealthCheckAddr: east.addr, TargetHealthy: eastTargets.Load},
		{SetID: "us-west-2", Role: RoleSecondary, Addr: westAddr, HealthCheckAddr: west.addr, TargetHealthy: func() bool { return true }},
	}, nil, ev.add)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { c.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	// The load balancer still answers its health check, but has no
	// healthy target: the record counts unhealthy at the next tick.
	eastTargets.Store(false)
	if took, ok := eventually(testInterval+margin, func() bool { return srv.Answer() == westAddr }); !ok {
		t.Fatalf("answer %v %v after the primary lost its targets, want %v", srv.Answer(), took, westAddr)
	}
	if st := c.Status(); st[0].Healthy || !strings.Contains(st[0].Reason, "no healthy target") {
		t.Errorf("primary status %+v", st[0])
	}
	eastTargets.Store(true)
	if took, ok := eventually(testInterval+margin, func() bool { return srv.Answer() == eastAddr }); !ok {
		t.Fatalf("answer %v %v after the primary's targets recovered, want %v", srv.Answer(), took, eastAddr)
	}
	if !ev.await("dns.health: us-east-1 load balancer has no healthy target") {
		t.Errorf("no target health event in\n%s", ev)
	}
}

func TestControllerWithoutHealthChecks(t *testing.T) {
	srv := NewServer(testConfig())
	c := NewController(srv, testHealthSpec(), []Target{
		{SetID: "b", Role: RoleSecondary, Addr: westAddr},
		{SetID: "a", Role: RolePrimary, Addr: eastAddr},
	}, nil, nil)
	if srv.Answer() != eastAddr {
		t.Fatalf("answer %v, want the primary", srv.Answer())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*testInterval)
	defer cancel()
	c.Run(ctx) // returns when ctx is done
	if st := c.Status(); len(st) != 2 || !st[0].Healthy || !st[1].Healthy || st[0].Checkers != 0 {
		t.Fatalf("status %+v", st)
	}
}

func TestControllerCheckersConnectFromConfig(t *testing.T) {
	east, west := &sources{}, &sources{}
	eastSrv, westSrv := httptest.NewServer(east), httptest.NewServer(west)
	defer eastSrv.Close()
	defer westSrv.Close()
	cfg := testConfig()
	cfg.CheckerAddrs = []netip.Addr{netip.MustParseAddr("127.0.53.11"), netip.MustParseAddr("127.0.53.12"), netip.MustParseAddr("127.0.53.13")}
	srv := NewServer(cfg)
	cfg.CheckerAddrs[0] = netip.MustParseAddr("127.0.53.99") // the server keeps its own copy
	c := NewController(srv, testHealthSpec(), []Target{
		{SetID: "us-east-1", Role: RolePrimary, Addr: eastAddr, HealthCheckAddr: strings.TrimPrefix(eastSrv.URL, "http://")},
		{SetID: "us-west-2", Role: RoleSecondary, Addr: westAddr, HealthCheckAddr: strings.TrimPrefix(westSrv.URL, "http://")},
	}, nil, nil)
	want := []netip.Addr{netip.MustParseAddr("127.0.53.11"), netip.MustParseAddr("127.0.53.12"), netip.MustParseAddr("127.0.53.13")}
	// The same checkers probe every endpoint, as Route53's do.
	checkSources(t, c.checks[0], east, want)
	checkSources(t, c.checks[1], west, want)
}
