package route53

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hastack/hastack/internal/health"
	"github.com/hastack/hastack/internal/spec"
)

// Health check defaults, as Route53 has them (Checkers excepted: Route53
// runs checkers in many locations).
const (
	defaultPath             = "/health"
	defaultInterval         = 30 * time.Second
	defaultFailureThreshold = 3
	defaultConnectTimeout   = 4 * time.Second
	defaultResponseTimeout  = 2 * time.Second
	defaultCheckers         = 3
)

// CheckerPrefix holds the health checkers' own addresses: the "dns" failure
// domain. It lies in 127.0.0.0/16, outside every region's 127.R.0.0/16, in
// the internet, as Route53's checkers are; a packet filter can cut exactly
// the checkers by it.
var CheckerPrefix = netip.MustParsePrefix("127.0.53.0/24")

// CheckerAddrs returns the default source addresses of n checkers: the
// hosts of CheckerPrefix from 127.0.53.1 up, one per checker, starting over
// after 127.0.53.254 (checkers may share an address; each connection has a
// port of its own).
func CheckerAddrs(n int) []netip.Addr {
	base := CheckerPrefix.Addr().As4()
	out := make([]netip.Addr, 0, max(n, 0))
	for i := range n {
		a := base
		a[3] = byte(1 + i%254)
		out = append(out, netip.AddrFrom4(a))
	}
	return out
}

// healthyPercent is Route53's rule: an endpoint is healthy while more than
// 18% of its checkers report it healthy.
const healthyPercent = 18

// Aggregate reports whether an endpoint with healthy of total checkers
// reporting healthy is healthy: more than 18% of them must be.
func Aggregate(healthy, total int) bool {
	return total > 0 && healthy*100 > healthyPercent*total
}

// withDefaults fills zero fields of hc with the Route53 defaults.
func withDefaults(hc spec.DNSHealthCheck) spec.DNSHealthCheck {
	if hc.Path == "" {
		hc.Path = defaultPath
	}
	if hc.Interval <= 0 {
		hc.Interval = defaultInterval
	}
	if hc.FailureThreshold <= 0 {
		hc.FailureThreshold = defaultFailureThreshold
	}
	if hc.ConnectTimeout <= 0 {
		hc.ConnectTimeout = defaultConnectTimeout
	}
	if hc.ResponseTimeout <= 0 {
		hc.ResponseTimeout = defaultResponseTimeout
	}
	if hc.Checkers <= 0 {
		hc.Checkers = defaultCheckers
	}
	return hc
}

// HealthCheck is a Route53 HTTP health check of one endpoint: independent
// checkers each GET the URL every interval, each flips after
// FailureThreshold consecutive results, and the endpoint is healthy while
// more than 18% of them say so (Aggregate). Like a new Route53 health check,
// it starts healthy.
type HealthCheck struct {
	name     string
	url      string
	from     []netip.Addr // each checker's source address
	names    []string     // each checker's name (checkerNames)
	checkers []*health.Checker
	changes  chan struct{}

	mu      sync.Mutex
	healthy bool
	since   time.Time
	states  []health.State // each checker's verdict
	reasons []string       // each checker's latest failure reason; "" after a pass
	failAt  []time.Time    // when each checker's latest failure was seen
	passed  []bool         // each checker's latest result
	lastAt  []time.Time    // when each checker's latest result was seen; zero before its first
}

// HealthStatus is a health check's verdict and what it rests on.
type HealthStatus struct {
	Healthy         bool
	CheckersHealthy int
	Checkers        int
	// LastReason is why the most recent failing check failed, among each
	// checker's latest check; "" while every checker's latest check passed.
	LastReason string
	// Since is when Healthy last changed (or the check was created).
	Since time.Time
}

// CheckerStatus is one checker's view of an endpoint.
type CheckerStatus struct {
	// Name tells the checkers of one health check apart: the address it
	// connects from, followed by "#2", "#3", ... for further checkers
	// sharing that address.
	Name string
	Addr netip.Addr // the address it connects from
	// Healthy is the checker's verdict, which flips after FailureThreshold
	// consecutive results and starts healthy; the endpoint's health
	// aggregates these (Aggregate).
	Healthy bool
	// LastPassed is its latest check's result, seen at LastCheck; both are
	// zero before its first check.
	LastPassed bool
	LastCheck  time.Time
	// Reason is why its latest check failed; "" after a pass.
	Reason string
}

// checkerNames names the checkers connecting from addrs, in order: each by
// its address, with "#k" for the k-th checker sharing one (k from 2), so
// names are unique within a health check.
func checkerNames(addrs []netip.Addr) []string {
	seen := make(map[netip.Addr]int, len(addrs))
	out := make([]string, len(addrs))
	for i, a := range addrs {
		seen[a]++
		out[i] = a.String()
		if k := seen[a]; k > 1 {
			out[i] = fmt.Sprintf("%s#%d", a, k)
		}
	}
	return out
}

// NewHealthCheck builds a health check named name (for messages) of
// http://target/path, target being the load balancer's host:port. Zero
// fields of hc take Route53's defaults (see README.md). Checker i connects
// from from[i%len(from)]; an empty from means CheckerAddrs(hc.Checkers).
func NewHealthCheck(name, target string, hc spec.DNSHealthCheck, from []netip.Addr) *HealthCheck {
	hc = withDefaults(hc)
	if len(from) == 0 {
		from = CheckerAddrs(hc.Checkers)
	}
	h := &HealthCheck{
		name:    name,
		url:     "http://" + target + hc.Path,
		changes: make(chan struct{}, 1),
		healthy: true,
		since:   time.Now(),
		states:  make([]health.State, hc.Checkers),
		reasons: make([]string, hc.Checkers),
		failAt:  make([]time.Time, hc.Checkers),
		passed:  make([]bool, hc.Checkers),
		lastAt:  make([]time.Time, hc.Checkers),
	}
	// Route53 counts 2xx and 3xx answers healthy.
	matcher := health.MustMatcher("200-399")
	th := health.Thresholds{Healthy: hc.FailureThreshold, Unhealthy: hc.FailureThreshold}
	for i := range hc.Checkers {
		h.states[i] = health.Healthy
		h.from = append(h.from, from[i%len(from)])
		h.checkers = append(h.checkers, &health.Checker{
			Probe: health.NewHTTPProbe(h.url, hc.ConnectTimeout, hc.ConnectTimeout+hc.ResponseTimeout, matcher,
				health.From(h.from[i])),
			Interval: hc.Interval,
			// Spread the checkers over the interval, as Route53's are.
			Offset:  time.Duration(i) * hc.Interval / time.Duration(hc.Checkers),
			Counter: health.NewCounter(th, health.Healthy),
			Report: func(r health.Result, s health.State, _ bool) {
				h.report(i, r, s)
			},
		})
	}
	h.names = checkerNames(h.from)
	return h
}

// Name is the name the check was built with.
func (h *HealthCheck) Name() string { return h.name }

// URL is the URL the checkers request.
func (h *HealthCheck) URL() string { return h.url }

// From is the address each checker connects from, in checker order.
func (h *HealthCheck) From() []netip.Addr { return slices.Clone(h.from) }

// Run runs the checkers until ctx is done; every checker ends with it. Call
// it once.
func (h *HealthCheck) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range h.checkers {
		wg.Go(func() { c.Run(ctx) })
	}
	wg.Wait()
}

// Healthy is the endpoint's verdict.
func (h *HealthCheck) Healthy() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.healthy
}

// Status is the verdict with the checker counts behind it.
func (h *HealthCheck) Status() HealthStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.status()
}

// snapshot is Status and Checkers as of one moment.
func (h *HealthCheck) snapshot() (HealthStatus, []CheckerStatus) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.status(), h.checkerStatus()
}

func (h *HealthCheck) status() HealthStatus {
	st := HealthStatus{Healthy: h.healthy, Checkers: len(h.states), Since: h.since}
	st.CheckersHealthy = h.countHealthy()
	var latest time.Time
	for i, reason := range h.reasons {
		if reason != "" && !h.failAt[i].Before(latest) {
			st.LastReason, latest = reason, h.failAt[i]
		}
	}
	return st
}

// Checkers is each checker's verdict and latest result, in checker order.
func (h *HealthCheck) Checkers() []CheckerStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.checkerStatus()
}

func (h *HealthCheck) checkerStatus() []CheckerStatus {
	out := make([]CheckerStatus, len(h.states))
	for i, s := range h.states {
		out[i] = CheckerStatus{
			Name: h.names[i], Addr: h.from[i], Healthy: s == health.Healthy,
			LastPassed: h.passed[i], LastCheck: h.lastAt[i], Reason: h.reasons[i],
		}
	}
	return out
}

// Changes delivers a value after the verdict (Healthy) changes. Changes in
// quick succession may be coalesced into one value, so a receiver should
// read Healthy or Status afterwards; it is meant for a single receiver.
func (h *HealthCheck) Changes() <-chan struct{} { return h.changes }

// report records checker i's latest result and state.
func (h *HealthCheck) report(i int, r health.Result, s health.State) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.states[i] = s
	h.reasons[i] = r.Reason()
	h.passed[i], h.lastAt[i] = r.Passed, r.At
	if !r.Passed {
		h.failAt[i] = r.At
	}
	healthy := Aggregate(h.countHealthy(), len(h.states))
	if healthy == h.healthy {
		return
	}
	h.healthy = healthy
	h.since = time.Now()
	select {
	case h.changes <- struct{}{}:
	default: // a change is already pending
	}
}

func (h *HealthCheck) countHealthy() int {
	n := 0
	for _, s := range h.states {
		if s == health.Healthy {
			n++
		}
	}
	return n
}
