package route53

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/health"
	"github.com/hastack/hastack/internal/spec"
)

// Fast timings for tests. The upper bounds below are loose on purpose: the
// machine running them is small and noisy, and -race slows everything.
const (
	testInterval  = 50 * time.Millisecond
	testThreshold = 3
	// slack absorbs the check that may start just before a flip and reach
	// the server just after it, however slowly. Flipping one result early
	// would show up a whole interval early, so the bound still catches it.
	slack = testInterval / 2
	// margin is how late a flip may be seen past interval*threshold.
	margin = 2 * time.Second
)

func testHealthSpec() spec.DNSHealthCheck {
	return spec.DNSHealthCheck{
		Path:             "/health",
		Interval:         testInterval,
		FailureThreshold: testThreshold,
		ConnectTimeout:   250 * time.Millisecond,
		ResponseTimeout:  250 * time.Millisecond,
		Checkers:         3,
	}
}

// flippable is an HTTP endpoint whose /health answers the status it is set to.
type flippable struct {
	code  atomic.Int32
	hits  atomic.Int32
	fails atomic.Int32 // failing answers served
}

func (f *flippable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/health" {
		http.NotFound(w, r)
		return
	}
	f.hits.Add(1)
	code := int(f.code.Load())
	if code >= 400 {
		f.fails.Add(1)
	}
	w.WriteHeader(code)
}

func TestHealthCheckFlips(t *testing.T) {
	ep := &flippable{}
	ep.code.Store(http.StatusOK)
	srv := httptest.NewServer(ep)
	defer srv.Close()

	hc := NewHealthCheck("us-east-1", strings.TrimPrefix(srv.URL, "http://"), testHealthSpec(), nil)
	if !hc.Healthy() {
		t.Fatal("a new health check must start healthy")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { hc.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	// Let every checker run at least once against the healthy endpoint.
	if _, ok := eventually(10*time.Second, func() bool { return ep.hits.Load() >= 3 }); !ok {
		t.Fatal("checkers never reached the endpoint")
	}
	if st := hc.Status(); !st.Healthy || st.CheckersHealthy != 3 || st.Checkers != 3 || st.LastReason != "" {
		t.Fatalf("status while healthy = %+v", st)
	}

	// 503 is a failure; the check flips after threshold results of every checker.
	ep.code.Store(http.StatusServiceUnavailable)
	took, ok := eventually(testInterval*testThreshold+margin, func() bool { return !hc.Healthy() })
	if !ok {
		t.Fatalf("still healthy %v after the endpoint failed", took)
	}
	if min := (testThreshold-1)*testInterval - slack; took < min {
		t.Fatalf("unhealthy after %v, sooner than %v", took, min)
	}
	if n := ep.fails.Load(); n < 3*testThreshold {
		t.Fatalf("unhealthy after %d failed checks; each of 3 checkers needs %d", n, testThreshold)
	}
	t.Logf("unhealthy after %v", took)
	select {
	case <-hc.Changes():
	default:
		t.Fatal("no change signalled for the flip to unhealthy")
	}
	st := hc.Status()
	if st.Healthy || st.CheckersHealthy != 0 || !strings.Contains(st.LastReason, "503") {
		t.Fatalf("status while unhealthy = %+v", st)
	}

	// A 3xx counts healthy for Route53.
	ep.code.Store(http.StatusFound)
	took, ok = eventually(testInterval*testThreshold+margin, hc.Healthy)
	if !ok {
		t.Fatalf("still unhealthy %v after the endpoint recovered", took)
	}
	if min := (testThreshold-1)*testInterval - slack; took < min {
		t.Fatalf("healthy again after %v, sooner than %v", took, min)
	}
	t.Logf("healthy again after %v", took)
	select {
	case <-hc.Changes():
	default:
		t.Fatal("no change signalled for the flip to healthy")
	}
}

func TestHealthCheckDeadEndpoint(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close() // nothing listens: connections are refused

	hc := NewHealthCheck("us-west-2", addr, testHealthSpec(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { hc.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	if took, ok := eventually(testInterval*testThreshold+margin, func() bool { return !hc.Healthy() }); !ok {
		t.Fatalf("still healthy %v after start against a closed port", took)
	}
	if st := hc.Status(); !strings.Contains(st.LastReason, "refused") {
		t.Fatalf("reason %q, want connection refused", st.LastReason)
	}
}

func TestHealthCheckDefaults(t *testing.T) {
	hc := NewHealthCheck("x", "127.0.0.1:80", spec.DNSHealthCheck{}, nil)
	if hc.URL() != "http://127.0.0.1:80/health" || len(hc.checkers) != defaultCheckers {
		t.Fatalf("URL %q, %d checkers", hc.URL(), len(hc.checkers))
	}
	for i, c := range hc.checkers {
		if c.Interval != defaultInterval || c.Offset != time.Duration(i)*defaultInterval/defaultCheckers {
			t.Errorf("checker %d: interval %v offset %v", i, c.Interval, c.Offset)
		}
	}
}

func TestCheckerAddrs(t *testing.T) {
	tests := []struct {
		n     int
		want  []string // the first few
		count int
	}{
		{0, nil, 0},
		{3, []string{"127.0.53.1", "127.0.53.2", "127.0.53.3"}, 3},
		{256, []string{"127.0.53.1"}, 256},
	}
	for _, tt := range tests {
		got := CheckerAddrs(tt.n)
		if len(got) != tt.count {
			t.Fatalf("CheckerAddrs(%d) has %d addresses", tt.n, len(got))
		}
		for i, w := range tt.want {
			if got[i].String() != w {
				t.Errorf("CheckerAddrs(%d)[%d] = %s, want %s", tt.n, i, got[i], w)
			}
		}
		for _, a := range got {
			// In the "dns" domain, and outside every region's 127.R.0.0/16.
			if !CheckerPrefix.Contains(a) || a == CheckerPrefix.Addr() || a.As4()[3] == 255 || a.As4()[1] != 0 {
				t.Errorf("CheckerAddrs(%d) gives %s, not a host of %s outside the regions", tt.n, a, CheckerPrefix)
			}
		}
	}
	if got := CheckerAddrs(256); got[254].String() != "127.0.53.1" || got[255].String() != "127.0.53.2" {
		t.Errorf("checkers past 254 get %s and %s, want the addresses again from 127.0.53.1", got[254], got[255])
	}
}

// sources is an endpoint whose /health passes and which counts the
// requests from each remote address.
type sources struct {
	mu   sync.Mutex
	seen map[netip.Addr]int
}

func (s *sources) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[netip.Addr]int{}
	}
	if err == nil {
		s.seen[ap.Addr()]++
	}
}

func (s *sources) snapshot() map[netip.Addr]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.seen)
}

// checkSources runs hc until the endpoint has seen every address in want,
// then checks it saw no other, and that checker i's probe connects from
// want[i].
func checkSources(t *testing.T, hc *HealthCheck, ep *sources, want []netip.Addr) {
	t.Helper()
	if got := hc.From(); !slices.Equal(got, want) {
		t.Fatalf("checkers connect from %v, want %v", got, want)
	}
	for i, c := range hc.checkers {
		if p, ok := c.Probe.(*health.HTTPProbe); !ok || p.Source != want[i] {
			t.Fatalf("checker %d probes from %v, want %s", i, c.Probe, want[i])
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { hc.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	_, ok := eventually(10*time.Second, func() bool {
		seen := ep.snapshot()
		for _, a := range want {
			if seen[a] == 0 {
				return false
			}
		}
		return true
	})
	seen := ep.snapshot()
	if !ok {
		t.Fatalf("requests came from %v, want each of %v", seen, want)
	}
	for a := range seen {
		if !slices.Contains(want, a) {
			t.Errorf("a request came from %s, not a checker address (%v)", a, want)
		}
	}
}

func TestHealthCheckConnectsFromCheckerAddrs(t *testing.T) {
	ep := &sources{}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	target := strings.TrimPrefix(srv.URL, "http://")

	t.Run("default", func(t *testing.T) {
		checkSources(t, NewHealthCheck("us-east-1", target, testHealthSpec(), nil), ep, CheckerAddrs(3))
	})
	t.Run("given", func(t *testing.T) {
		ep.mu.Lock()
		ep.seen = nil
		ep.mu.Unlock()
		from := []netip.Addr{netip.MustParseAddr("127.0.53.201"), netip.MustParseAddr("127.0.53.202")}
		hc := NewHealthCheck("us-east-1", target, testHealthSpec(), from)
		// Three checkers, two addresses: the third checker reuses the first.
		checkSources(t, hc, ep, []netip.Addr{from[0], from[1], from[0]})
	})
}

func TestCheckerNames(t *testing.T) {
	a, b := netip.MustParseAddr("127.0.53.1"), netip.MustParseAddr("127.0.53.2")
	for _, tt := range []struct {
		addrs []netip.Addr
		want  []string
	}{
		{nil, []string{}},
		{[]netip.Addr{a, b}, []string{"127.0.53.1", "127.0.53.2"}},
		{[]netip.Addr{a, b, a, a, b}, []string{"127.0.53.1", "127.0.53.2", "127.0.53.1#2", "127.0.53.1#3", "127.0.53.2#2"}},
	} {
		if got := checkerNames(tt.addrs); !slices.Equal(got, tt.want) {
			t.Errorf("checkerNames(%v) = %q, want %q", tt.addrs, got, tt.want)
		}
	}
}

// TestHealthCheckCheckers follows each checker's verdict and latest result
// as its checks report them.
func TestHealthCheckCheckers(t *testing.T) {
	from := []netip.Addr{netip.MustParseAddr("127.0.53.201"), netip.MustParseAddr("127.0.53.202")}
	hc := NewHealthCheck("us-east-1", "127.1.0.10:80", testHealthSpec(), from)
	names := []string{"127.0.53.201", "127.0.53.202", "127.0.53.201#2"}
	for i, ch := range hc.Checkers() {
		// Before any check: healthy, as a new health check starts, with no result.
		if ch.Name != names[i] || ch.Addr != from[i%2] || !ch.Healthy || ch.LastPassed || !ch.LastCheck.IsZero() || ch.Reason != "" {
			t.Errorf("checker %d before any check = %+v", i, ch)
		}
	}

	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	refused := errors.New("connect: connection refused")
	hc.report(0, health.Result{At: at, Passed: false, Err: refused}, health.Healthy)   // not yet flipped
	hc.report(1, health.Result{At: at, Passed: false, Err: refused}, health.Unhealthy) // flipped
	hc.report(2, health.Result{At: at, Passed: true, Status: 200}, health.Healthy)     // passing
	hc.report(2, health.Result{At: at.Add(time.Second), Passed: false, Status: 503}, health.Healthy)
	got := hc.Checkers()
	want := []CheckerStatus{
		{Name: names[0], Addr: from[0], Healthy: true, LastPassed: false, LastCheck: at, Reason: refused.Error()},
		{Name: names[1], Addr: from[1], Healthy: false, LastPassed: false, LastCheck: at, Reason: refused.Error()},
		{Name: names[2], Addr: from[0], Healthy: true, LastPassed: false, LastCheck: at.Add(time.Second), Reason: "health checks failed with code 503"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("checkers\n%+v\nwant\n%+v", got, want)
	}
	if st := hc.Status(); st.CheckersHealthy != 2 || !st.Healthy {
		t.Errorf("status %+v, want 2 of 3 checkers healthy, healthy", st)
	}

	hc.report(1, health.Result{At: at.Add(2 * time.Second), Passed: true, Status: 200}, health.Healthy)
	if ch := hc.Checkers()[1]; !ch.Healthy || !ch.LastPassed || ch.Reason != "" || !ch.LastCheck.Equal(at.Add(2*time.Second)) {
		t.Errorf("checker 1 after a pass = %+v", ch)
	}
}
