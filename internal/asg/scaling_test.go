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
		name          string
		cap           Capacity
		policies      []PolicyState
		cooldownUntil time.Time
		wantCause     string // "" for no activity
		wantTo        int
		wantCooldown  time.Duration // from now
	}{
		{name: "nothing in ALARM", cap: c(2, 4, 2), policies: []PolicyState{out(ok), in(ok)}},
		{name: "insufficient data does nothing", cap: c(2, 4, 2), policies: []PolicyState{out(none), in(none)}},
		{name: "scale out by the adjustment", cap: c(2, 4, 2), policies: []PolicyState{out(alarm), in(ok)},
			wantCause: PolicyScaleOut, wantTo: 3, wantCooldown: cooldown},
		{name: "scale in by the adjustment, with its own cooldown", cap: c(2, 4, 3), policies: []PolicyState{out(ok), in(alarm)},
			wantCause: PolicyScaleIn, wantTo: 2, wantCooldown: time.Minute},
		{name: "in cooldown: a nanosecond before its end", cap: c(2, 4, 2), policies: []PolicyState{out(alarm)},
			cooldownUntil: now.Add(time.Nanosecond)},
		{name: "cooldown over exactly at its end", cap: c(2, 4, 2), policies: []PolicyState{out(alarm)},
			cooldownUntil: now, wantCause: PolicyScaleOut, wantTo: 3, wantCooldown: cooldown},
		{name: "cooldown long over", cap: c(2, 4, 3), policies: []PolicyState{out(alarm)},
			cooldownUntil: now.Add(-time.Hour), wantCause: PolicyScaleOut, wantTo: 4, wantCooldown: cooldown},
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
			act, fired := Scale(tt.cap, tt.policies, now, tt.cooldownUntil)
			if fired != (tt.wantCause != "") {
				t.Fatalf("Scale fired %v (%+v), want %q", fired, act, tt.wantCause)
			}
			if !fired {
				return
			}
			if act.Cause != tt.wantCause || act.From != tt.cap.Desired || act.To != tt.wantTo ||
				!act.At.Equal(now) || !act.CooldownUntil.Equal(now.Add(tt.wantCooldown)) {
				t.Errorf("Scale = %+v, want %s %d -> %d, cooldown until now+%s", act, tt.wantCause, tt.cap.Desired, tt.wantTo, tt.wantCooldown)
			}
		})
	}
}

// TestScaleCooldownSequence walks a policy whose alarm stays in ALARM: it
// fires, waits out exactly its cooldown, fires again, and stops at max.
func TestScaleCooldownSequence(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	ps := []PolicyState{{Name: PolicyScaleOut, Alarm: metrics.StateAlarm, Adjustment: 1, Cooldown: 10 * time.Second}}
	c := Capacity{Min: 1, Max: 3, Desired: 1}
	var until time.Time
	var fired []string
	for s := 0; s <= 40; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		if act, ok := Scale(c, ps, now, until); ok {
			fired = append(fired, now.Sub(t0).String())
			c.Desired, until = act.To, act.CooldownUntil
		}
	}
	if want := []string{"0s", "10s"}; len(fired) != 2 || fired[0] != want[0] || fired[1] != want[1] || c.Desired != 3 {
		t.Errorf("fired at %v reaching %d, want at %v reaching 3", fired, c.Desired, want)
	}
}
