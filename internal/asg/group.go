package asg

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hastack/hastack/internal/metrics"
)

const (
	readyPollInterval = 50 * time.Millisecond
	resyncInterval    = 5 * time.Second
	// minUptime: an instance that exits sooner, unless killed on purpose,
	// counts as a failed launch and delays the next one.
	minUptime    = 10 * time.Second
	backoffBase  = time.Second
	backoffMax   = 30 * time.Second
	backoffReset = time.Minute // without failures for this long, start over at backoffBase
	// keepTerminated is how many terminated instances Instances still shows.
	keepTerminated = 16
)

// Event kinds passed to Config.OnEvent.
const (
	EventLaunch       = "asg.launch"
	EventLaunchFailed = "asg.launch_failed"
	EventInService    = "asg.in_service"
	EventTerminate    = "asg.terminate"
	EventExit         = "asg.exit"
	EventUnhealthy    = "asg.unhealthy"
	EventRebalance    = "asg.rebalance"
	EventScaleOut     = "asg.scale_out"
	EventScaleIn      = "asg.scale_in"
	EventCapacity     = "asg.capacity"
	EventUpdate       = "asg.update"
	EventAZBlocked    = "asg.az_blocked"
	EventAZUnblocked  = "asg.az_unblocked"
	EventCooldown     = "asg.cooldown"
	EventCrash        = "asg.crash"
	EventResume       = "asg.resume"
	EventAlarm        = "alarm.state"
)

// keepActivities is how many scaling activities Status still shows.
const keepActivities = 16

// Group is a running Auto Scaling group.
type Group struct {
	cfg            Config
	log            *slog.Logger
	azNames        []string
	addrs          map[string][]netip.Addr
	port           uint16
	startTimeout   time.Duration
	stopTimeout    time.Duration
	drainTimeout   time.Duration
	healthInterval time.Duration
	cpu            CPU
	account        account  // who the instances run as
	baseEnv        []string // Config.Env and the account's variables
	wake           chan struct{}
	wg             sync.WaitGroup // every goroutine the group starts
	// pass is held by the Run goroutine for each reconcile pass and sample,
	// and by Crash: no launch or scaling decision overlaps a crash.
	pass sync.Mutex

	mu      sync.Mutex
	ran     bool
	crashed bool // by Crash, until Resume: the control loop does nothing
	// lost are the instances in service at the crash, still registered
	// with the load balancer; Resume deregisters them.
	lost       []string
	capacity   Capacity
	health     HealthCheck
	policies   []policy
	alarms     map[string]*metrics.Alarm // by policy name, for policies that are on
	cooldown   Cooldown
	scaling    Activity   // the last policy's activity, while cooldown.InProgress
	activities []Activity // most recent last
	groupCPU   float64
	haveCPU    bool
	blocked    map[string]bool
	live       map[string]*member // not yet reaped
	terminated []Instance         // most recent last

	// Owned by the Run goroutine.
	failures    int
	lastFailure time.Time
	notBefore   time.Time // no launch before this
	exe         string    // the program as resolved for the account, once it was
}

// member is the group's record of one instance that has not been reaped.
type member struct {
	Instance // guarded by Group.mu
	ip       netip.Addr
	proc     *process

	// Facts reported by the instance's goroutines, guarded by Group.mu.
	listening     bool
	startTimedOut bool
	exited        bool
	// killed is set by Kill, BlockAZ and Crash: the exit is injected, not
	// the instance's own crash.
	killed        bool
	everInService bool
}

// New checks cfg and returns a group that starts instances once Run is called.
func New(cfg Config) (*Group, error) {
	if err := validate(cfg); err != nil {
		return nil, fmt.Errorf("configuring auto scaling group %q: %w", cfg.Region, err)
	}
	cfg.Args, cfg.Env = slices.Clone(cfg.Args), slices.Clone(cfg.Env)
	cfg.Group.LaunchTemplate.Env = maps.Clone(cfg.Group.LaunchTemplate.Env)
	acct, err := resolveAccount(cfg.Group.LaunchTemplate.User)
	if err != nil {
		return nil, fmt.Errorf("configuring auto scaling group %q: %w", cfg.Region, err)
	}
	a := cfg.Group
	g := &Group{
		cfg:            cfg,
		log:            cfg.Logger,
		addrs:          make(map[string][]netip.Addr, len(cfg.AZs)),
		port:           uint16(a.LaunchTemplate.Port),
		startTimeout:   orDefault(cfg.StartTimeout, defaultStartTimeout),
		stopTimeout:    orDefault(cfg.StopTimeout, defaultStopTimeout),
		drainTimeout:   orDefault(cfg.DrainTimeout, defaultDrainTimeout),
		healthInterval: orDefault(cfg.HealthCheckInterval, defaultHealthCheckInterval),
		cpu:            cfg.CPU,
		account:        acct,
		baseEnv:        append(slices.Clone(cfg.Env), acct.env()...),
		wake:           make(chan struct{}, 1),
		capacity:       Capacity{Min: a.Min, Max: a.Max, Desired: a.Desired},
		health:         HealthCheck{Type: a.HealthCheckType, GracePeriod: a.HealthCheckGracePeriod},
		alarms:         map[string]*metrics.Alarm{},
		blocked:        map[string]bool{},
		live:           map[string]*member{},
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.log = g.log.With("region", cfg.Region)
	if g.cpu == nil {
		g.cpu = metrics.NewSampler()
	}
	for _, az := range cfg.AZs {
		g.azNames = append(g.azNames, az.Name)
		g.addrs[az.Name] = slices.Clone(az.Addrs)
	}
	if err := g.setPolicies(policies(a), time.Now()); err != nil {
		return nil, fmt.Errorf("configuring auto scaling group %q: %w", cfg.Region, err)
	}
	return g, nil
}

// setPolicies installs ps and creates, reconfigures or drops their alarms.
// Called with g.mu held, or before the group is shared.
func (g *Group) setPolicies(ps []policy, now time.Time) error {
	for _, p := range ps {
		a := g.alarms[p.name]
		switch {
		case !p.on():
			delete(g.alarms, p.name)
		case a == nil:
			na, err := metrics.NewAlarm(p.alarm(g.cfg.Region), now)
			if err != nil {
				return fmt.Errorf("%s policy: %w", p.name, err)
			}
			g.alarms[p.name] = na
		default:
			if err := a.Reconfigure(p.alarm(g.cfg.Region)); err != nil {
				return fmt.Errorf("%s policy: %w", p.name, err)
			}
		}
	}
	g.policies = ps
	return nil
}

// sampleInterval is how often CPU is sampled: Config.SampleInterval, or a
// quarter of the shortest policy period, at most a second. Called with
// g.mu held.
func (g *Group) sampleInterval() time.Duration {
	if g.cfg.SampleInterval > 0 {
		return g.cfg.SampleInterval
	}
	d := maxSampleInterval
	for _, p := range g.policies {
		if p.on() {
			d = min(d, max(p.Period/4, time.Millisecond))
		}
	}
	return d
}

// Run keeps the group at its desired capacity until ctx is done, then
// terminates every instance and returns once all have exited and every
// goroutine the group started has ended. It may be called once.
func (g *Group) Run(ctx context.Context) error {
	g.mu.Lock()
	ran := g.ran
	g.ran = true
	interval := g.sampleInterval()
	g.mu.Unlock()
	if ran {
		return fmt.Errorf("running auto scaling group %s: already run", g.cfg.Region)
	}

	resync := time.NewTicker(resyncInterval)
	defer resync.Stop()
	health := time.NewTicker(g.healthInterval)
	defer health.Stop()
	sample := time.NewTicker(interval)
	defer sample.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for ctx.Err() == nil {
		g.pass.Lock()
		if !g.isCrashed() {
			g.reconcile(ctx)
		}
		g.pass.Unlock()
		if d := time.Until(g.notBefore); d > 0 {
			retry.Reset(d)
		} else {
			retry.Stop()
		}
		g.mu.Lock()
		iv := g.sampleInterval()
		g.mu.Unlock()
		if iv != interval {
			interval = iv
			sample.Reset(iv)
		}
		select {
		case <-ctx.Done():
		case <-g.wake:
		case <-resync.C:
		case <-health.C:
		case <-retry.C:
		case <-sample.C:
			g.pass.Lock()
			if !g.isCrashed() {
				g.sample(time.Now())
			}
			g.pass.Unlock()
		}
	}
	g.shutdown()
	g.wg.Wait()
	return nil
}

func (g *Group) isCrashed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.crashed
}

// reconcile is one pass: take in what the instances and the load balancer
// reported, then plan from the observed state and carry the plan out.
// Called with g.pass held.
func (g *Group) reconcile(ctx context.Context) {
	verdicts := g.targetHealth()
	now := time.Now()
	g.mu.Lock()
	effects := g.observe(now, false, verdicts)
	effects = append(effects, g.completeScaling(now)...)
	desired, blocked := g.capacity.Desired, maps.Clone(g.blocked)
	snapshot := make([]Instance, 0, len(g.live))
	for _, m := range g.live {
		snapshot = append(snapshot, m.Instance)
	}
	g.mu.Unlock()
	for _, f := range effects {
		f()
	}

	for _, a := range Plan(desired, g.azNames, snapshot, blocked) {
		switch a.Kind {
		case Launch:
			g.launch(ctx, a)
		case Terminate:
			g.terminate(ctx, a.ID, a.Reason)
		}
	}
}

// targetHealth asks the load balancer for its verdict on every in-service
// instance.
func (g *Group) targetHealth() map[string]string {
	if g.cfg.Targets == nil {
		return nil
	}
	g.mu.Lock()
	var ids []string
	for id, m := range g.live {
		if m.State == InService {
			ids = append(ids, id)
		}
	}
	g.mu.Unlock()
	out := make(map[string]string, len(ids))
	for _, id := range ids {
		out[id] = g.cfg.Targets.TargetHealth(id)
	}
	return out
}

// observe moves instances along their lifecycle from the facts their
// goroutines and the load balancer (verdicts, by instance) reported. It
// returns the calls to the load balancer and the events to make, in order,
// once g.mu is released. Called with g.mu held, on the Run goroutine or,
// shutting down, by Crash. A crashed group tells the load balancer nothing:
// it went down with the region.
func (g *Group) observe(now time.Time, shuttingDown bool, verdicts map[string]string) []func() {
	var effects []func()
	for _, id := range slices.Sorted(maps.Keys(g.live)) {
		m := g.live[id]
		switch {
		case m.exited:
			if m.State == InService && !g.crashed {
				effects = append(effects, func() { g.deregister(id) })
			}
			if m.State != Terminating || m.killed {
				uptime := now.Sub(m.LaunchedAt).Round(time.Millisecond)
				msg := fmt.Sprintf("%s %s in %s at %s exited after %s: %s",
					g.cfg.Region, id, m.AZ, m.Addr, uptime, m.proc.exitStatus())
				if !shuttingDown && !m.killed && (!m.everInService || uptime < minUptime) {
					msg += fmt.Sprintf("; next launch in %s", g.noteFailure(now))
				}
				effects = append(effects, func() { g.emit(slog.LevelWarn, EventExit, msg) })
			} else {
				g.log.Debug("instance terminated", "instance", id, "status", m.proc.exitStatus())
			}
			delete(g.live, id)
			inst := m.Instance
			inst.State = Terminated
			inst.Draining = false
			g.terminated = append(g.terminated, inst)
			if n := len(g.terminated); n > keepTerminated {
				g.terminated = slices.Delete(g.terminated, 0, n-keepTerminated)
			}
		case shuttingDown:
		case m.State == Pending && m.listening:
			m.State = InService
			m.everInService = true
			addr := m.Addr
			msg := fmt.Sprintf("%s %s in %s is in service at %s after %s",
				g.cfg.Region, id, m.AZ, addr, now.Sub(m.LaunchedAt).Round(time.Millisecond))
			effects = append(effects, func() {
				if g.cfg.Targets != nil {
					g.cfg.Targets.Register(id, addr)
				}
				g.emit(slog.LevelInfo, EventInService, msg)
			})
		case m.State == Pending && m.startTimedOut && m.Health != Unhealthy:
			m.Health = Unhealthy
			m.HealthReason = fmt.Sprintf("not accepting connections on %s after %s", m.Addr, g.startTimeout)
			effects = append(effects, g.unhealthyEvent(m))
		case m.State == InService:
			v, ok := verdicts[id]
			if !ok {
				break // in service since the load balancer was asked
			}
			m.TargetHealth = v
			if m.Health == Unhealthy {
				break
			}
			if sick, why := CheckHealth(g.health, m.Instance, v, now); sick {
				m.Health, m.HealthReason = Unhealthy, why
				effects = append(effects, g.unhealthyEvent(m))
			}
		}
	}
	return effects
}

// unhealthyEvent returns the event for m having been found unhealthy.
// Called with g.mu held.
func (g *Group) unhealthyEvent(m *member) func() {
	msg := fmt.Sprintf("%s %s in %s at %s is unhealthy: %s; replacing it",
		g.cfg.Region, m.ID, m.AZ, m.Addr, m.HealthReason)
	return func() { g.emit(slog.LevelWarn, EventUnhealthy, msg) }
}

// progress counts the instances against desired capacity. Called with
// g.mu held.
func (g *Group) progress() Progress {
	p := Progress{Desired: g.capacity.Desired}
	for _, m := range g.live {
		switch {
		case m.State == Terminating || m.Health == Unhealthy:
			p.Leaving++
		case m.State == Pending:
			p.Pending++
		case m.State == InService:
			p.InService++
		}
	}
	return p
}

// activityLimit bounds how long a scaling activity may take before its
// cooldown starts anyway: the longest a launch or a graceful termination
// may take.
func (g *Group) activityLimit() time.Duration {
	return g.startTimeout + g.drainTimeout + g.stopTimeout
}

// completeScaling ends the policy activity in progress once Complete says
// it has completed, starting its cooldown, and returns the event to emit.
// Called with g.mu held, on the Run goroutine.
func (g *Group) completeScaling(now time.Time) []func() {
	if !g.cooldown.InProgress {
		return nil
	}
	act, done := Complete(g.scaling, g.progress(), now, g.activityLimit())
	if !done {
		return nil
	}
	g.cooldown = Cooldown{Until: act.CooldownUntil}
	g.scaling = Activity{}
	for i := len(g.activities) - 1; i >= 0; i-- {
		if a := g.activities[i]; a.At.Equal(act.At) && a.Cause == act.Cause {
			act.Description = a.Description
			g.activities[i] = act
			break
		}
	}
	how := fmt.Sprintf("completed after %s", act.CompletedAt.Sub(act.At).Round(time.Millisecond))
	if act.TimedOut {
		how = fmt.Sprintf("did not settle within %s (%d of %d desired in service); counted complete",
			g.activityLimit(), g.progress().InService, g.capacity.Desired)
	}
	msg := fmt.Sprintf("%s %s activity (desired %d -> %d) %s; cooldown %s, until %s",
		g.cfg.Region, act.Cause, act.From, act.To, how, act.Cooldown, act.CooldownUntil.Format("15:04:05.000"))
	return []func(){func() { g.emit(slog.LevelInfo, EventCooldown, msg) }}
}

// sample measures the instances' CPU, feeds the group average to the
// alarms, evaluates them and lets the scaling policies decide. Runs on the
// Run goroutine with g.pass held.
func (g *Group) sample(now time.Time) {
	g.mu.Lock()
	pids := make([]int, 0, len(g.live))
	for _, m := range g.live {
		if m.live() {
			pids = append(pids, m.PID)
		}
	}
	g.mu.Unlock()
	cpu := g.cpu.Sample(pids)

	g.mu.Lock()
	sum, n := 0.0, 0
	for _, m := range g.live {
		if v, ok := cpu[m.PID]; ok && m.live() {
			m.CPU = v
			sum += v
			n++
		}
	}
	g.haveCPU = n > 0
	if n > 0 {
		g.groupCPU = sum / float64(n)
	}
	var effects []func()
	var states []PolicyState
	for _, p := range g.policies {
		a := g.alarms[p.name]
		if a == nil {
			continue
		}
		if n > 0 {
			a.Observe(now, g.groupCPU)
		}
		prev := a.State()
		st, changed := a.Evaluate(now)
		if changed {
			status := a.Status()
			msg := fmt.Sprintf("alarm %s: %s -> %s: %s", status.Name, prev, st, status.Reason)
			effects = append(effects, func() { g.emit(slog.LevelInfo, EventAlarm, msg) })
		}
		states = append(states, PolicyState{Name: p.name, Alarm: st, Adjustment: p.Adjustment, Cooldown: p.Cooldown})
	}
	effects = append(effects, g.completeScaling(now)...)
	if act, ok := Scale(g.capacity, states, now, g.cooldown); ok {
		a := g.alarms[act.Cause].Status()
		kind := EventScaleOut
		if act.To < act.From {
			kind = EventScaleIn
		}
		act.Description = fmt.Sprintf("%s %s policy: alarm %s is in ALARM (group CPU %.1f%% %s %.1f%%); desired %d -> %d (min %d, max %d); cooldown %s once the activity completes",
			g.cfg.Region, act.Cause, a.Name, g.groupCPU, a.Comparison.Symbol(), a.Threshold,
			act.From, act.To, g.capacity.Min, g.capacity.Max, act.Cooldown)
		g.capacity.Desired = act.To
		g.cooldown = Cooldown{InProgress: true}
		g.scaling = act
		g.recordActivity(act)
		effects = append(effects, func() { g.emit(slog.LevelInfo, kind, act.Description) })
	}
	g.mu.Unlock()
	for _, f := range effects {
		f()
	}
}

// recordActivity keeps act for Status. Called with g.mu held.
func (g *Group) recordActivity(act Activity) {
	g.activities = append(g.activities, act)
	if n := len(g.activities); n > keepActivities {
		g.activities = slices.Delete(g.activities, 0, n-keepActivities)
	}
}

// noteFailure records a failed launch and returns how long launches wait.
func (g *Group) noteFailure(now time.Time) time.Duration {
	if now.Sub(g.lastFailure) > backoffReset {
		g.failures = 0
	}
	g.failures++
	g.lastFailure = now
	d := backoffMax
	if g.failures <= 6 {
		d = min(backoffBase<<(g.failures-1), backoffMax)
	}
	g.notBefore = now.Add(d)
	return d
}

// program resolves the command for the instances' user once it can be
// run; until then each launch tries again (and fails with the reason).
func (g *Group) program() (string, error) {
	if g.exe == "" {
		exe, err := program(g.cfg.Command, g.account, g.cfg.BinDir)
		if err != nil {
			return "", err
		}
		g.exe = exe
	}
	return g.exe, nil
}

// launch starts an instance in the action's AZ, unless launches are
// backing off or the AZ has no free address.
func (g *Group) launch(ctx context.Context, a Action) {
	az := a.AZ
	now := time.Now()
	if now.Before(g.notBefore) {
		return
	}
	g.mu.Lock()
	ip, ok := g.freeAddr(az)
	id := newID()
	for g.live[id] != nil {
		id = newID()
	}
	g.mu.Unlock()
	if !ok {
		g.log.Warn("no free address to launch an instance", "az", az)
		return
	}

	addr := netip.AddrPortFrom(ip, g.port)
	exe, err := g.program()
	var proc *process
	if err == nil {
		proc, err = startProcess(launchSpec{
			command: exe,
			args:    g.cfg.Args,
			env:     instanceEnv(g.baseEnv, g.cfg.Group.LaunchTemplate.Env, g.cfg.Region, az, id, addr),
			logPath: filepath.Join(g.cfg.LogDir, id+".log"),
			cred:    g.account.credential(),
		})
	}
	if err != nil {
		d := g.noteFailure(now)
		g.emit(slog.LevelError, EventLaunchFailed, fmt.Sprintf("%s could not launch an instance in %s: %v; retrying in %s",
			g.cfg.Region, az, err, d))
		return
	}
	m := &member{
		Instance: Instance{ID: id, AZ: az, Addr: addr.String(), State: Pending, Health: Healthy,
			PID: proc.pid, LaunchedAt: now},
		ip:   ip,
		proc: proc,
	}
	g.mu.Lock()
	g.live[id] = m
	g.mu.Unlock()
	g.emit(slog.LevelInfo, EventLaunch, fmt.Sprintf("%s launched %s in %s at %s: %s", g.cfg.Region, id, az, addr, a.Reason))
	if a.Rebalance {
		g.emit(slog.LevelInfo, EventRebalance, fmt.Sprintf("%s %s; launched %s in %s, an instance of the fullest AZ goes once it is in service",
			g.cfg.Region, a.Reason, id, az))
	}

	g.wg.Go(func() {
		proc.wait()
		g.mu.Lock()
		m.exited = true
		g.mu.Unlock()
		g.poke()
	})
	g.wg.Go(func() {
		ok := waitListening(ctx, addr.String(), g.cfg.ProbeFrom, proc.done, g.startTimeout, readyPollInterval)
		if !ok && (ctx.Err() != nil || isClosed(proc.done)) {
			return // shutting down, or exited: the waiter reports that
		}
		g.mu.Lock()
		if ok {
			m.listening = true
		} else {
			m.startTimedOut = true
		}
		g.mu.Unlock()
		g.poke()
	})
}

// freeAddr returns the first address of az that no unreaped instance holds.
// Called with g.mu held.
func (g *Group) freeAddr(az string) (netip.Addr, bool) {
	used := make(map[netip.Addr]bool, len(g.live))
	for _, m := range g.live {
		used[m.ip] = true
	}
	for _, ip := range g.addrs[az] {
		if !used[ip] {
			return ip, true
		}
	}
	return netip.Addr{}, false
}

// terminate stops an instance gracefully: it leaves service at once, is
// deregistered, and gets SIGTERM once the load balancer has drained it (or
// DrainTimeout ran out, or ctx ended), then SIGKILL after StopTimeout. An
// instance killed as a fault is not drained.
func (g *Group) terminate(ctx context.Context, id, reason string) {
	g.mu.Lock()
	m := g.live[id]
	if m == nil || m.State == Terminating {
		g.mu.Unlock()
		return
	}
	wasInService := m.State == InService
	m.State = Terminating
	drain := wasInService && g.cfg.Targets != nil && !m.killed && ctx.Err() == nil
	m.Draining = drain
	az, addr := m.AZ, m.Addr
	g.mu.Unlock()

	msg := fmt.Sprintf("%s terminating %s in %s at %s: %s", g.cfg.Region, id, az, addr, reason)
	if drain {
		msg += fmt.Sprintf("; draining for up to %s", g.drainTimeout)
	}
	g.emit(slog.LevelInfo, EventTerminate, msg)
	g.wg.Go(func() {
		if wasInService && g.cfg.Targets != nil {
			drained := g.cfg.Targets.Deregister(id)
			if drain {
				g.waitDrained(ctx, id, drained, m.proc.done)
			}
		}
		g.mu.Lock()
		m.Draining = false
		g.mu.Unlock()
		if err := m.proc.stop(g.stopTimeout); err != nil {
			g.log.Error("stopping instance", "instance", id, "err", err)
		}
	})
}

// waitDrained waits until the load balancer closes drained, DrainTimeout
// runs out, the process exits (done) or ctx ends.
func (g *Group) waitDrained(ctx context.Context, id string, drained, done <-chan struct{}) {
	if drained == nil {
		return
	}
	start := time.Now()
	t := time.NewTimer(g.drainTimeout)
	defer t.Stop()
	select {
	case <-drained:
		g.log.Info("instance drained", "instance", id, "after", time.Since(start).Round(time.Millisecond))
	case <-t.C:
		g.log.Warn("instance not drained in time; stopping it anyway", "instance", id, "after", g.drainTimeout)
	case <-done:
	case <-ctx.Done():
	}
}

// shutdown terminates every instance and returns once all are reaped.
func (g *Group) shutdown() {
	done, cancel := context.WithCancel(context.Background())
	cancel() // nothing is drained on the way out
	for {
		g.mu.Lock()
		effects := g.observe(time.Now(), true, nil)
		var running []string
		for id, m := range g.live {
			if m.State != Terminating {
				running = append(running, id)
			}
		}
		left := len(g.live)
		g.mu.Unlock()
		for _, f := range effects {
			f()
		}
		slices.Sort(running)
		for _, id := range running {
			g.terminate(done, id, "the group is shutting down")
		}
		if left == 0 {
			return
		}
		<-g.wake // every exit pokes
	}
}

// deregister tells the load balancer an instance has gone; there is
// nothing left to drain.
func (g *Group) deregister(id string) {
	if g.cfg.Targets != nil {
		_ = g.cfg.Targets.Deregister(id)
	}
}

func (g *Group) emit(level slog.Level, kind, msg string) {
	g.log.Log(context.Background(), level, msg, "event", kind)
	if g.cfg.OnEvent != nil {
		g.cfg.OnEvent(kind, msg)
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// poke asks the Run goroutine for a reconcile pass.
func (g *Group) poke() {
	select {
	case g.wake <- struct{}{}:
	default:
	}
}
