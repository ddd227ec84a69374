package alb

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hastack/hastack/internal/health"
)

// Target states, as an ALB target group reports them.
const (
	StateInitial   = "initial"
	StateHealthy   = "healthy"
	StateUnhealthy = "unhealthy"
	// StateDraining: deregistered, finishing its in-flight requests.
	StateDraining = "draining"
	// StateUnused: not registered (TargetHealth of an unknown ID).
	StateUnused = "unused"
)

// Reason codes, as an ALB target group reports them.
const (
	ReasonRegistrationInProgress   = "Elb.RegistrationInProgress"
	ReasonInitialHealthChecking    = "Elb.InitialHealthChecking"
	ReasonResponseCodeMismatch     = "Target.ResponseCodeMismatch"
	ReasonTimeout                  = "Target.Timeout"
	ReasonFailedHealthChecks       = "Target.FailedHealthChecks"
	ReasonDeregistrationInProgress = "Target.DeregistrationInProgress"
)

// TargetStatus is one registered target's health, for status output.
type TargetStatus struct {
	ID    string
	Addr  string
	State string
	// Reason is empty when healthy.
	Reason string
	// Description says what the last failing check saw, e.g.
	// "Health checks failed with these codes: [503]".
	Description string
}

// target is a registered target. id, addr and pool never change; the
// health fields are guarded by LB.mu.
type target struct {
	lb   *LB
	id   string
	addr string
	pool *pool
	// inflight counts requests being proxied to the target.
	inflight atomic.Int64
	// drain is set once the target is deregistered.
	drain atomic.Pointer[drainState]

	state       health.State
	reason      string
	description string
	check       *checkRun // the running health check, nil when none
}

// drainState is a deregistered target waiting for its in-flight requests.
type drainState struct {
	done  chan struct{}
	once  sync.Once
	timer *time.Timer
}

// acquire counts a request for t. It fails when t started draining after
// it was picked, so that no request reaches a target once it drains.
func (t *target) acquire() bool {
	t.inflight.Add(1)
	if t.drain.Load() != nil {
		t.release()
		return false
	}
	return true
}

// release ends a request counted by acquire; the last one of a draining
// target completes the deregistration.
func (t *target) release() {
	if t.inflight.Add(-1) == 0 {
		if d := t.drain.Load(); d != nil {
			t.finishDrain(d, false)
		}
	}
}

// routeSet is an immutable snapshot of where requests may go, and of the
// settings the request path reads.
type routeSet struct {
	healthy []*target // sorted by ID
	// routed is where requests go, as routeTo decided: the healthy
	// targets, or the unhealthy ones when failing open; sorted by ID.
	routed []*target
	sel    Selector
	// idle is the idle timeout on both sides of the load balancer.
	idle time.Duration
	// retry is RetryOnConnectFailure.
	retry bool
	// maxConns is MaxConnections: the client connections held at once.
	maxConns int
}

// pick chooses a target for one request from the routed ones, or nil when
// there is none.
func (rs *routeSet) pick() *target {
	if len(rs.routed) > 0 {
		return rs.sel.Select(rs.routed)
	}
	return nil
}

// pickOther chooses a target other than failed, for a retry.
func (rs *routeSet) pickOther(failed *target) *target {
	others := make([]*target, 0, len(rs.routed))
	for _, t := range rs.routed {
		if t != failed {
			others = append(others, t)
		}
	}
	if len(others) == 0 {
		return nil
	}
	return rs.sel.Select(others)
}

// Register adds a target at addr (host:port) and starts its health checks;
// it takes traffic once a check passes. Registering an ID again with the
// same address does nothing; with another address, or while the ID is
// draining, a new target replaces it and the old one drains.
func (lb *LB) Register(id, addr string) {
	lb.mu.Lock()
	old, ok := lb.targets[id]
	var oldDrain *drainState
	if ok {
		if old.addr == addr && old.drain.Load() == nil {
			lb.mu.Unlock()
			return
		}
		if old.drain.Load() == nil {
			oldDrain = lb.startDrainLocked(old)
		}
	}
	t := &target{lb: lb, id: id, addr: addr, pool: newPool(addr, lb.dialer), state: health.Initial, reason: ReasonRegistrationInProgress}
	lb.targets[id] = t
	lb.startCheckLocked(t)
	lb.rebuildLocked()
	lb.mu.Unlock()

	if oldDrain != nil && old.inflight.Load() == 0 {
		old.finishDrain(oldDrain, false)
	}
	lb.log.Info("target registered", "target", id, "addr", addr)
	lb.event(fmt.Sprintf("%s target %s (%s) registered", lb.name, id, addr))
}

// Deregister starts removing a target: it is draining from now on, gets no
// new request and no health check, and keeps its in-flight requests until
// they finish or the deregistration delay runs out, when the ones still
// running are cut. The returned channel closes then, and the target is
// gone (unused). It is closed already for an unknown ID; deregistering a
// draining target returns the same channel again.
func (lb *LB) Deregister(id string) <-chan struct{} {
	lb.mu.Lock()
	t, ok := lb.targets[id]
	if !ok {
		lb.mu.Unlock()
		return closedChan
	}
	if d := t.drain.Load(); d != nil {
		lb.mu.Unlock()
		return d.done
	}
	d := lb.startDrainLocked(t)
	delay := lb.cfg.DeregistrationDelay
	lb.mu.Unlock()

	lb.log.Info("target draining", "target", id, "addr", t.addr, "in_flight", t.inflight.Load(), "deregistration_delay", delay)
	lb.event(fmt.Sprintf("%s target %s (%s) draining (deregistration delay %s)", lb.name, id, t.addr, delay))
	if t.inflight.Load() == 0 {
		t.finishDrain(d, false)
	}
	return d.done
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// startDrainLocked takes t out of routing and arms its deregistration
// delay. The target stays listed, as draining, until finishDrain.
func (lb *LB) startDrainLocked(t *target) *drainState {
	lb.stopCheckLocked(t)
	d := &drainState{done: make(chan struct{})}
	d.timer = time.AfterFunc(lb.cfg.DeregistrationDelay, func() { t.finishDrain(d, true) })
	t.drain.Store(d)
	lb.rebuildLocked()
	return d
}

// finishDrain completes a deregistration, once: when the last in-flight
// request ended, or when the delay ran out (expired), cutting the rest.
func (t *target) finishDrain(d *drainState, expired bool) {
	d.once.Do(func() {
		if !expired {
			d.timer.Stop() // the timer's own call must not read d.timer: it may run before the field is set
		}
		cut := t.pool.close()
		lb := t.lb
		lb.mu.Lock()
		if lb.targets[t.id] == t {
			delete(lb.targets, t.id)
			lb.rebuildLocked()
		}
		lb.mu.Unlock()
		close(d.done)

		msg := fmt.Sprintf("%s target %s (%s) deregistered", lb.name, t.id, t.addr)
		if expired && cut > 0 {
			msg += fmt.Sprintf(": deregistration delay over, %d in-flight connection(s) cut", cut)
			lb.log.Warn("target deregistered: deregistration delay over, in-flight requests cut", "target", t.id, "addr", t.addr, "cut", cut)
		} else {
			lb.log.Info("target deregistered", "target", t.id, "addr", t.addr)
		}
		lb.event(msg)
	})
}

// TargetHealth is a target's state: initial, healthy, unhealthy, draining,
// or unused for an ID that is not registered.
func (lb *LB) TargetHealth(id string) string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	t, ok := lb.targets[id]
	switch {
	case !ok:
		return StateUnused
	case t.drain.Load() != nil:
		return StateDraining
	default:
		return t.state.String()
	}
}

// Targets reports every registered target, draining ones included, sorted
// by ID.
func (lb *LB) Targets() []TargetStatus {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	out := make([]TargetStatus, 0, len(lb.targets))
	for _, t := range lb.targets {
		s := TargetStatus{
			ID:          t.id,
			Addr:        t.addr,
			State:       t.state.String(),
			Reason:      t.reason,
			Description: t.description,
		}
		if t.drain.Load() != nil {
			s.State = StateDraining
			s.Reason = ReasonDeregistrationInProgress
			s.Description = "Target deregistration is in progress"
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b TargetStatus) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// HealthyCount is the number of healthy targets.
func (lb *LB) HealthyCount() int {
	return len(lb.routes.Load().healthy)
}

// rebuildLocked publishes a new routing snapshot from the target set, as
// routeTo decides, updates the host count metrics, and logs when the load
// balancer starts or stops failing open.
func (lb *LB) rebuildLocked() {
	rs := &routeSet{sel: lb.selector, idle: lb.cfg.IdleTimeout, retry: lb.cfg.RetryOnConnectFailure, maxConns: lb.cfg.MaxConnections}
	ts := make([]*target, 0, len(lb.targets))
	for _, t := range lb.targets {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b *target) int { return cmp.Compare(a.id, b.id) })
	states := make([]string, len(ts))
	unhealthy := 0
	for i, t := range ts {
		states[i] = t.state.String()
		if t.drain.Load() != nil {
			states[i] = StateDraining
		}
		switch states[i] {
		case StateHealthy:
			rs.healthy = append(rs.healthy, t)
		case StateUnhealthy:
			unhealthy++
		}
	}
	take, failOpen := routeTo(states)
	for _, i := range take {
		rs.routed = append(rs.routed, ts[i])
	}
	lb.routes.Store(rs)
	if lb.run != nil {
		lb.metrics.hosts(len(rs.healthy), unhealthy)
	}

	if failOpen != lb.failOpen {
		lb.failOpen = failOpen
		switch {
		case failOpen:
			lb.log.Warn("no healthy target: routing to every unhealthy target (fail open)", "unhealthy", unhealthy, "targets", len(ts))
		case len(rs.healthy) > 0:
			lb.log.Info("healthy targets again: routing to them only", "healthy", len(rs.healthy), "targets", len(ts))
		default:
			lb.log.Info("no unhealthy target left to fail open to: no target available", "targets", len(ts))
		}
	}
}
