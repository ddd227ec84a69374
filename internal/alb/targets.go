package alb

import (
	"cmp"
	"fmt"
	"net/http/httputil"
	"slices"
	"sync/atomic"

	"github.com/hastack/hastack/internal/health"
)

// Target states, as an ALB target group reports them.
const (
	StateInitial   = "initial"
	StateHealthy   = "healthy"
	StateUnhealthy = "unhealthy"
	// StateDraining is reserved for deregistration with a delay; targets
	// are removed at once for now.
	StateDraining = "draining"
)

// Reason codes, as an ALB target group reports them.
const (
	ReasonRegistrationInProgress = "Elb.RegistrationInProgress"
	ReasonInitialHealthChecking  = "Elb.InitialHealthChecking"
	ReasonResponseCodeMismatch   = "Target.ResponseCodeMismatch"
	ReasonTimeout                = "Target.Timeout"
	ReasonFailedHealthChecks     = "Target.FailedHealthChecks"
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

// target is a registered target. id, addr and proxy never change; the
// health fields are guarded by LB.mu.
type target struct {
	id    string
	addr  string
	proxy *httputil.ReverseProxy
	// inflight counts requests being proxied to the target.
	inflight atomic.Int64

	state       health.State
	reason      string
	description string
	check       *checkRun // the running health check, nil when none
}

// routeSet is an immutable snapshot of where requests may go.
type routeSet struct {
	healthy []*target // sorted by ID
	all     []*target // every registered target, sorted by ID
	sel     Selector
}

// pick chooses a target for one request: a healthy one, or any registered
// one when none is healthy (fail open), or nil when none is registered.
func (rs *routeSet) pick() *target {
	if len(rs.healthy) > 0 {
		return rs.sel.Select(rs.healthy)
	}
	if len(rs.all) > 0 {
		return rs.sel.Select(rs.all)
	}
	return nil
}

// Register adds a target at addr (host:port) and starts its health checks;
// it takes traffic once a check passes. Registering an ID again with the
// same address does nothing; with another address it replaces the target.
func (lb *LB) Register(id, addr string) {
	lb.mu.Lock()
	if old, ok := lb.targets[id]; ok {
		if old.addr == addr {
			lb.mu.Unlock()
			return
		}
		lb.stopCheckLocked(old)
	}
	t := &target{id: id, addr: addr, state: health.Initial, reason: ReasonRegistrationInProgress}
	t.proxy = lb.newProxy(t)
	lb.targets[id] = t
	lb.startCheckLocked(t)
	lb.rebuildLocked()
	lb.mu.Unlock()

	lb.log.Info("target registered", "target", id, "addr", addr)
	lb.event(fmt.Sprintf("%s target %s (%s) registered", lb.name, id, addr))
}

// Deregister removes a target: no new request goes to it from now on, and
// its health checks stop. Requests already sent to it run to completion.
// Deregistering an unknown ID does nothing.
func (lb *LB) Deregister(id string) {
	lb.mu.Lock()
	t, ok := lb.targets[id]
	if !ok {
		lb.mu.Unlock()
		return
	}
	delete(lb.targets, id)
	lb.stopCheckLocked(t)
	lb.rebuildLocked()
	lb.mu.Unlock()

	lb.log.Info("target deregistered", "target", id, "addr", t.addr)
	lb.event(fmt.Sprintf("%s target %s (%s) deregistered", lb.name, id, t.addr))
}

// Targets reports every registered target, sorted by ID.
func (lb *LB) Targets() []TargetStatus {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	out := make([]TargetStatus, 0, len(lb.targets))
	for _, t := range lb.targets {
		out = append(out, TargetStatus{
			ID:          t.id,
			Addr:        t.addr,
			State:       t.state.String(),
			Reason:      t.reason,
			Description: t.description,
		})
	}
	slices.SortFunc(out, func(a, b TargetStatus) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// HealthyCount is the number of healthy targets.
func (lb *LB) HealthyCount() int {
	return len(lb.routes.Load().healthy)
}

// rebuildLocked publishes a new routing snapshot from the target set and
// logs when the load balancer starts or stops failing open.
func (lb *LB) rebuildLocked() {
	rs := &routeSet{sel: lb.selector}
	for _, t := range lb.targets {
		rs.all = append(rs.all, t)
		if t.state == health.Healthy {
			rs.healthy = append(rs.healthy, t)
		}
	}
	byID := func(a, b *target) int { return cmp.Compare(a.id, b.id) }
	slices.SortFunc(rs.all, byID)
	slices.SortFunc(rs.healthy, byID)
	lb.routes.Store(rs)

	failOpen := len(rs.healthy) == 0 && len(rs.all) > 0
	if failOpen != lb.failOpen {
		lb.failOpen = failOpen
		switch {
		case failOpen:
			lb.log.Warn("no healthy target: routing to all registered targets (fail open)", "targets", len(rs.all))
		case len(rs.healthy) > 0:
			lb.log.Info("healthy targets again: routing to them only", "healthy", len(rs.healthy), "targets", len(rs.all))
		}
	}
}
