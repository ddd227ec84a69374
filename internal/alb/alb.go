package alb

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hastack/hastack/internal/health"
	"github.com/hastack/hastack/internal/spec"
)

// Config describes one load balancer.
type Config struct {
	// Name identifies the load balancer in logs and events, e.g. "us-east-1".
	Name string
	// LB holds the health check, algorithm, timeout, retry and
	// deregistration settings. Zero fields take the stack file's defaults
	// (see README.md).
	LB     spec.LoadBalancer
	Logger *slog.Logger
	// OnEvent, if set, receives "alb.target" events when a target is
	// registered, starts draining, is deregistered or changes health. It is
	// called without locks held, on the goroutine that saw the change.
	OnEvent func(kind, message string)
	// AccessLog, if set, receives one JSON line per request, written in
	// batches from a buffer while Serve runs. Nil turns access logs off.
	AccessLog io.Writer
	// Metrics, if set, counts requests, latency and host health under the
	// label region=Name. One Metrics serves every load balancer.
	Metrics *Metrics
	// SourceAddr is the address every connection to a target leaves from:
	// proxied requests, WebSocket tunnels and health checks. Set it to the
	// load balancer's own address, so that a packet filter between failure
	// domains cuts them as a real partition would. The zero value leaves
	// the choice to the kernel.
	SourceAddr netip.Addr
}

// EventTarget is the event kind for target registration and health changes.
const EventTarget = "alb.target"

// LB is a load balancer with one HTTP listener and one target group. Its
// methods are safe for concurrent use.
type LB struct {
	name    string
	log     *slog.Logger
	onEvent func(kind, message string)

	dialer *net.Dialer
	// source is Config.SourceAddr; health checks connect from it too.
	source  netip.Addr
	metrics *lbMetrics // nil when off
	access  *accessLog // nil when off
	// timed: the request path takes timestamps, for metrics or access logs.
	timed bool
	// clock is the time in Unix seconds, kept by Serve, for the request
	// path's coarse needs: request IDs and idle connection ages.
	clock atomic.Int64
	// listenHead holds the header fields that name the listener: the
	// X-Forwarded-Port field, and the Host field for HTTP/1.0 requests
	// that have none.
	listenHead atomic.Pointer[listenHead]
	// routes is the routing snapshot the request path reads without locks;
	// it is replaced whenever the target set or a target's health changes.
	routes atomic.Pointer[routeSet]
	// grace bounds the graceful shutdown when Serve's context ends.
	grace   time.Duration
	serving atomic.Bool
	// connFreed wakes an accept loop held at the connection limit: a
	// client connection closed, or the limit changed.
	connFreed chan struct{}

	mu       sync.Mutex
	cfg      spec.LoadBalancer
	matcher  health.Matcher
	selector Selector
	targets  map[string]*target
	// run is the context health checks run under while Serve runs; nil otherwise.
	run      context.Context
	checks   sync.WaitGroup
	failOpen bool // no healthy target, so routing to all
}

// New builds a load balancer. It fails when the health check matcher or the
// algorithm is not valid.
func New(cfg Config) (*LB, error) {
	l := withDefaults(cfg.LB)
	m, err := health.ParseMatcher(l.HealthCheck.Matcher)
	if err != nil {
		return nil, fmt.Errorf("alb %s: health check matcher: %w", cfg.Name, err)
	}
	sel, err := newSelector(l.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("alb %s: %w", cfg.Name, err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	lb := &LB{
		name:     cfg.Name,
		log:      logger.With("alb", cfg.Name),
		onEvent:  cfg.OnEvent,
		dialer:   newDialer(cfg.SourceAddr),
		source:   cfg.SourceAddr,
		metrics:  cfg.Metrics.forLB(cfg.Name),
		grace:    2 * time.Second,
		cfg:      l,
		matcher:  m,
		selector: sel,
		targets:  make(map[string]*target),

		connFreed: make(chan struct{}, 1),
	}
	if cfg.AccessLog != nil {
		lb.access = newAccessLog(cfg.AccessLog, lb.log)
	}
	lb.timed = lb.metrics != nil || lb.access != nil
	lb.clock.Store(time.Now().Unix())
	lb.rebuildLocked()
	return lb, nil
}

// newDialer is the dialer of target connections, bound to source when it
// is valid.
func newDialer(source netip.Addr) *net.Dialer {
	d := &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}
	if source.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: source.AsSlice()}
		d.Control = portAtConnect
	}
	return d
}

// SetConfig applies new settings to a running load balancer. Changed health
// check settings restart every target's checks, keeping its current state;
// a changed algorithm, idle timeout or retry setting takes effect for the
// next request, a changed deregistration delay for the next Deregister, a
// changed connection limit for the next connection accepted. The listener
// port is the listener's, given to Serve, and is not changed here.
func (lb *LB) SetConfig(l spec.LoadBalancer) error {
	l = withDefaults(l)
	m, err := health.ParseMatcher(l.HealthCheck.Matcher)
	if err != nil {
		return fmt.Errorf("alb %s: health check matcher: %w", lb.name, err)
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if l.Algorithm != lb.cfg.Algorithm {
		sel, err := newSelector(l.Algorithm)
		if err != nil {
			return fmt.Errorf("alb %s: %w", lb.name, err)
		}
		lb.selector = sel
	}
	hcChanged := l.HealthCheck != lb.cfg.HealthCheck
	lb.cfg = l
	lb.matcher = m
	if hcChanged {
		for _, t := range lb.targets {
			if t.drain.Load() == nil {
				lb.startCheckLocked(t)
			}
		}
	}
	lb.rebuildLocked()
	lb.wakeAccept()
	return nil
}

// wakeAccept makes an accept loop held at the connection limit look again.
func (lb *LB) wakeAccept() {
	select {
	case lb.connFreed <- struct{}{}:
	default:
	}
}

// withDefaults fills zero settings with the stack file's defaults, so a
// partly filled config never checks in a tight loop or matches nothing.
func withDefaults(l spec.LoadBalancer) spec.LoadBalancer {
	hc := &l.HealthCheck
	if l.Algorithm == "" {
		l.Algorithm = AlgorithmRoundRobin
	}
	if l.DeregistrationDelay <= 0 {
		l.DeregistrationDelay = 300 * time.Second
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 60 * time.Second
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = 10000
	}
	if hc.Path == "" {
		hc.Path = "/health"
	}
	if hc.Interval <= 0 {
		hc.Interval = 30 * time.Second
	}
	if hc.Timeout <= 0 {
		hc.Timeout = 5 * time.Second
	}
	if hc.HealthyThreshold <= 0 {
		hc.HealthyThreshold = 2
	}
	if hc.UnhealthyThreshold <= 0 {
		hc.UnhealthyThreshold = 2
	}
	if hc.Matcher == "" {
		hc.Matcher = "200"
	}
	return l
}

func (lb *LB) event(msg string) {
	if lb.onEvent != nil {
		lb.onEvent(EventTarget, msg)
	}
}
