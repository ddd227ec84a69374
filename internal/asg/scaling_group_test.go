package asg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/metrics"
	"github.com/hastack/hastack/internal/spec"
)

func fastPolicy(threshold float64, adjustment int, cooldown time.Duration) spec.ScalingPolicy {
	return spec.ScalingPolicy{CPUThreshold: threshold, Period: 400 * time.Millisecond, EvaluationPeriods: 2,
		DatapointsToAlarm: 2, Adjustment: adjustment, Cooldown: cooldown}
}

// TestGroupScalesOnMeasuredCPU: the instances burn CPU, the group's
// measured CPU crosses the scale-out threshold and it scales out one
// instance per cooldown up to max; when the burn stops it scales back in to
// min. The thresholds sit far from both idle and the burn (a core per
// instance, or its share of the machine: still 18% at a load of 11 on two
// cores), as the machine is shared.
func TestGroupScalesOnMeasuredCPU(t *testing.T) {
	const cooldown = 800 * time.Millisecond
	burn := filepath.Join(openDir(t), "burn") // the instances must see it
	h := start(t, func(c *Config) {
		c.Group.Min, c.Group.Max, c.Group.Desired = 1, 3, 1
		c.Group.ScaleOut = fastPolicy(12, 1, cooldown)
		c.Group.ScaleIn = fastPolicy(4, -1, cooldown)
		c.Env = append(c.Env, "HASTACK_ASG_TEST_BURN_FILE="+burn)
		c.StopTimeout = 500 * time.Millisecond
	})
	h.waitInService(t, 1)
	if st := h.g.Status(); len(st.Alarms) != 2 || st.Alarms[0].Name != "test-1-cpu-high" || st.Alarms[1].Name != "test-1-cpu-low" {
		t.Fatalf("alarms %+v", st.Alarms)
	}

	if err := os.WriteFile(burn, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "scaled out to max", func() bool {
		return h.g.Status().Desired == 3 && len(inState(h.g, InService)) == 3
	})
	outs := h.events.of(EventScaleOut)
	if len(outs) != 2 || !strings.Contains(outs[0].msg, "desired 1 -> 2 (min 1, max 3)") || !strings.Contains(outs[1].msg, "desired 2 -> 3") {
		t.Fatalf("scale-out events %v", outs)
	}
	// The cooldown runs from when the first scale-out's launch came into
	// service (the second in-service event), not from the decision.
	var served, cools []event
	eventually(t, "both activities completed", func() bool {
		served, cools = h.events.of(EventInService), h.events.of(EventCooldown)
		return len(served) >= 3 && len(cools) >= 2
	})
	if len(served) != 3 || len(cools) != 2 || !strings.Contains(cools[0].msg, "scale-out activity (desired 1 -> 2) completed after ") {
		t.Fatalf("in-service events %v, cooldown events %v", served, cools)
	}
	if gap := outs[1].at.Sub(served[1].at); gap < cooldown-50*time.Millisecond {
		t.Errorf("scaled out again %s after the first scale-out's instance came into service, within the %s cooldown", gap, cooldown)
	}
	if cools[0].at.Before(served[1].at) || outs[1].at.Before(cools[0].at) {
		t.Errorf("first activity's cooldown started at %s, its instance in service at %s, next scale-out at %s",
			cools[0].at.Format(time.StampMicro), served[1].at.Format(time.StampMicro), outs[1].at.Format(time.StampMicro))
	}
	for _, e := range outs {
		if !strings.Contains(e.msg, "alarm test-1-cpu-high is in ALARM (group CPU ") || !strings.Contains(e.msg, ">= 12.0%") {
			t.Errorf("scale-out event lacks its numbers: %s", e.msg)
		}
	}
	if !hasAlarmEvent(h, "test-1-cpu-high", "-> ALARM") {
		t.Errorf("no alarm event for the high alarm: %v", h.events.of(EventAlarm))
	}
	st := h.g.Status()
	if last, ok := st.LastActivity(); !ok || last.Cause != PolicyScaleOut || last.To != 3 || st.ScalingInProgress ||
		last.CompletedAt.Before(last.At) || !last.CooldownUntil.Equal(last.CompletedAt.Add(cooldown)) || !last.CooldownUntil.Equal(st.CooldownUntil) {
		t.Errorf("last activity %+v, in progress %v, cooldown until %s", last, st.ScalingInProgress, st.CooldownUntil)
	}
	// At max no policy fires, but the alarm stays in ALARM while the burn
	// goes on (polled: on a busy machine a datapoint may dip for a moment).
	eventually(t, "status showing the burn", func() bool {
		st := h.g.Status()
		return st.HaveCPU && st.CPU >= 12 && st.Alarms[0].State == metrics.StateAlarm
	})
	busy := 0
	for _, in := range inState(h.g, InService) {
		if in.CPU > 5 {
			busy++
		}
	}
	if busy == 0 {
		t.Errorf("no instance shows its CPU: %+v", inState(h.g, InService))
	}
	if ev := h.events.of(EventScaleIn); len(ev) != 0 {
		t.Errorf("scaled in while burning: %v", ev)
	}

	if err := os.Remove(burn); err != nil {
		t.Fatal(err)
	}
	eventually(t, "scaled back in to min", func() bool {
		return h.g.Status().Desired == 1 && len(inState(h.g, InService)) == 1 && len(inState(h.g, Terminating)) == 0
	})
	ins := h.events.of(EventScaleIn)
	if len(ins) != 2 || !strings.Contains(ins[0].msg, "desired 3 -> 2") || !strings.Contains(ins[1].msg, "desired 2 -> 1") ||
		!strings.Contains(ins[0].msg, "< 4.0%") {
		t.Errorf("scale-in events %v", ins)
	}
	if !hasAlarmEvent(h, "test-1-cpu-high", "ALARM -> OK") || !hasAlarmEvent(h, "test-1-cpu-low", "-> ALARM") {
		t.Errorf("alarm events %v", h.events.of(EventAlarm))
	}
	if ev := h.events.of(EventExit); len(ev) != 0 {
		t.Errorf("scaling in reported as exits: %v", ev)
	}
}

func hasAlarmEvent(h *harness, name, transition string) bool {
	for _, e := range h.events.of(EventAlarm) {
		if strings.HasPrefix(e.msg, "alarm "+name+": ") && strings.Contains(e.msg, transition) {
			return true
		}
	}
	return false
}

func TestSetCapacityUpdateAndStatus(t *testing.T) {
	rec := &recorder{}
	a := spec.AutoScaling{Min: 1, Max: 3, Desired: 2, HealthCheckType: HealthCheckELB, HealthCheckGracePeriod: 5 * time.Second,
		LaunchTemplate: spec.LaunchTemplate{Port: 8080},
		ScaleOut:       fastPolicy(70, 1, time.Minute), ScaleIn: fastPolicy(30, -1, time.Minute)}
	g, err := New(Config{Region: "test-1", Group: a, AZs: []AZ{{Name: "a", Addrs: addrs("127.0.77.")}},
		Command: "/bin/true", LogDir: t.TempDir(), Targets: &fakeTargets{}, OnEvent: rec.record})
	if err != nil {
		t.Fatal(err)
	}
	st := g.Status()
	if st.Capacity != (Capacity{Min: 1, Max: 3, Desired: 2}) || st.HealthCheck != (HealthCheck{Type: HealthCheckELB, GracePeriod: 5 * time.Second}) ||
		len(st.Alarms) != 2 || st.Alarms[0].State != metrics.StateInsufficientData || st.Alarms[0].Comparison != metrics.GreaterThanOrEqualToThreshold ||
		st.Alarms[1].Comparison != metrics.LessThanThreshold || st.Alarms[1].Threshold != 30 || st.HaveCPU {
		t.Errorf("initial status %+v", st)
	}

	for _, c := range [][3]int{{2, 4, 5}, {2, 4, 1}, {3, 2, 2}, {-1, 2, 0}} {
		if err := g.SetCapacity(c[0], c[1], c[2]); err == nil {
			t.Errorf("SetCapacity%v succeeded", c)
		}
	}
	if err := g.SetCapacity(2, 4, 3); err != nil {
		t.Fatal(err)
	}
	if err := g.SetDesired(5); err == nil {
		t.Error("SetDesired above the new max succeeded")
	}
	if ev := rec.of(EventCapacity); len(ev) != 1 || ev[0].msg != "test-1 capacity set: min 2, max 4, desired 2 -> 3" {
		t.Errorf("capacity events %v", ev)
	}
	if last, ok := g.Status().LastActivity(); !ok || last.Cause != CauseOperator || last.From != 2 || last.To != 3 || !last.CooldownUntil.IsZero() {
		t.Errorf("last activity %+v", last)
	}

	b := a
	b.HealthCheckType = HealthCheckEC2
	b.ScaleOut.CPUThreshold = 60
	b.ScaleIn = spec.ScalingPolicy{} // off
	if err := g.Update(b); err != nil {
		t.Fatal(err)
	}
	st = g.Status()
	if st.Capacity != (Capacity{Min: 1, Max: 3, Desired: 2}) || st.HealthCheck.Type != HealthCheckEC2 ||
		len(st.Alarms) != 1 || st.Alarms[0].Threshold != 60 {
		t.Errorf("status after Update %+v", st)
	}
	ev := rec.of(EventUpdate)
	if len(ev) != 1 || !strings.Contains(ev[0].msg, "health check ELB (grace 5s) -> EC2 (grace 5s)") ||
		!strings.Contains(ev[0].msg, "scale-out policy (CPU >= 70%, 2 of 2 periods of 400ms, adjust +1, cooldown 1m0s) -> (CPU >= 60%") ||
		!strings.Contains(ev[0].msg, "scale-in policy (CPU < 30%") || !strings.Contains(ev[0].msg, "-> off") {
		t.Errorf("update events %v", ev)
	}
	if ev := rec.of(EventCapacity); len(ev) != 2 || !strings.Contains(ev[1].msg, "min 1, max 3, desired 3 -> 2") {
		t.Errorf("capacity events %v", ev)
	}
	if err := g.Update(b); err != nil || len(rec.of(EventUpdate)) != 1 || len(rec.of(EventCapacity)) != 2 {
		t.Errorf("an unchanged Update: %v, events %v", err, rec.events)
	}

	for name, edit := range map[string]func(*spec.AutoScaling){
		"datapoints above periods": func(a *spec.AutoScaling) { a.ScaleOut.DatapointsToAlarm = 3 },
		"unknown health check":     func(a *spec.AutoScaling) { a.HealthCheckType = "HTTP" },
		"desired above max":        func(a *spec.AutoScaling) { a.Desired = 4 },
		"negative cooldown":        func(a *spec.AutoScaling) { a.ScaleIn = fastPolicy(30, -1, -time.Second) },
	} {
		c := b
		edit(&c)
		if err := g.Update(c); err == nil {
			t.Errorf("Update with %s succeeded", name)
		}
	}
	if st := g.Status(); st.Alarms[0].Threshold != 60 || st.Capacity.Desired != 2 {
		t.Errorf("a rejected Update changed the group: %+v", st)
	}
}
