package asg

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hastack/hastack/internal/spec"
)

// SetDesired sets the desired capacity (SetDesiredCapacity); it must lie
// within the group's min and max. It starts no cooldown.
func (g *Group) SetDesired(n int) error {
	return g.setCapacity(func(c Capacity) Capacity { c.Desired = n; return c })
}

// SetCapacity sets min, max and desired capacity (UpdateAutoScalingGroup);
// desired must lie within [min, max]. It starts no cooldown.
func (g *Group) SetCapacity(minSize, maxSize, desired int) error {
	return g.setCapacity(func(Capacity) Capacity { return Capacity{Min: minSize, Max: maxSize, Desired: desired} })
}

// setCapacity replaces the capacity with edit's result, if valid.
func (g *Group) setCapacity(edit func(Capacity) Capacity) error {
	g.mu.Lock()
	old := g.capacity
	c := edit(old)
	if err := checkCapacity(c.Min, c.Max, c.Desired); err != nil {
		g.mu.Unlock()
		return fmt.Errorf("setting the capacity of %s: %w", g.cfg.Region, err)
	}
	g.capacity = c
	msg := g.capacityChangedLocked(old, time.Now())
	g.mu.Unlock()
	if msg != "" {
		g.emit(slog.LevelInfo, EventCapacity, msg)
	}
	g.poke()
	return nil
}

// capacityChangedLocked records an operator's activity when desired
// changed and returns the event message, or "" when nothing changed.
// Called with g.mu held.
func (g *Group) capacityChangedLocked(old Capacity, now time.Time) string {
	c := g.capacity
	if c == old {
		return ""
	}
	msg := fmt.Sprintf("%s capacity set: min %d, max %d, desired %d -> %d",
		g.cfg.Region, c.Min, c.Max, old.Desired, c.Desired)
	if c.Desired != old.Desired {
		g.recordActivity(Activity{At: now, Cause: CauseOperator, From: old.Desired, To: c.Desired, Description: msg})
	}
	return msg
}

// Update applies a changed auto_scaling block to the running group, as
// `apply` does: capacity, health check type and grace period, and the
// scaling policies with their alarms (an alarm keeps its state; it loses
// its datapoints only when its period changes). The launch template is not
// updated: instances already running keep theirs, and new ones use the one
// the group was created with.
func (g *Group) Update(a spec.AutoScaling) error {
	if err := validateGroup(a, g.cfg.Targets != nil); err != nil {
		return fmt.Errorf("updating auto scaling group %s: %w", g.cfg.Region, err)
	}
	now := time.Now()
	g.mu.Lock()
	old := g.capacity
	oldHealth := g.health
	oldPolicies := g.policies
	if err := g.setPolicies(policies(a), now); err != nil {
		g.mu.Unlock()
		return fmt.Errorf("updating auto scaling group %s: %w", g.cfg.Region, err)
	}
	g.capacity = Capacity{Min: a.Min, Max: a.Max, Desired: a.Desired}
	g.health = HealthCheck{Type: a.HealthCheckType, GracePeriod: a.HealthCheckGracePeriod}
	capMsg := g.capacityChangedLocked(old, now)
	var changes []string
	if oldHealth != g.health {
		changes = append(changes, fmt.Sprintf("health check %s -> %s", describeHealth(oldHealth), describeHealth(g.health)))
	}
	for i, p := range g.policies {
		if q := oldPolicies[i]; q.ScalingPolicy != p.ScalingPolicy {
			changes = append(changes, fmt.Sprintf("%s policy %s -> %s", p.name, describePolicy(q), describePolicy(p)))
		}
	}
	g.mu.Unlock()
	if capMsg != "" {
		g.emit(slog.LevelInfo, EventCapacity, capMsg)
	}
	if len(changes) > 0 {
		g.emit(slog.LevelInfo, EventUpdate, fmt.Sprintf("%s updated: %s", g.cfg.Region, strings.Join(changes, "; ")))
	}
	g.poke()
	return nil
}

func describeHealth(h HealthCheck) string {
	t := h.Type
	if t == "" {
		t = HealthCheckEC2
	}
	return fmt.Sprintf("%s (grace %s)", t, h.GracePeriod)
}

func describePolicy(p policy) string {
	if !p.on() {
		return "off"
	}
	m := p.DatapointsToAlarm
	if m == 0 {
		m = p.EvaluationPeriods
	}
	return fmt.Sprintf("(CPU %s %g%%, %d of %d periods of %s, adjust %+d, cooldown %s)",
		p.comparison.Symbol(), p.CPUThreshold, m, p.EvaluationPeriods, p.Period, p.Adjustment, p.Cooldown)
}

// Kill sends SIGKILL to the instance's process group, as a fault: no
// draining, no SIGTERM. The group then replaces the instance.
func (g *Group) Kill(id string) error {
	g.mu.Lock()
	m := g.live[id]
	if m != nil {
		m.killed = true
	}
	g.mu.Unlock()
	if m == nil {
		return fmt.Errorf("killing %s: no such running instance in %s", id, g.cfg.Region)
	}
	if err := m.proc.signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("killing %s: %w", id, err)
	}
	return nil
}

// BlockAZ makes an AZ unavailable, as an outage would: its instances are
// killed at once (SIGKILL, not drained) and nothing launches there until
// UnblockAZ. The group keeps desired capacity in its other AZs.
func (g *Group) BlockAZ(az string) error {
	if !slices.Contains(g.azNames, az) {
		return fmt.Errorf("blocking AZ %s: not one of %s's AZs %v", az, g.cfg.Region, g.azNames)
	}
	g.mu.Lock()
	if g.blocked[az] {
		g.mu.Unlock()
		return fmt.Errorf("blocking AZ %s: already unavailable", az)
	}
	g.blocked[az] = true
	var victims []*member
	for _, id := range slices.Sorted(maps.Keys(g.live)) {
		if m := g.live[id]; m.AZ == az && !m.exited {
			m.killed = true
			victims = append(victims, m)
		}
	}
	g.mu.Unlock()
	ids := make([]string, 0, len(victims))
	for _, m := range victims {
		ids = append(ids, m.ID)
		if err := m.proc.signal(syscall.SIGKILL); err != nil {
			g.log.Debug("killing instance of a blocked AZ", "instance", m.ID, "err", err)
		}
	}
	g.emit(slog.LevelWarn, EventAZBlocked, fmt.Sprintf("%s AZ %s is unavailable: killed %d instances %v; no launches there until it recovers",
		g.cfg.Region, az, len(ids), ids))
	g.poke()
	return nil
}

// UnblockAZ makes an AZ available again: launches go there again and the
// group rebalances its instances across its AZs.
func (g *Group) UnblockAZ(az string) error {
	g.mu.Lock()
	if !g.blocked[az] {
		g.mu.Unlock()
		return fmt.Errorf("unblocking AZ %s: %s has no unavailable AZ of that name", az, g.cfg.Region)
	}
	delete(g.blocked, az)
	g.mu.Unlock()
	g.emit(slog.LevelInfo, EventAZUnblocked, fmt.Sprintf("%s AZ %s is available again; rebalancing", g.cfg.Region, az))
	g.poke()
	return nil
}

// CrashReport is what Crash did.
type CrashReport struct {
	// Instances are the IDs of the group's instances at the crash, sorted;
	// every one still running got SIGKILL.
	Instances []string
	// At is when the first SIGKILL went out.
	At time.Time
	// Spread is the time from the first SIGKILL to the last.
	Spread time.Duration
	// Reaped is the time from the first SIGKILL until every instance had
	// been reaped.
	Reaped time.Duration
}

// Crash is a power loss of the group's region: every instance's process
// group gets SIGKILL in the same instant, with no deregistration, no
// draining and no SIGTERM, and the group's control loop stops: it replaces
// nothing, launches nothing and does not scale until Resume. Crash returns
// once every instance has been reaped and shows as terminated. The load
// balancer is not told: it is lost with the region.
func (g *Group) Crash() (CrashReport, error) {
	g.pass.Lock() // no launch in flight: every instance is in g.live
	defer g.pass.Unlock()
	g.mu.Lock()
	if g.crashed {
		g.mu.Unlock()
		return CrashReport{}, fmt.Errorf("crashing %s: already crashed", g.cfg.Region)
	}
	g.crashed = true
	var victims []*member
	for _, id := range slices.Sorted(maps.Keys(g.live)) {
		m := g.live[id]
		m.killed = true
		victims = append(victims, m)
		if m.State == InService {
			g.lost = append(g.lost, id)
		}
	}
	g.mu.Unlock()

	procs := make([]*process, len(victims))
	for i, m := range victims {
		procs[i] = m.proc
	}
	_, first, spread, err := killAll(procs)
	for _, p := range procs {
		<-p.done
	}
	rep := CrashReport{At: first, Spread: spread, Reaped: time.Since(first)}
	if first.IsZero() {
		rep.Reaped = 0 // nothing was running
	}

	g.mu.Lock()
	for _, m := range victims {
		m.exited = true // reaped; its waiter may not have said so yet
		rep.Instances = append(rep.Instances, m.ID)
	}
	effects := g.observe(time.Now(), true, nil)
	g.mu.Unlock()
	for _, f := range effects {
		f()
	}
	g.emit(slog.LevelWarn, EventCrash, fmt.Sprintf("%s crashed: SIGKILL to %d instances %v within %s, all reaped %s after the first; no launches until it is resumed",
		g.cfg.Region, len(rep.Instances), rep.Instances, rep.Spread.Round(time.Microsecond), rep.Reaped.Round(time.Microsecond)))
	if err != nil {
		return rep, fmt.Errorf("crashing %s: %w", g.cfg.Region, err)
	}
	return rep, nil
}

// Resume brings a crashed group back, as when its region's power returns:
// the instances lost in the crash are deregistered from the load balancer
// (nothing to drain), then the control loop launches instances up to
// desired capacity again and scales as before. The capacity, blocked AZs,
// policies and their alarms survive the crash.
func (g *Group) Resume() error {
	g.mu.Lock()
	if !g.crashed {
		g.mu.Unlock()
		return fmt.Errorf("resuming %s: not crashed", g.cfg.Region)
	}
	lost := g.lost
	g.lost, g.crashed = nil, false
	desired := g.capacity.Desired
	g.mu.Unlock()
	for _, id := range lost {
		g.deregister(id)
	}
	g.emit(slog.LevelInfo, EventResume, fmt.Sprintf("%s resumed after a crash; launching %d desired instances", g.cfg.Region, desired))
	g.poke()
	return nil
}
