package asg

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hastack/hastack/internal/metrics"
)

// Status is a snapshot of the group as a whole, for `status`.
type Status struct {
	Region string
	Capacity
	InService, Pending, Terminating int
	HealthCheck                     HealthCheck
	// BlockedAZs are the AZs made unavailable by BlockAZ, sorted.
	BlockedAZs []string
	// CPU is the group's average CPU at the last sample, in percent of one
	// core; HaveCPU is false before the first or with no instance measured.
	CPU     float64
	HaveCPU bool
	// ScalingInProgress is set while the last scaling policy's activity
	// has not completed; its cooldown starts once it has.
	ScalingInProgress bool
	// CooldownUntil is when simple scaling policies may fire again, once
	// the last policy's activity completed.
	CooldownUntil time.Time
	// Crashed is set from Crash until Resume: no instance runs and the
	// group neither launches nor scales.
	Crashed bool
	// Activities are the recent changes of desired capacity, most recent last.
	Activities []Activity
	// Alarms are the scaling policies' alarms, scale-out first.
	Alarms []metrics.AlarmStatus
}

// LastActivity returns the most recent change of desired capacity.
func (s Status) LastActivity() (Activity, bool) {
	if len(s.Activities) == 0 {
		return Activity{}, false
	}
	return s.Activities[len(s.Activities)-1], true
}

// Status returns the group's capacity, health check, CPU, cooldown,
// recent activities and alarm states.
func (g *Group) Status() Status {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := Status{
		Region:            g.cfg.Region,
		Capacity:          g.capacity,
		HealthCheck:       g.health,
		BlockedAZs:        slices.Sorted(maps.Keys(g.blocked)),
		CPU:               g.groupCPU,
		HaveCPU:           g.haveCPU,
		CooldownUntil:     g.cooldown.Until,
		ScalingInProgress: g.cooldown.InProgress,
		Crashed:           g.crashed,
		Activities:        slices.Clone(g.activities),
	}
	if s.HealthCheck.Type == "" {
		s.HealthCheck.Type = HealthCheckEC2
	}
	for _, m := range g.live {
		switch m.State {
		case Pending:
			s.Pending++
		case InService:
			s.InService++
		case Terminating:
			s.Terminating++
		}
	}
	for _, p := range g.policies {
		if a := g.alarms[p.name]; a != nil {
			s.Alarms = append(s.Alarms, a.Status())
		}
	}
	return s
}

// Instances returns the group's instances sorted by ID, including the most
// recently terminated ones.
func (g *Group) Instances() []Instance {
	g.mu.Lock()
	out := slices.Clone(g.terminated)
	for _, m := range g.live {
		out = append(out, m.Instance)
	}
	g.mu.Unlock()
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return out
}
