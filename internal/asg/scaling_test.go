package asg

import (
	"testing"
	"time"

	"github.com/hastack/hastack/internal/metrics"
)

func TestScale(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	const cooldown = 300 * time.Second
	out := func(s metrics.State) PolicyState {
		return PolicyState{Name: PolicyScaleOut, Alarm: s, Adjustment: 1, Cooldown: cooldown}
	}
	in := func(s metrics.State) PolicyState {
		return PolicyState{Name: PolicyScaleIn, Alarm: s, Adjustment: -1, Cooldown: 60 * time.Second}
	}
	alarm, ok, none := metrics.StateAlarm, metrics.StateOK, metrics.StateInsufficientData
	c := func(minSize, maxSize, desired int) Capacity {
		return Capacity{Min: minSize, Max: maxSize, Desired: desired}
	}

	tests := []struct {
		name         string
		cap          Capacity
		policies     []PolicyState
		cooldown     Cooldown
		wantCause    string // "" for no activity
		wantTo       int
		wantCooldown time.Duration // carried by the activity, to start at completion
	}{
		{name: "nothing in ALARM", cap: c(2, 4, 2), policies: []PolicyState{out(ok), in(ok)}},
		{name: "insufficient data does nothing", cap: c(2, 4, 2), policies: []PolicyState{out(none), in(none)}},
		{name: "scale out by the adjustment", cap: c(2, 4, 2), policies: []PolicyState{out(alarm), in(ok)},
			wantCause: PolicyScaleOut, wantTo: 3, wantCooldown: cooldown},
		{name: "scale in by the adjustment, with its own cooldown", cap: c(2, 4, 3), policies: []PolicyState{out(ok), in(alarm)},
			wantCause: PolicyScaleIn, wantTo: 2, wantCooldown: time.Minute},
		{name: "activity in progress: nothing fires", cap: c(2, 4, 2), policies: []PolicyState{out(alarm)},
			cooldown: Cooldown{InProgress: true}},
		{name: "activity in progress, even with a past cooldown end", cap: c(2, 4, 2), policies: []PolicyState{out(alarm)},
			cooldown: Cooldown{InProgress: true, Until: now.Add(-time.Hour)}},
		{name: "in cooldown: a nanosecond before its end", cap: c(2, 4, 2), policies: []PolicyState{out(alarm)},
			cooldown: Cooldown{Until: now.Add(time.Nanosecond)}},
		{name: "cooldown over exactly at its end", cap: c(2, 4, 2), policies: []PolicyState{out(alarm)},
			cooldown: Cooldown{Until: now}, wantCause: PolicyScaleOut, wantTo: 3, wantCooldown: cooldown},
		{name: "cooldown long over", cap: c(2, 4, 3), policies: []PolicyState{out(alarm)},
			cooldown: Cooldown{Until: now.Add(-time.Hour)}, wantCause: PolicyScaleOut, wantTo: 4, wantCooldown: cooldown},
		{name: "at max: no activity, no cooldown", cap: c(2, 4, 4), policies: []PolicyState{out(alarm)}},
		{name: "at min: no activity", cap: c(2, 4, 2), policies: []PolicyState{in(alarm)}},
		{name: "adjustment clamped to max", cap: c(2, 4, 3),
			policies:  []PolicyState{{Name: PolicyScaleOut, Alarm: alarm, Adjustment: 5, Cooldown: cooldown}},
			wantCause: PolicyScaleOut, wantTo: 4, wantCooldown: cooldown},
		{name: "adjustment clamped to min", cap: c(1, 4, 3),
			policies:  []PolicyState{{Name: PolicyScaleIn, Alarm: alarm, Adjustment: -5}},
			wantCause: PolicyScaleIn, wantTo: 1},
		{name: "both in ALARM: the larger capacity wins", cap: c(1, 4, 2), policies: []PolicyState{in(alarm), out(alarm)},
			wantCause: PolicyScaleOut, wantTo: 3, wantCooldown: cooldown},
		{name: "zero adjustment never fires", cap: c(1, 4, 2),
			policies: []PolicyState{{Name: PolicyScaleOut, Alarm: alarm}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			act, fired := Scale(tt.cap, tt.policies, now, tt.cooldown)
			if fired != (tt.wantCause != "") {
				t.Fatalf("Scale fired %v (%+v), want %q", fired, act, tt.wantCause)
			}
			if !fired {
				return
			}
			if act.Cause != tt.wantCause || act.From != tt.cap.Desired || act.To != tt.wantTo || !act.At.Equal(now) ||
				act.Cooldown != tt.wantCooldown || !act.CompletedAt.IsZero() || !act.CooldownUntil.IsZero() {
				t.Errorf("Scale = %+v, want %s %d -> %d with cooldown %s, not yet completed", act, tt.wantCause, tt.cap.Desired, tt.wantTo, tt.wantCooldown)
			}
		})
	}
}

// TestComplete: a scaling activity completes when the group has settled at
// its desired capacity (the last launch in service, the last termination
// reaped), and its cooldown runs from then, not from the decision.
func TestComplete(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	const (
		cooldown = 300 * time.Second
		limit    = 10 * time.Minute
	)
	out := Activity{At: t0, Cause: PolicyScaleOut, From: 2, To: 3, Cooldown: cooldown}
	in := Activity{At: t0, Cause: PolicyScaleIn, From: 3, To: 2, Cooldown: time.Minute}
	p := func(desired, inService, pending, leaving int) Progress {
		return Progress{Desired: desired, InService: inService, Pending: pending, Leaving: leaving}
	}

	tests := []struct {
		name        string
		act         Activity
		progress    Progress
		now         time.Duration // since t0, the injected clock
		wantDone    bool
		wantAt      time.Duration // completion, since t0
		wantTimeout bool
	}{
		{name: "scale-out decided, nothing launched yet", act: out, progress: p(3, 2, 0, 0)},
		{name: "scale-out: the launch still pending", act: out, progress: p(3, 2, 1, 0), now: 40 * time.Second},
		{name: "scale-out: the launch in service", act: out, progress: p(3, 3, 0, 0), now: 45 * time.Second,
			wantDone: true, wantAt: 45 * time.Second},
		{name: "scale-out: in service, but a health replacement under way", act: out, progress: p(3, 3, 1, 1), now: 45 * time.Second},
		{name: "scale-out: in service, one found unhealthy", act: out, progress: p(3, 2, 0, 1), now: 45 * time.Second},
		{name: "scale-out: rebalancing launch beyond desired", act: out, progress: p(3, 4, 0, 0), now: 45 * time.Second},
		{name: "scale-in: the victim draining", act: in, progress: p(2, 2, 0, 1), now: 200 * time.Second},
		{name: "scale-in: the victim reaped after its drain", act: in, progress: p(2, 2, 0, 0), now: 305 * time.Second,
			wantDone: true, wantAt: 305 * time.Second},
		{name: "an operator's change meanwhile is waited for", act: out, progress: p(4, 3, 1, 0), now: 45 * time.Second},
		{name: "settled at an operator's new desired", act: out, progress: p(4, 4, 0, 0), now: 50 * time.Second,
			wantDone: true, wantAt: 50 * time.Second},
		{name: "unsettled a nanosecond before the limit", act: out, progress: p(3, 2, 1, 0), now: limit - time.Nanosecond},
		{name: "unsettled at the limit: counted complete", act: out, progress: p(3, 2, 1, 0), now: limit,
			wantDone: true, wantAt: limit, wantTimeout: true},
		{name: "unsettled, noticed after the limit: complete at the limit", act: out, progress: p(3, 2, 0, 0), now: limit + time.Minute,
			wantDone: true, wantAt: limit, wantTimeout: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, done := Complete(tt.act, tt.progress, t0.Add(tt.now), limit)
			if done != tt.wantDone {
				t.Fatalf("Complete = %+v, %v; want done %v", got, done, tt.wantDone)
			}
			if !done {
				if got != tt.act {
					t.Errorf("Complete changed an activity in progress: %+v", got)
				}
				return
			}
			at := t0.Add(tt.wantAt)
			if !got.CompletedAt.Equal(at) || got.TimedOut != tt.wantTimeout || !got.CooldownUntil.Equal(at.Add(tt.act.Cooldown)) {
				t.Errorf("Complete = completed %s (timed out %v), cooldown until %s; want %s (%v), %s",
					got.CompletedAt, got.TimedOut, got.CooldownUntil, at, tt.wantTimeout, at.Add(tt.act.Cooldown))
			}
		})
	}
}

// TestScaleCooldownSequence runs Scale and Complete on an injected clock
// against a simulated group whose launches take 30 s to come into service,
// with a policy whose alarm stays in ALARM: it fires at 0 s, the launch is
// in service at 30 s, the 10 s cooldown ends at 40 s and it fires again,
// and again at 80 s, reaching max. Counting the cooldown from the decision
// would fire at 0, 10 and 20 s.
func TestScaleCooldownSequence(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	const launchTakes = 30 * time.Second
	ps := []PolicyState{{Name: PolicyScaleOut, Alarm: metrics.StateAlarm, Adjustment: 1, Cooldown: 10 * time.Second}}
	c := Capacity{Min: 1, Max: 4, Desired: 1}
	var (
		cd       Cooldown
		act      Activity
		fired    []time.Duration
		launched []time.Time // when each instance was launched
	)
	launched = append(launched, t0.Add(-time.Hour))
	for s := 0; s <= 200; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		pr := Progress{Desired: c.Desired}
		for _, l := range launched {
			if now.Sub(l) >= launchTakes {
				pr.InService++
			} else {
				pr.Pending++
			}
		}
		if cd.InProgress {
			if done, ok := Complete(act, pr, now, time.Hour); ok {
				cd = Cooldown{Until: done.CooldownUntil}
			}
		}
		if a, ok := Scale(c, ps, now, cd); ok {
			fired = append(fired, now.Sub(t0))
			c.Desired, act, cd = a.To, a, Cooldown{InProgress: true}
		}
		for len(launched) < c.Desired { // the group launches what is missing
			launched = append(launched, now)
		}
	}
	want := []time.Duration{0, 40 * time.Second, 80 * time.Second}
	if len(fired) != len(want) || fired[0] != want[0] || fired[1] != want[1] || fired[2] != want[2] || c.Desired != 4 {
		t.Errorf("fired at %v reaching %d, want at %v reaching 4", fired, c.Desired, want)
	}
}
