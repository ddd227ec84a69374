package asg

import (
	"fmt"
	"time"
)

// TargetUnhealthy is the load balancer's verdict that counts against an
// instance with health check type ELB.
const TargetUnhealthy = "unhealthy"

// HealthCheck is how the group judges its instances' health.
type HealthCheck struct {
	// Type is HealthCheckEC2 (or empty) or HealthCheckELB.
	Type string
	// GracePeriod after launch during which the load balancer's verdict
	// is ignored.
	GracePeriod time.Duration
}

// CheckHealth decides whether a running instance is unhealthy, given the
// load balancer's verdict on it (Targets.TargetHealth), as EC2 Auto
// Scaling does:
//
//   - with type EC2 a running instance is healthy; an exit is seen
//     directly and replaced;
//   - with type ELB an in-service instance the load balancer reports
//     "unhealthy" is unhealthy once GracePeriod has passed since its
//     launch (at LaunchedAt+GracePeriod exactly, it counts); until then the
//     verdict is ignored. Other verdicts ("initial", "healthy", "draining",
//     "unused") are healthy.
//
// When unhealthy it returns why. CheckHealth is pure.
func CheckHealth(hc HealthCheck, inst Instance, targetHealth string, now time.Time) (bool, string) {
	if hc.Type != HealthCheckELB || inst.State != InService || targetHealth != TargetUnhealthy {
		return false, ""
	}
	if now.Before(inst.LaunchedAt.Add(hc.GracePeriod)) {
		return false, ""
	}
	return true, fmt.Sprintf("the load balancer reports it unhealthy %s after launch (grace period %s)",
		now.Sub(inst.LaunchedAt).Round(time.Millisecond), hc.GracePeriod)
}
