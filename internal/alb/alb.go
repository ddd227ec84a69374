package alb

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
	// LB holds the health check, algorithm and deregistration settings.
	// Zero fields take the stack file's defaults (see README.md).
	LB     spec.LoadBalancer
	Logger *slog.Logger
	// OnEvent, if set, receives "alb.target" events when a target is
	// registered, deregistered or changes health. It is called without locks
	// held, on the goroutine that saw the change.
	OnEvent func(kind, message string)
}

// EventTarget is the event kind for target registration and health changes.
const EventTarget = "alb.target"

// LB is a load balancer with one HTTP listener and one target group. Its
// methods are safe for concurrent use.
type LB struct {
	name    string
	log     *slog.Logger
	onEvent func(kind, message string)

	transport *http.Transport
	bufs      *bufferPool
	// fwdPort is the X-Forwarded-Port value, the listener's port.
	fwdPort atomic.Pointer[[]string]
	// routes is the routing snapshot the request path reads without locks;
	// it is replaced whenever the target set or a target's health changes.
	routes atomic.Pointer[routeSet]
	// grace bounds the graceful shutdown when Serve's context ends.
	grace   time.Duration
	serving atomic.Bool

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
		name:      cfg.Name,
		log:       logger.With("alb", cfg.Name),
		onEvent:   cfg.OnEvent,
		transport: newTransport(),
		bufs:      newBufferPool(),
		grace:     2 * time.Second,
		cfg:       l,
		matcher:   m,
		selector:  sel,
		targets:   make(map[string]*target),
	}
	lb.rebuildLocked()
	return lb, nil
}

// SetConfig applies new settings to a running load balancer. Changed health
// check settings restart every target's checks, keeping its current state;
// a changed algorithm takes effect for the next request. The listener port
// is the listener's, given to Serve, and is not changed here.
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
			lb.startCheckLocked(t)
		}
	}
	lb.rebuildLocked()
	return nil
}

// withDefaults fills zero settings with the stack file's defaults, so a
// partly filled config never checks in a tight loop or matches nothing.
func withDefaults(l spec.LoadBalancer) spec.LoadBalancer {
	hc := &l.HealthCheck
	if l.Algorithm == "" {
		l.Algorithm = AlgorithmRoundRobin
	}
	if l.DeregistrationDelay == 0 {
		l.DeregistrationDelay = 300 * time.Second
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

// newTransport is the connection pool to all targets: keep-alive, many idle
// connections per target, and no transparent compression, so bodies pass
// through unchanged.
func newTransport() *http.Transport {
	dialer := &net.Dialer{
		Timeout:   10 * time.Second, // ALB's target connection timeout
		KeepAlive: 30 * time.Second,
	}
	return &http.Transport{
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		MaxIdleConns:        0, // no total limit; per target below
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     60 * time.Second, // ALB's default idle timeout
		DisableCompression:  true,
		// No ResponseHeaderTimeout yet: a target may take as long as it
		// likes. A timeout set here is answered with 504.
	}
}

func (lb *LB) event(msg string) {
	if lb.onEvent != nil {
		lb.onEvent(EventTarget, msg)
	}
}
