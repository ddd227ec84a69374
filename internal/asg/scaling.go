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
	// Cooldown is the firing policy's cooldown, which starts once the
	// activity has completed; zero for an operator's change, which starts
	// no cooldown.
	Cooldown time.Duration
	// CompletedAt is when a policy's activity completed (see Complete);
	// zero while it is in progress, and for an operator's change.
	CompletedAt time.Time
	// TimedOut is set when the activity was counted complete because the
	// group had not settled within the limit.
	TimedOut bool
	// CooldownUntil is when simple scaling policies may fire again:
	// CompletedAt + Cooldown; zero until the activity completed.
	CooldownUntil time.Time
	// Description says what happened, with the numbers.
	Description string
}

// Cooldown is where the group's last simple scaling activity stands.
type Cooldown struct {
	// InProgress is set from the moment a policy fires until its activity
	// has completed; meanwhile no simple scaling policy fires.
	InProgress bool
	// Until is when the completed activity's cooldown ends.
	Until time.Time
}

// Scale decides whether a simple scaling policy fires at now, as EC2 Auto
// Scaling's simple scaling does:
//
//   - none fires while the last policy's activity is in progress, nor
//     before the end of its cooldown, cd.Until (at cd.Until exactly, one
//     may);
//   - a policy whose alarm is in ALARM changes desired capacity by its
//     Adjustment, clamped to [Min, Max]; one that would change nothing
//     (the group is at its limit) does not fire and starts no activity;
//   - while its alarm stays in ALARM a policy fires again each time the
//     cooldown is over;
//   - when several would fire, the one giving the largest capacity wins,
//     the first listed on a tie;
//   - the activity carries the firing policy's Cooldown, which starts when
//     the activity completes (Complete), not now.
//
// Scale is pure; the returned Activity has no Description.
func Scale(c Capacity, policies []PolicyState, now time.Time, cd Cooldown) (Activity, bool) {
	if cd.InProgress || now.Before(cd.Until) {
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
			best = Activity{At: now, Cause: p.Name, From: c.Desired, To: to, Cooldown: p.Cooldown}
			found = true
		}
	}
	return best, found
}

// Progress counts a group's instances against its desired capacity, for
// judging whether a scaling activity has completed.
type Progress struct {
	Desired int
	// InService counts healthy in-service instances.
	InService int
	// Pending counts instances launched and not yet in service.
	Pending int
	// Leaving counts instances on their way out: terminating (draining or
	// stopping, until reaped), or found unhealthy and about to be.
	Leaving int
}

// Settled reports whether the group stands at its desired capacity with
// nothing on the way in or out.
func (p Progress) Settled() bool {
	return p.InService == p.Desired && p.Pending == 0 && p.Leaving == 0
}

// Complete decides whether the simple scaling activity act, in progress,
// has completed at now, as EC2 Auto Scaling judges it:
//
//   - it completes when the last instance it launched is in service and
//     the last one it terminated is gone (deregistered, drained and
//     reaped): the group has settled at its desired capacity (p.Settled).
//     Desired is the group's current one, so an operator's change or a
//     health replacement meanwhile is waited for too;
//   - a group that has not settled within limit of act.At (launches keep
//     failing, no address is free) completes it anyway at act.At + limit,
//     TimedOut, so that scaling is not held up for ever;
//   - the cooldown runs from completion: CooldownUntil is CompletedAt +
//     act.Cooldown.
//
// Complete is pure; it returns act with CompletedAt, TimedOut and
// CooldownUntil set once complete.
func Complete(act Activity, p Progress, now time.Time, limit time.Duration) (Activity, bool) {
	switch {
	case p.Settled():
		act.CompletedAt = now
	case !now.Before(act.At.Add(limit)):
		act.CompletedAt, act.TimedOut = act.At.Add(limit), true
	default:
		return act, false
	}
	act.CooldownUntil = act.CompletedAt.Add(act.Cooldown)
	return act, true
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
