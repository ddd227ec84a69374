package asg

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sigtermAt returns when the instance's helper got its first SIGTERM, from
// its log (HASTACK_ASG_TEST_TERM_LOG=1).
func (h *harness) sigtermAt(id string) (time.Time, bool) {
	b, _ := os.ReadFile(filepath.Join(h.logDir, id+".log"))
	m := regexp.MustCompile(`helper got SIGTERM at (\d+)`).FindSubmatch(b)
	if m == nil {
		return time.Time{}, false
	}
	ns, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return time.Unix(0, ns), true
}

func instance(g *Group, id string) (Instance, bool) {
	i := slices.IndexFunc(g.Instances(), func(in Instance) bool { return in.ID == id })
	if i < 0 {
		return Instance{}, false
	}
	return g.Instances()[i], true
}

func TestGroupELBHealthHonoursGracePeriod(t *testing.T) {
	// The grace period leaves a loaded machine time to start the instance:
	// the test needs it in service while the grace period still runs.
	const grace = 3 * time.Second
	h := start(t, func(c *Config) {
		c.Group.Desired = 1
		c.Group.HealthCheckType = HealthCheckELB
		c.Group.HealthCheckGracePeriod = grace
		c.HealthCheckInterval = 50 * time.Millisecond
	})
	// Unhealthy in the load balancer's eyes from the start.
	var id string
	eventually(t, "an instance launched", func() bool {
		if insts := h.g.Instances(); len(insts) == 1 {
			id = insts[0].ID
		}
		return id != ""
	})
	h.targets.setVerdict(id, "unhealthy")
	first := h.waitInService(t, 1)[0]
	if left := time.Until(first.LaunchedAt.Add(grace)); first.ID != id || left < 500*time.Millisecond {
		t.Fatalf("the instance took until %s before the end of its grace period to come into service; too little left to test", left)
	}

	eventually(t, "the unhealthy instance replaced", func() bool {
		ins := inState(h.g, InService)
		return len(ins) == 1 && ins[0].ID != first.ID
	})
	unhealthy := h.events.of(EventUnhealthy)
	if len(unhealthy) != 1 || !strings.Contains(unhealthy[0].msg, first.ID) ||
		!strings.Contains(unhealthy[0].msg, "load balancer reports it unhealthy") || !strings.Contains(unhealthy[0].msg, "grace period 3s") {
		t.Fatalf("unhealthy events %v", unhealthy)
	}
	if end := first.LaunchedAt.Add(grace); unhealthy[0].at.Before(end) {
		t.Errorf("found unhealthy %s before the grace period ended", end.Sub(unhealthy[0].at))
	}
	terms := h.events.of(EventTerminate)
	if len(terms) != 1 || !strings.Contains(terms[0].msg, first.ID) || terms[0].at.Before(first.LaunchedAt.Add(grace)) {
		t.Errorf("terminate events %v", terms)
	}
	if got, ok := instance(h.g, first.ID); !ok || got.Health != Unhealthy || got.TargetHealth != "unhealthy" {
		t.Errorf("replaced instance shows %+v", got)
	}
}

func TestGroupGracefulTerminationOrder(t *testing.T) {
	const stopTimeout = 500 * time.Millisecond
	h := start(t, func(c *Config) {
		c.Env = append(c.Env, "HASTACK_ASG_TEST_TERM_LOG=1") // logs SIGTERM and ignores it
		c.StopTimeout = stopTimeout
		c.DrainTimeout = 20 * time.Second
		c.Targets.(*fakeTargets).hold = true
	})
	insts := h.waitInService(t, 2)
	if err := h.g.SetDesired(1); err != nil {
		t.Fatal(err)
	}
	victim := insts[slices.IndexFunc(insts, func(i Instance) bool { return i.AZ == "test-1b" })] // the later AZ on a tie

	var deregAt time.Time
	eventually(t, "the victim deregistered", func() bool {
		var ok bool
		deregAt, ok = h.targets.deregistered(victim.ID)
		return ok
	})
	if got, _ := instance(h.g, victim.ID); got.State != Terminating || !got.Draining {
		t.Errorf("while draining the victim shows %s, draining %v", got.State, got.Draining)
	}
	// While the load balancer drains it, the instance gets no signal.
	hold := time.NewTimer(300 * time.Millisecond)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-hold.C:
			waiting = false
		case <-tick.C:
			if at, ok := h.sigtermAt(victim.ID); ok {
				t.Fatalf("SIGTERM at %s, before the drain ended", at)
			}
			if gone(victim.PID) {
				t.Fatal("the instance exited while draining")
			}
		}
	}

	drainedAt := time.Now()
	h.targets.release(victim.ID)
	var termAt time.Time
	eventually(t, "SIGTERM after the drain", func() bool {
		var ok bool
		termAt, ok = h.sigtermAt(victim.ID)
		return ok
	})
	lastAlive := termAt
	eventually(t, "the victim killed", func() bool {
		if !gone(victim.PID) {
			lastAlive = time.Now()
			return false
		}
		return true
	})

	if !deregAt.Before(drainedAt) || termAt.Before(drainedAt) {
		t.Errorf("deregistered at %s, drained at %s, SIGTERM at %s: out of order",
			deregAt.Format(time.StampMicro), drainedAt.Format(time.StampMicro), termAt.Format(time.StampMicro))
	}
	if d := lastAlive.Sub(termAt); d < stopTimeout*8/10 {
		t.Errorf("killed within %s of SIGTERM, want StopTimeout %s", d, stopTimeout)
	}
	eventually(t, "the victim terminated", func() bool {
		got, _ := instance(h.g, victim.ID)
		return got.State == Terminated && !got.Draining
	})
	if ev := h.events.of(EventTerminate); len(ev) != 1 || !strings.Contains(ev[0].msg, "draining for up to 20s") {
		t.Errorf("terminate events %v", ev)
	}
	if ev := h.events.of(EventExit); len(ev) != 0 {
		t.Errorf("a graceful termination reported as an exit: %v", ev)
	}
}

func TestGroupDrainIsBounded(t *testing.T) {
	const drainTimeout = 300 * time.Millisecond
	h := start(t, func(c *Config) {
		c.Env = append(c.Env, "HASTACK_ASG_TEST_TERM_LOG=1")
		c.Group.Min, c.Group.Desired = 0, 1
		// Long enough for the instance to note its SIGTERM before the
		// SIGKILL, however busy the machine.
		c.StopTimeout = 2 * time.Second
		c.DrainTimeout = drainTimeout
		c.Targets.(*fakeTargets).hold = true // never released
	})
	victim := h.waitInService(t, 1)[0]
	if err := h.g.SetCapacity(0, 3, 0); err != nil {
		t.Fatal(err)
	}
	var termAt time.Time
	eventually(t, "SIGTERM once the drain timed out", func() bool {
		var ok bool
		termAt, ok = h.sigtermAt(victim.ID)
		return ok
	})
	deregAt, _ := h.targets.deregistered(victim.ID)
	if d := termAt.Sub(deregAt); d < drainTimeout*9/10 || d > 10*time.Second {
		t.Errorf("SIGTERM %s after deregistering, want about DrainTimeout %s", d, drainTimeout)
	}
	eventually(t, "the group empty", func() bool { return len(h.g.Instances()) == 1 && len(inState(h.g, Terminated)) == 1 })
}

func TestGroupBlockAndUnblockAZ(t *testing.T) {
	h := start(t, func(c *Config) { c.StopTimeout = 300 * time.Millisecond })
	insts := h.waitInService(t, 2)
	inA := insts[slices.IndexFunc(insts, func(i Instance) bool { return i.AZ == "test-1a" })]

	if err := h.g.BlockAZ("test-1z"); err == nil {
		t.Error("blocking an unknown AZ succeeded")
	}
	if err := h.g.UnblockAZ("test-1a"); err == nil {
		t.Error("unblocking an available AZ succeeded")
	}
	if err := h.g.BlockAZ("test-1a"); err != nil {
		t.Fatal(err)
	}
	if err := h.g.BlockAZ("test-1a"); err == nil {
		t.Error("blocking an AZ twice succeeded")
	}
	eventually(t, "the instance in the blocked AZ killed", func() bool {
		got, _ := instance(h.g, inA.ID)
		return got.State == Terminated && gone(inA.PID)
	})
	after := h.waitInService(t, 2)
	for _, in := range after {
		if in.AZ != "test-1b" {
			t.Errorf("%s in service in %s while test-1a is blocked", in.ID, in.AZ)
		}
	}
	exits := h.events.of(EventExit)
	if len(exits) != 1 || !strings.Contains(exits[0].msg, inA.ID) || !strings.Contains(exits[0].msg, "signal: killed") ||
		strings.Contains(exits[0].msg, "next launch") {
		t.Errorf("exit events %v", exits)
	}
	if ev := h.events.of(EventAZBlocked); len(ev) != 1 || !strings.Contains(ev[0].msg, inA.ID) {
		t.Errorf("az blocked events %v", ev)
	}
	if st := h.g.Status(); !slices.Equal(st.BlockedAZs, []string{"test-1a"}) {
		t.Errorf("blocked AZs %v", st.BlockedAZs)
	}

	if err := h.g.UnblockAZ("test-1a"); err != nil {
		t.Fatal(err)
	}
	fewest := 2
	eventually(t, "one instance in service in each AZ", func() bool {
		ins := inState(h.g, InService)
		fewest = min(fewest, len(ins))
		registered, _ := h.targets.snapshot()
		return len(ins) == 2 && ins[0].AZ != ins[1].AZ && len(registered) == 2 &&
			len(inState(h.g, Pending)) == 0 && len(inState(h.g, Terminating)) == 0
	})
	if fewest < 2 {
		t.Errorf("rebalancing took the group down to %d in service", fewest)
	}
	if ev := h.events.of(EventRebalance); len(ev) != 1 || !strings.Contains(ev[0].msg, "test-1b has 2 instances, test-1a has 0") {
		t.Errorf("rebalance events %v", ev)
	}
	if ev := h.events.of(EventAZUnblocked); len(ev) != 1 {
		t.Errorf("az unblocked events %v", ev)
	}
	if st := h.g.Status(); len(st.BlockedAZs) != 0 {
		t.Errorf("blocked AZs %v after unblocking", st.BlockedAZs)
	}
}
