package asg

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
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
)

// Group is a running Auto Scaling group.
type Group struct {
	cfg          Config
	log          *slog.Logger
	azNames      []string
	addrs        map[string][]netip.Addr
	port         uint16
	startTimeout time.Duration
	stopTimeout  time.Duration
	wake         chan struct{}
	wg           sync.WaitGroup // every goroutine the group starts

	mu         sync.Mutex
	ran        bool
	desired    int
	blocked    map[string]bool
	live       map[string]*member // not yet reaped
	terminated []Instance         // most recent last

	// Owned by the Run goroutine.
	failures    int
	lastFailure time.Time
	notBefore   time.Time // no launch before this
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
	// killed is set by Kill: the exit is injected, not a crash.
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
	g := &Group{
		cfg:          cfg,
		log:          cfg.Logger,
		addrs:        make(map[string][]netip.Addr, len(cfg.AZs)),
		port:         uint16(cfg.Group.LaunchTemplate.Port),
		startTimeout: orDefault(cfg.StartTimeout, defaultStartTimeout),
		stopTimeout:  orDefault(cfg.StopTimeout, defaultStopTimeout),
		wake:         make(chan struct{}, 1),
		desired:      cfg.Group.Desired,
		blocked:      map[string]bool{},
		live:         map[string]*member{},
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	g.log = g.log.With("region", cfg.Region)
	for _, az := range cfg.AZs {
		g.azNames = append(g.azNames, az.Name)
		g.addrs[az.Name] = slices.Clone(az.Addrs)
	}
	return g, nil
}

// Run keeps the group at its desired capacity until ctx is done, then
// terminates every instance and returns once all have exited and every
// goroutine the group started has ended. It may be called once.
func (g *Group) Run(ctx context.Context) error {
	g.mu.Lock()
	ran := g.ran
	g.ran = true
	g.mu.Unlock()
	if ran {
		return fmt.Errorf("running auto scaling group %s: already run", g.cfg.Region)
	}

	resync := time.NewTicker(resyncInterval)
	defer resync.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for ctx.Err() == nil {
		g.reconcile(ctx)
		if d := time.Until(g.notBefore); d > 0 {
			retry.Reset(d)
		} else {
			retry.Stop()
		}
		select {
		case <-ctx.Done():
		case <-g.wake:
		case <-resync.C:
		case <-retry.C:
		}
	}
	g.shutdown()
	g.wg.Wait()
	return nil
}

// reconcile is one pass: take in what the instances reported, then plan
// from the observed state and carry the plan out.
func (g *Group) reconcile(ctx context.Context) {
	g.mu.Lock()
	effects := g.observe(time.Now(), false)
	desired, blocked := g.desired, maps.Clone(g.blocked)
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
			g.launch(ctx, a.AZ)
		case Terminate:
			g.terminate(a.ID, a.Reason)
		}
	}
}

// observe moves instances along their lifecycle from the facts their
// goroutines reported. It returns the calls to the load balancer and the
// events to make, in order, once g.mu is released. Called with g.mu held,
// on the Run goroutine.
func (g *Group) observe(now time.Time, shuttingDown bool) []func() {
	var effects []func()
	for _, id := range slices.Sorted(maps.Keys(g.live)) {
		m := g.live[id]
		switch {
		case m.exited:
			if m.State == InService {
				effects = append(effects, func() { g.deregister(id) })
			}
			if m.State != Terminating {
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
		}
	}
	return effects
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

// launch starts an instance in az, unless launches are backing off or the
// AZ has no free address.
func (g *Group) launch(ctx context.Context, az string) {
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
	proc, err := startProcess(launchSpec{
		command: g.cfg.Command,
		args:    g.cfg.Args,
		env:     instanceEnv(g.cfg.Env, g.cfg.Group.LaunchTemplate.Env, g.cfg.Region, az, id, addr),
		logPath: filepath.Join(g.cfg.LogDir, id+".log"),
	})
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
	g.emit(slog.LevelInfo, EventLaunch, fmt.Sprintf("%s launched %s in %s at %s", g.cfg.Region, id, az, addr))

	g.wg.Go(func() {
		proc.wait()
		g.mu.Lock()
		m.exited = true
		g.mu.Unlock()
		g.poke()
	})
	g.wg.Go(func() {
		ok := waitListening(ctx, addr.String(), proc.done, g.startTimeout, readyPollInterval)
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

// terminate deregisters the instance and stops its process.
func (g *Group) terminate(id, reason string) {
	g.mu.Lock()
	m := g.live[id]
	if m == nil || m.State == Terminating {
		g.mu.Unlock()
		return
	}
	wasInService := m.State == InService
	m.State = Terminating
	az, addr := m.AZ, m.Addr
	g.mu.Unlock()

	if wasInService {
		g.deregister(id)
	}
	g.emit(slog.LevelInfo, EventTerminate, fmt.Sprintf("%s terminating %s in %s at %s: %s", g.cfg.Region, id, az, addr, reason))
	g.wg.Go(func() {
		if err := m.proc.stop(g.stopTimeout); err != nil {
			g.log.Error("stopping instance", "instance", id, "err", err)
		}
	})
}

// shutdown terminates every instance and returns once all are reaped.
func (g *Group) shutdown() {
	for {
		g.mu.Lock()
		effects := g.observe(time.Now(), true)
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
			g.terminate(id, "the group is shutting down")
		}
		if left == 0 {
			return
		}
		<-g.wake // every exit pokes
	}
}

func (g *Group) deregister(id string) {
	if g.cfg.Targets != nil {
		g.cfg.Targets.Deregister(id)
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

// Instances returns the group's instances sorted by ID, including the most
// recently terminated ones.
func (g *Group) Instances() []Instance {
	g.mu.Lock()
	out := slices.Clone(g.terminated)
	for _, m := range g.live {
		out = append(out, m.Instance)
	}
	g.mu.Unlock()
	slices.SortFunc(out, func(a, b Instance) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// SetDesired sets the desired capacity; it must lie within the group's min
// and max.
func (g *Group) SetDesired(n int) error {
	if n < g.cfg.Group.Min || n > g.cfg.Group.Max {
		return fmt.Errorf("setting desired capacity of %s to %d: outside min %d and max %d",
			g.cfg.Region, n, g.cfg.Group.Min, g.cfg.Group.Max)
	}
	g.mu.Lock()
	g.desired = n
	g.mu.Unlock()
	g.poke()
	return nil
}

// Kill sends SIGKILL to the instance's process group, as a fault; the group
// then replaces the instance.
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
