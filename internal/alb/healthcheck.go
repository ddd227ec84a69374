package alb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hastack/hastack/internal/health"
	"github.com/hastack/hastack/internal/spec"
)

// checkRun is one target's running health check. Results from a run that is
// no longer the target's current one are dropped, so a restarted or stopped
// check never overwrites newer state.
type checkRun struct {
	cancel context.CancelFunc
}

// startChecks runs health checks under ctx for every registered target, and
// for targets registered later, until stopChecks.
func (lb *LB) startChecks(ctx context.Context) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.run = ctx
	for _, t := range lb.targets {
		if t.drain.Load() == nil {
			lb.startCheckLocked(t)
		}
	}
	lb.rebuildLocked()
}

// stopChecks stops every health check and waits for them to end.
func (lb *LB) stopChecks() {
	lb.mu.Lock()
	lb.run = nil
	for _, t := range lb.targets {
		lb.stopCheckLocked(t)
	}
	lb.metrics.hosts(0, 0)
	lb.mu.Unlock()
	lb.checks.Wait()
}

// startCheckLocked (re)starts t's health check with the current settings,
// continuing from t's current state. It does nothing unless Serve runs.
func (lb *LB) startCheckLocked(t *target) {
	lb.stopCheckLocked(t)
	if lb.run == nil {
		return
	}
	hc := lb.cfg.HealthCheck
	ctx, cancel := context.WithCancel(lb.run)
	run := &checkRun{cancel: cancel}
	t.check = run
	c := &health.Checker{
		Probe:    health.NewHTTPProbe(checkURL(t.addr, hc), hc.Timeout, hc.Timeout, lb.matcher, health.From(lb.source)),
		Interval: hc.Interval,
		Counter: health.NewCounter(health.Thresholds{
			Healthy:   hc.HealthyThreshold,
			Unhealthy: hc.UnhealthyThreshold,
		}, t.state),
		Report: func(r health.Result, s health.State, changed bool) {
			lb.report(t, run, hc.Timeout, r, s, changed)
		},
	}
	lb.checks.Add(1)
	go func() {
		defer lb.checks.Done()
		defer cancel()
		c.Run(ctx)
	}()
}

func (lb *LB) stopCheckLocked(t *target) {
	if t.check != nil {
		t.check.cancel()
		t.check = nil
	}
}

// report records one check result of run and, on a state change, reroutes
// and tells the logger and OnEvent.
func (lb *LB) report(t *target, run *checkRun, timeout time.Duration, r health.Result, s health.State, changed bool) {
	lb.mu.Lock()
	if t.check != run {
		lb.mu.Unlock()
		return
	}
	t.state = s
	switch {
	case s == health.Healthy:
		t.reason, t.description = "", ""
	case r.Passed:
		// Unhealthy, and not yet enough passes: the failure stays the reason.
	case s == health.Initial:
		_, t.description = failure(r, timeout)
		t.reason = ReasonInitialHealthChecking
	default:
		t.reason, t.description = failure(r, timeout)
	}
	reason, desc := t.reason, t.description
	if changed {
		lb.rebuildLocked()
	}
	lb.mu.Unlock()
	if !changed {
		return
	}

	msg := fmt.Sprintf("%s target %s (%s) %s", lb.name, t.id, t.addr, s)
	if reason != "" {
		msg += fmt.Sprintf(": %s (%s)", reason, desc)
	}
	if s == health.Healthy {
		lb.log.Info("target healthy", "target", t.id, "addr", t.addr)
	} else {
		lb.log.Warn("target "+s.String(), "target", t.id, "addr", t.addr, "reason", reason, "description", desc)
	}
	lb.event(msg)
}

// failure turns a failed check into an ALB reason code and description.
func failure(r health.Result, timeout time.Duration) (reason, description string) {
	switch {
	case r.Err == nil:
		return ReasonResponseCodeMismatch, fmt.Sprintf("Health checks failed with these codes: [%d]", r.Status)
	case timedOut(r, timeout):
		return ReasonTimeout, "Request timed out"
	default:
		return ReasonFailedHealthChecks, "Health checks failed: " + r.Err.Error()
	}
}

// timedOut reports whether a failed check ran into its timeout. The probe
// simplifies its errors, so the check's latency is the dependable sign.
func timedOut(r health.Result, timeout time.Duration) bool {
	var netErr net.Error
	if errors.As(r.Err, &netErr) && netErr.Timeout() {
		return true
	}
	return errors.Is(r.Err, context.DeadlineExceeded) || r.Latency >= timeout
}

// checkURL is the health check address of a target: its host, the check
// port or else the traffic port, and the check path.
func checkURL(addr string, hc spec.TargetHealthCheck) string {
	hostport := addr
	if hc.Port != 0 {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			hostport = net.JoinHostPort(host, strconv.Itoa(hc.Port))
		}
	}
	path := hc.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return "http://" + hostport + path
}
