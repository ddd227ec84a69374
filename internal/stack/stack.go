package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hastack/hastack/internal/alb"
	"github.com/hastack/hastack/internal/lease"
	"github.com/hastack/hastack/internal/network"
	"github.com/hastack/hastack/internal/rds"
	"github.com/hastack/hastack/internal/route53"
	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/vpc"
)

// Options are the settings of a running stack that the stack file does not hold.
type Options struct {
	// StateDir holds data, secrets, logs and the control socket.
	StateDir string
	// Executable runs the bundled demo app (as "Executable webapp") when a
	// launch template names no command.
	Executable string
	// Progress receives one line per start-up step; nil discards them.
	Progress io.Writer
	Logger   *slog.Logger
	// ReadyTimeout bounds the wait for every part to become healthy.
	ReadyTimeout time.Duration
	// OnReady is called once every part is healthy.
	OnReady func()
}

// Stack is a running stack.
type Stack struct {
	spec   *spec.Stack
	plan   *vpc.Plan
	opts   Options
	paths  Paths
	logger *slog.Logger
	events *eventLog
	db     *rds.Cluster
	// witness grants the write lease with fencing = "lease"; keepers are
	// the regions' holds on it.
	witness *lease.Witness
	keepers []*lease.Keeper
	dns     *route53.Server
	dnsCtl  *route53.Controller
	regions []*region
	// lbMetrics are every load balancer's Prometheus metrics.
	lbMetrics *alb.Metrics
	registry  *prometheus.Registry
	// dbOps is db as faults, recovery and promotion use it; tests put a
	// fake in its place.
	dbOps clusterOps
	// opsMu runs faults, recoveries, promotions and applies one at a time.
	opsMu sync.Mutex
	// specMu guards spec against apply.
	specMu sync.Mutex

	// domains are the failure domains on the address plan.
	domains *domains
	// net enforces the network; nil without CAP_NET_ADMIN, and netOff
	// says why.
	net    enforcer
	netOff error
	// netBase is the network without faults: security groups, distance.
	netBase network.State
	// faultsMu guards faults and netState, which status reads while an
	// operation (under opsMu) changes them.
	faultsMu sync.Mutex
	faults   []activeFault
	netState network.State

	readyMu sync.Mutex
	readyAt time.Time
	started time.Time
	down    context.CancelFunc
	// runCtx is the stack's lifetime; parts restarted by Recover live in it.
	runCtx context.Context
	// dash is the dashboard and what its charts and the metrics observe.
	dash dashState
}

// Run brings the stack up and keeps it running until ctx is done or the
// control API is asked to stop it; then it takes everything down and
// returns. Start-up failures stop whatever had started and return an error
// that reads as one sentence.
func Run(ctx context.Context, s *spec.Stack, opts Options) (err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 2 * time.Minute
	}
	plan, err := Preflight(s)
	if err != nil {
		return err
	}
	st := &Stack{spec: s, plan: plan, opts: opts, paths: Paths{Dir: opts.StateDir}, logger: opts.Logger, started: time.Now()}
	st.registry = prometheus.NewRegistry()
	st.lbMetrics = alb.NewMetrics(st.registry)
	st.registry.MustRegister(promCollector{st})
	if err := st.paths.prepare(); err != nil {
		return err
	}
	lock, err := st.paths.lock()
	if err != nil {
		if errors.Is(err, ErrRunning) {
			return fmt.Errorf("stack %s is already running (state in %s); see hastack status", s.Name, opts.StateDir)
		}
		return err
	}
	defer lock.Close()

	// Bind every address before starting anything, so a port in use fails
	// fast and leaves nothing half-started.
	socks, err := st.bind()
	if err != nil {
		return err
	}
	defer socks.closeAll()
	dashLn, err := st.bindDashboard()
	if err != nil {
		return err
	}
	defer closeIfOpen(dashLn)

	if st.events, err = openEventLog(st.paths.Events(), st.logger); err != nil {
		return err
	}
	defer st.events.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st.down = cancel
	st.runCtx = ctx

	var stop []func()
	defer func() {
		for i := len(stop) - 1; i >= 0; i-- {
			stop[i]()
		}
		st.events.Add("stack.down", fmt.Sprintf("stack %s stopped", s.Name))
	}()
	st.events.Add("stack.up", fmt.Sprintf("stack %s starting", s.Name))

	// The network first: its rules hold before any part starts talking,
	// and it is the last thing removed.
	stopNetwork, err := st.startNetwork()
	if err != nil {
		return err
	}
	stop = append(stop, stopNetwork)

	if err := st.startDatabase(ctx); err != nil {
		return err
	}
	stop = append(stop, st.stopDatabase)

	// The DNS objects exist before the regions start, so the controller's
	// first view is every record healthy and the first answer the primary.
	st.newDNS()
	for i, r := range st.regions {
		ln := socks.lbs[i]
		socks.lbs[i] = nil
		if err := r.start(ctx, ln); err != nil {
			return err
		}
		stop = append(stop, r.close)
		st.step("%-10s load balancer on %s, %d instances launching", r.spec.Name, r.lbAddr(), r.spec.AutoScaling.Desired)
	}

	// The control API serves from here on, so status works during start-up;
	// DNS answers once the regions are healthy.
	apiDone, err := st.serveAPI(ctx, socks.api)
	socks.api = nil
	if err != nil {
		return err
	}
	stop = append(stop, func() { cancel(); <-apiDone; os.Remove(st.paths.Socket()) })
	dashDone, err := st.startDashboard(ctx, dashLn)
	if err != nil {
		return err
	}
	stop = append(stop, func() { cancel(); dashDone() })

	if err := st.paths.writeRecord(Record{Name: s.Name, StackFile: s.Filename, PID: os.Getpid(), Socket: st.paths.Socket(), StartedAt: st.started}); err != nil {
		return fmt.Errorf("writing state file: %w", err)
	}
	stop = append(stop, func() { os.Remove(st.paths.State()) })

	if err := st.waitReady(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	dnsDone := st.serveDNS(ctx, socks.dnsUDP, socks.dnsTCP)
	socks.dnsUDP, socks.dnsTCP = nil, nil
	stop = append(stop, func() { cancel(); <-dnsDone })
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); st.db.WatchRegionFailover(ctx, st.regionLost) }()
	stop = append(stop, func() { cancel(); <-watchDone })
	st.markReady()
	if opts.OnReady != nil && ctx.Err() == nil {
		opts.OnReady()
	}
	<-ctx.Done()
	return nil
}

// Preflight checks what a stack needs before anything is created or
// started: a database it can run, its address plan and the database
// server's programs.
func Preflight(s *spec.Stack) (*vpc.Plan, error) {
	plan, err := vpc.New(s)
	if err != nil {
		return nil, err
	}
	if err := rds.FindPrograms(s.Database.Engine); err != nil {
		return nil, err
	}
	return plan, nil
}

// sockets are the addresses bound before start-up.
type sockets struct {
	dnsUDP net.PacketConn
	dnsTCP net.Listener
	lbs    []net.Listener
	api    net.Listener
}

func (s *sockets) closeAll() {
	if s.dnsUDP != nil {
		s.dnsUDP.Close()
	}
	if s.dnsTCP != nil {
		s.dnsTCP.Close()
	}
	for _, l := range s.lbs {
		if l != nil {
			l.Close()
		}
	}
	if s.api != nil {
		s.api.Close()
	}
}

func (st *Stack) bind() (*sockets, error) {
	socks := &sockets{}
	fail := func(err error) (*sockets, error) { socks.closeAll(); return nil, err }
	var err error
	if socks.dnsUDP, err = listenUDP("DNS", st.spec.DNS.Listen); err != nil {
		return fail(err)
	}
	if socks.dnsTCP, err = listenTCP("DNS", st.spec.DNS.Listen); err != nil {
		return fail(err)
	}
	for i := range st.spec.Regions {
		r := &region{spec: &st.spec.Regions[i], plan: &st.plan.Regions[i], st: st}
		st.regions = append(st.regions, r)
		ln, err := listenTCP("load balancer", r.lbAddr())
		if err != nil {
			return fail(err)
		}
		socks.lbs = append(socks.lbs, ln)
	}
	if socks.api, err = listenControl(st.paths.Socket()); err != nil {
		return fail(err)
	}
	return socks, nil
}

// step prints one line of start-up progress with the time since start.
func (st *Stack) step(format string, args ...any) {
	fmt.Fprintf(st.opts.Progress, "  %6.1fs  %s\n", time.Since(st.started).Seconds(), fmt.Sprintf(format, args...))
}

// waitReady polls until every region is at desired capacity and healthy,
// or ctx is done.
func (st *Stack) waitReady(ctx context.Context) error {
	deadline := time.NewTimer(st.opts.ReadyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	pending := map[string]bool{}
	for _, r := range st.regions {
		pending[r.spec.Name] = true
	}
	for {
		for _, r := range st.regions {
			if pending[r.spec.Name] && r.ready() {
				delete(pending, r.spec.Name)
				st.step("%-10s %d/%d instances healthy behind the load balancer", r.spec.Name, r.spec.AutoScaling.Desired, r.spec.AutoScaling.Desired)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-deadline.C:
			var names []string
			for n := range pending {
				names = append(names, n)
			}
			return fmt.Errorf("the stack did not become healthy within %s (waiting for %v); see the instance logs in %s", st.opts.ReadyTimeout, names, st.paths.LogDir())
		case <-tick.C:
		}
	}
}

func (st *Stack) markReady() {
	st.readyMu.Lock()
	st.readyAt = time.Now()
	st.readyMu.Unlock()
	st.step("ready: %s answers %s", st.spec.DNS.Domain, st.dns.Answer())
	st.events.Add("stack.ready", fmt.Sprintf("stack %s ready in %.1fs", st.spec.Name, time.Since(st.started).Seconds()))
}

// Ready reports whether start-up has completed.
func (st *Stack) Ready() bool {
	st.readyMu.Lock()
	defer st.readyMu.Unlock()
	return !st.readyAt.IsZero()
}
