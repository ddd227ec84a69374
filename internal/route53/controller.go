package route53

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hastack/hastack/internal/spec"
)

// Target is one failover record and where its health comes from.
type Target struct {
	SetID string // names the record in events, e.g. the region
	Role  string // RolePrimary or RoleSecondary
	Addr  netip.Addr
	// HealthCheckAddr is the load balancer's host:port that the health
	// check requests; "" means no health check (the record counts healthy).
	HealthCheckAddr string
	// TargetHealthy reports whether the load balancer has a healthy target
	// (evaluate_target_health); nil means the record does not evaluate it.
	// It is called from the controller's goroutine and must not block.
	TargetHealthy func() bool
}

// TargetStatus is a record's health as the last evaluation saw it.
type TargetStatus struct {
	SetID string
	Role  string
	Addr  netip.Addr
	// Healthy: the record counts healthy for failover (its health check
	// passes and, with TargetHealthy, its load balancer has a healthy target).
	Healthy         bool
	CheckersHealthy int
	Checkers        int // 0 without a health check
	// PerChecker is each checker's verdict and latest result; nil without
	// a health check.
	PerChecker []CheckerStatus
	// Reason says why the record is unhealthy, or why a checker fails.
	Reason string
	// Answering: the server now answers with this record's address.
	Answering bool
}

// Controller is the control plane of the failover record pair: it runs
// the health checks, decides with Choose and tells the Server the answer.
// Every evaluation re-reads all health (level-based); one runs when a
// health check changes and on a tick of min(Interval, 1s), which is what
// notices TargetHealthy changes.
type Controller struct {
	srv     *Server
	targets []Target
	checks  []*HealthCheck // nil where a target has no health check
	tick    time.Duration
	logger  *slog.Logger
	onEvent func(kind, message string)

	// seen is what the last evaluation observed; only Run's goroutine
	// (and NewController before it) writes it.
	mu   sync.Mutex
	seen []Record
}

// maxTick bounds the re-evaluation period.
const maxTick = time.Second

// NewController builds a controller for targets, with one health check of
// hc per target that has a HealthCheckAddr; the checkers connect from the
// server's Config.CheckerAddrs, the same checkers for every target, as
// Route53's probe every endpoint. It evaluates once and sets the
// server's answer before returning (the primary, as health checks start
// healthy, unless its load balancer reports no healthy target), so the
// server can serve at once. onEvent, if not nil, receives "dns.health" on
// health flips and "dns.failover" on answer changes; logger may be nil.
func NewController(srv *Server, hc spec.DNSHealthCheck, targets []Target, logger *slog.Logger, onEvent func(kind, message string)) *Controller {
	hc = withDefaults(hc)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if onEvent == nil {
		onEvent = func(string, string) {}
	}
	c := &Controller{
		srv:     srv,
		targets: append([]Target(nil), targets...),
		checks:  make([]*HealthCheck, len(targets)),
		tick:    min(hc.Interval, maxTick),
		logger:  logger,
		onEvent: onEvent,
	}
	for i, t := range c.targets {
		if t.HealthCheckAddr != "" {
			c.checks[i] = NewHealthCheck(t.SetID, t.HealthCheckAddr, hc, srv.checkerAddrs)
		}
	}
	c.evaluate(false)
	return c
}

// Run runs the health checks and keeps the answer current until ctx is
// done. Every goroutine it starts ends before it returns. Call it once.
func (c *Controller) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wake := make(chan struct{}, 1)
	for _, hc := range c.checks {
		if hc == nil {
			continue
		}
		wg.Go(func() { hc.Run(ctx) })
		wg.Go(func() { forward(ctx, hc.Changes(), wake) })
	}
	ticker := time.NewTicker(c.tick)
	defer ticker.Stop()
	for {
		c.evaluate(true)
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-ticker.C:
		}
	}
}

// forward passes each value from in to the coalescing channel out.
func forward(ctx context.Context, in <-chan struct{}, out chan<- struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-in:
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}
}

// Status is each target's health and whether it is the answer now.
func (c *Controller) Status() []TargetStatus {
	c.mu.Lock()
	seen := append([]Record(nil), c.seen...)
	c.mu.Unlock()
	answer := c.srv.Answer()
	out := make([]TargetStatus, len(seen))
	for i, r := range seen {
		st := TargetStatus{SetID: r.SetID, Role: r.Role, Addr: r.Addr, Healthy: r.Available(), Answering: r.Addr == answer}
		if hc := c.checks[i]; hc != nil {
			hs, per := hc.snapshot()
			st.CheckersHealthy, st.Checkers, st.Reason = hs.CheckersHealthy, hs.Checkers, hs.LastReason
			st.PerChecker = per
		}
		if r.EvaluateTargetHealth && !r.TargetHealthy && (!r.HealthChecked || r.Healthy) {
			st.Reason = "load balancer has no healthy target"
		}
		out[i] = st
	}
	return out
}

// evaluate reads every record's health, chooses the answer and applies it.
// With emit, it reports what changed since the last evaluation.
func (c *Controller) evaluate(emit bool) {
	records := make([]Record, len(c.targets))
	for i, t := range c.targets {
		records[i] = Record{SetID: t.SetID, Role: strings.ToUpper(t.Role), Addr: t.Addr}
		if hc := c.checks[i]; hc != nil {
			records[i].HealthChecked = true
			records[i].Healthy = hc.Healthy()
		}
		if t.TargetHealthy != nil {
			records[i].EvaluateTargetHealth = true
			records[i].TargetHealthy = t.TargetHealthy()
		}
	}
	c.mu.Lock()
	prev := c.seen
	c.seen = records
	c.mu.Unlock()

	if emit && prev != nil {
		for i, r := range records {
			c.reportHealth(i, prev[i], r)
		}
	}

	chosen, ok := Choose(records)
	if !ok || chosen.Addr == c.srv.Answer() {
		return
	}
	c.srv.SetAnswer(chosen.Addr)
	msg := fmt.Sprintf("%s now answers %s (%s %s)", c.srv.Domain(), chosen.Addr, chosen.Role, chosen.SetID)
	if !chosen.Available() {
		msg = fmt.Sprintf("%s now answers %s (%s %s; every record is unhealthy)", c.srv.Domain(), chosen.Addr, chosen.Role, chosen.SetID)
	}
	if !emit {
		c.logger.Debug("initial DNS answer", "domain", c.srv.Domain(), "answer", chosen.Addr, "set_id", chosen.SetID)
		return
	}
	c.event("dns.failover", msg)
}

// reportHealth emits the health flips of target i between two evaluations.
func (c *Controller) reportHealth(i int, before, now Record) {
	if now.HealthChecked && now.Healthy != before.Healthy {
		st := c.checks[i].Status()
		if st.Healthy {
			c.event("dns.health", fmt.Sprintf("%s health check healthy (%d/%d checkers healthy)", now.SetID, st.CheckersHealthy, st.Checkers))
		} else {
			c.event("dns.health", fmt.Sprintf("%s health check unhealthy (%d/%d checkers healthy): %s", now.SetID, st.CheckersHealthy, st.Checkers, st.LastReason))
		}
	}
	if now.EvaluateTargetHealth && now.TargetHealthy != before.TargetHealthy {
		if now.TargetHealthy {
			c.event("dns.health", now.SetID+" load balancer has a healthy target again (evaluate_target_health)")
		} else {
			c.event("dns.health", now.SetID+" load balancer has no healthy target (evaluate_target_health)")
		}
	}
}

func (c *Controller) event(kind, msg string) {
	c.logger.Debug(msg, "kind", kind)
	c.onEvent(kind, msg)
}
