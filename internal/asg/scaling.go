package asg

import (
	"time"

	"github.com/hastack/hastack/internal/metrics"
	"github.com/hastack/hastack/internal/spec"
)

// Policy names, as Status and events show them.
const (
	PolicyScaleOut = "scale-out"
	PolicyScaleIn  = "scale-in"
)

// CauseOperator is an Activity's cause when SetDesired, SetCapacity or
// Update changed desired capacity.
const CauseOperator = "operator"

// Capacity is a group's size limits and desired size.
type Capacity struct {
	Min, Max, Desired int
}

// PolicyState is a simple scaling policy and the state of the alarm that
// fires it.
type PolicyState struct {
	Name       string
	Alarm      metrics.State
	Adjustment int
	Cooldown   time.Duration
}

// Activity is a change of desired capacity.
type Activity struct {
	At time.Time
	// Cause is the policy that fired, or CauseOperator.
	Cause    string
	From, To int
	// CooldownUntil is when simple scaling policies may fire again; zero
	// for an operator's change, which starts no cooldown.
	CooldownUntil time.Time
	// Description says what happened, with the numbers.
	Description string
}

// Scale decides whether a simple scaling policy fires at now, as EC2 Auto
// Scaling's simple scaling does:
//
//   - none fires before cooldownUntil, the end of the last scaling
//     activity's cooldown (at cooldownUntil exactly, one may);
//   - a policy whose alarm is in ALARM changes desired capacity by its
//     Adjustment, clamped to [Min, Max]; one that would change nothing
//     (the group is at its limit) does not fire and starts no cooldown;
//   - while its alarm stays in ALARM a policy fires again each time the
//     cooldown is over;
//   - when several would fire, the one giving the largest capacity wins,
//     the first listed on a tie;
//   - the activity's cooldown is the firing policy's Cooldown, from now.
//
// Scale is pure; the returned Activity has no Description.
func Scale(c Capacity, policies []PolicyState, now, cooldownUntil time.Time) (Activity, bool) {
	if now.Before(cooldownUntil) {
		return Activity{}, false
	}
	var best Activity
	found := false
	for _, p := range policies {
		if p.Alarm != metrics.StateAlarm {
			continue
		}
		to := min(max(c.Desired+p.Adjustment, c.Min), c.Max)
		if to == c.Desired {
			continue
		}
		if !found || to > best.To {
			best = Activity{At: now, Cause: p.Name, From: c.Desired, To: to, CooldownUntil: now.Add(p.Cooldown)}
			found = true
		}
	}
	return best, found
}

// policy is one of the group's simple scaling policies with what its
// alarm compares.
type policy struct {
	name string
	spec.ScalingPolicy
	comparison metrics.Comparison
	alarmName  string // after the region
}

// on reports whether the policy is configured.
func (p policy) on() bool { return p.Period > 0 }

// policies are a group's scale-out and scale-in policies: scale out when
// group CPU is at or above the first's threshold, in when below the second's.
func policies(a spec.AutoScaling) []policy {
	return []policy{
		{name: PolicyScaleOut, ScalingPolicy: a.ScaleOut, comparison: metrics.GreaterThanOrEqualToThreshold, alarmName: "cpu-high"},
		{name: PolicyScaleIn, ScalingPolicy: a.ScaleIn, comparison: metrics.LessThanThreshold, alarmName: "cpu-low"},
	}
}

// alarm is the definition of the policy's CPU alarm in region.
func (p policy) alarm(region string) metrics.AlarmConfig {
	return metrics.AlarmConfig{
		Name:              region + "-" + p.alarmName,
		Threshold:         p.CPUThreshold,
		Comparison:        p.comparison,
		Period:            p.Period,
		EvaluationPeriods: p.EvaluationPeriods,
		DatapointsToAlarm: p.DatapointsToAlarm,
	}
}
