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
