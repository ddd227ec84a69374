package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestDrillScaleOut: CPU load through the load balancer (the demo app's
// /cpu) raises the group to its maximum, one alarm evaluation and one
// cooldown per step, and it scales back in to its minimum once the load
// stops; the scaling activities are in the event log.
func TestDrillScaleOut(t *testing.T) {
	e := newEnv(t, "quick")
	e.must("up", "-d")
	rep, code := e.runDrill("scale-out", "--timeout", "90s")
	if code != 0 || !rep.Passed || rep.ScaleOutSeconds == nil {
		t.Fatalf("drill exit %d passed %v scale-out %v", code, rep.Passed, rep.ScaleOutSeconds)
	}
	// Quick example: 2 -> 4 in two steps, each an evaluation window of
	// 2 x 2s plus a 5s cooldown, plus launch time and the burners' ramp:
	// the slack is generous, as both depend on how busy the machine is
	// (a loaded machine took 63 s, starving the instances the load must
	// heat). The steps and their order are checked in the events below.
	const perStep, steps, slack = 9 * time.Second, 2, 60 * time.Second
	t.Logf("scale-out to max in %.1fs (bound %s), errors %d of %d", *rep.ScaleOutSeconds, steps*perStep+slack, rep.Errors, rep.Requests)
	if got := time.Duration(*rep.ScaleOutSeconds * float64(time.Second)); got > steps*perStep+slack {
		t.Errorf("scale-out took %s, want within %s", got, steps*perStep+slack)
	}
	// The drill waits for the scale-in for as long as the stack file's
	// alarms and cooldowns take; a loaded machine may take longer, which
	// is no failure of the scaling rules, so a missed wait is only a log
	// line, and the group must be back within a minute.
	if rep.Restored == nil || !*rep.Restored {
		t.Logf("the group had not scaled back in when the drill's restore wait ended: %s", rep.NotRestored)
	}
	waitFor(t, "the group scaled back in to its desired capacity", time.Minute, func() bool {
		for _, r := range e.status().Regions {
			if r.Role == "primary" && r.AutoScaling != nil {
				return r.AutoScaling.Desired == 2 && r.AutoScaling.InService == 2
			}
		}
		return false
	})
	out := e.must("events", "--json")
	for _, kind := range []string{`"kind":"asg.scale_out"`, `"kind":"asg.scale_in"`, `"kind":"alarm.state"`} {
		if n := strings.Count(out, kind); n == 0 {
			t.Errorf("no %s event", kind)
		}
	}
	if n := strings.Count(out, `"kind":"asg.scale_out"`); n < 2 {
		t.Errorf("%d scale-out activities, want 2 (2 -> 3 -> 4)", n)
	}
	e.must("down", "--purge")
}
