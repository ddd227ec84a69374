package drill

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/stack"
)

// Options shape a drill. Zero values take the defaults noted.
type Options struct {
	// Warmup is steady load before the fault (default 3s).
	Warmup time.Duration
	// Timeout bounds the wait for recovery after the fault, and the wait
	// for the stack to be restored once the fault is undone. Zero derives
	// both from Stack's timings (DefaultWaits), or waits 60 s without Stack.
	Timeout time.Duration
	// Stack is the stack file the running stack was started from; the
	// default waits derive from its timings.
	Stack *spec.Stack
	// Sustain is how long successes must run to count as recovered (default 2s).
	Sustain time.Duration
	// Settle is load kept after recovery, for the "after" latency (default 2s).
	Settle     time.Duration
	Load       LoadConfig
	Objectives spec.Objectives
	// Progress, if set, is called about four times a second.
	Progress func(Progress)
}

// defaults fills zero options and returns the waits for scenario.
func (o *Options) defaults(scenario string) Waits {
	if o.Warmup <= 0 {
		o.Warmup = 3 * time.Second
	}
	if o.Sustain <= 0 {
		o.Sustain = 2 * time.Second
	}
	if o.Settle <= 0 {
		o.Settle = 2 * time.Second
	}
	if o.Timeout > 0 {
		return Waits{Recovery: o.Timeout, Restore: o.Timeout}
	}
	return DefaultWaits(o.Stack, scenario, o.Sustain)
}

// Progress is what a drill tells while it runs.
type Progress struct {
	Phase    string
	Elapsed  time.Duration
	Requests int
	Errors   int
	Region   string // region that served the latest success
}

// Run runs scenario sc against the stack behind ctl and reports what
// clients saw. The load and every goroutine end before it returns.
func Run(ctx context.Context, ctl Controller, sc Scenario, opts Options) (*Report, error) {
	waits := opts.defaults(sc.Name)
	st, err := ctl.Status(ctx)
	if err != nil {
		return nil, err
	}
	if !st.Ready {
		return nil, fmt.Errorf("stack %s is not ready; wait for hastack up to finish", st.Name)
	}
	kind, name, err := sc.Fault(st)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	if opts.Load.URL == "" {
		opts.Load.URL = "http://" + net.JoinHostPort(st.DNS.Name, lbPort(st))
	}
	resolver := NewResolver(st.DNS.Address)
	opts.Load.Resolver = resolver
	load, err := NewLoad(opts.Load)
	if err != nil {
		return nil, err
	}

	d := &driver{ctl: ctl, load: load, opts: opts, start: time.Now()}
	runCtx, stopRun := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { load.Run(runCtx) })
	wg.Go(func() { d.watchDNS(runCtx, resolver, st.DNS.Name) })
	defer func() { stopRun(); wg.Wait() }()

	rep := &Report{Scenario: sc.Name, Description: sc.Description, Fault: kind + " " + name, StartedAt: d.start}
	if err := d.phase(ctx, "warm-up", opts.Warmup, nil); err != nil {
		return nil, err
	}
	// The replicas' lag at the fault is what the fault can cost in
	// writes: read it as late before the fault as the status allows.
	var nodesAtFault []stack.NodeStatus
	if before, err := ctl.Status(ctx); err == nil {
		nodesAtFault = before.Database.Nodes
	}
	rep.FaultAt = time.Now()
	stopCPU, err := d.inject(runCtx, kind, name)
	if err != nil {
		return nil, fmt.Errorf("injecting the fault: %w", err)
	}
	var opErr error
	operatorDone := sc.Operator == nil
	var recoveredAt time.Time
	err = d.phase(ctx, "fault", waits.Recovery, func() bool {
		if !operatorDone && opErr == nil {
			operatorDone, opErr = sc.Operator(ctx, d, st, rep.FaultAt)
		}
		if !operatorDone || !d.recovered(ctx, rep.FaultAt, sc, st) {
			return false
		}
		recoveredAt = time.Now()
		return true
	})
	if err != nil {
		return nil, err
	}
	if opErr != nil {
		return nil, opErr
	}
	if sc.Recovered != nil && !recoveredAt.IsZero() {
		secs := recoveredAt.Sub(rep.FaultAt).Seconds()
		rep.ScaleOutSeconds = &secs
	}
	// A scenario with its own recovery test passes only if it held.
	scenarioRecovered := sc.Recovered == nil || !recoveredAt.IsZero()
	if err := d.phase(ctx, "settle", opts.Settle, nil); err != nil {
		return nil, err
	}
	if sc.Recoverable {
		rep.RecoverAt = time.Now()
		if kind == faultCPU {
			stopCPU()
		} else if err := ctl.Recover(ctx, kind, name); err != nil {
			return nil, fmt.Errorf("recovering the fault: %w", err)
		}
		err := d.phase(ctx, "restore", waits.Restore, func() bool { return d.restored(ctx, st) })
		restored := err == nil && d.restored(ctx, st)
		rep.Restored = &restored
	}
	stopCPU()
	stopRun()
	wg.Wait()
	rep.EndedAt = time.Now()

	events, err := ctl.Events(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the event log: %w", err)
	}
	present, err := d.presentKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("verifying acknowledged writes: %w", err)
	}
	samples := load.Samples()
	verified := VerifyWrites(samples, present, d.start)
	rep.Markers = d.markers()
	rep.fill(samples, d.dnsAnswers(), events, &verified, regionsByAddr(st), opts)
	rep.setLag(nodesAtFault, events)
	if !scenarioRecovered {
		rep.Recovered, rep.Passed = false, false
	}
	return rep, nil
}

// inject puts the fault in place: the control API's, or CPU load the
// drill drives itself. The returned function stops that load (and does
// nothing for other faults); it may be called more than once.
func (d *driver) inject(ctx context.Context, kind, name string) (func(), error) {
	if kind != faultCPU {
		return func() {}, d.ctl.Fail(ctx, kind, name)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	client := d.load.newClient()
	url := d.load.base.JoinPath("cpu").String() + "?ms=80"
	burn := func() {
		pace := time.NewTicker(200 * time.Millisecond)
		defer pace.Stop()
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if resp, err := client.Do(req); err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			select {
			case <-ctx.Done():
			case <-pace.C:
			}
		}
	}
	// Each burner keeps one instance busy 80 ms of every 200. Burners are
	// added one a second while the group's CPU is under the scale-out
	// threshold (plus a margin), up to eight: just the load it takes, so
	// the database and the health checks still get CPU on a small machine.
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for n := 0; ctx.Err() == nil; {
			if n < 8 && d.groupBelowTarget(ctx, name) {
				n++
				wg.Go(burn)
			}
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	})
	var once sync.Once
	return func() { once.Do(func() { cancel(); wg.Wait() }) }, nil
}

// groupBelowTarget: region's group runs under its scale-out threshold plus
// a margin and is not at its maximum yet.
func (d *driver) groupBelowTarget(ctx context.Context, region string) bool {
	st, err := d.ctl.Status(ctx)
	if err != nil {
		return false
	}
	for _, r := range st.Regions {
		if a := r.AutoScaling; r.Name == region && a != nil {
			return a.Desired < a.Max && a.CPUPercent < a.ScaleOutCPU+15
		}
	}
	return false
}

// driver holds a running drill's moving parts.
type driver struct {
	ctl   Controller
	load  *Load
	opts  Options
	start time.Time

	mu      sync.Mutex
	answers []Answer
	marks   []Marker
}

// mark records a moment of the drill's own, such as an operator action.
func (d *driver) mark(m Marker) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.marks = append(d.marks, m)
}

func (d *driver) markers() []Marker {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Marker(nil), d.marks...)
}

// phase keeps the load running for up to d, reporting progress, and ends
// early once done reports true. It returns ctx's error if ctx ends first.
func (d *driver) phase(ctx context.Context, name string, limit time.Duration, done func() bool) error {
	deadline := time.Now().Add(limit)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		if done != nil && done() {
			return nil
		}
		d.progress(name)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

func (d *driver) progress(phase string) {
	if d.opts.Progress == nil {
		return
	}
	p := Progress{Phase: phase, Elapsed: time.Since(d.start)}
	for _, s := range d.load.Samples() {
		p.Requests++
		if !s.OK {
			p.Errors++
		} else if s.Region != "" {
			p.Region = s.Region
		}
	}
	d.opts.Progress(p)
}

// recovered: clients are served again, for long enough, and from another
// region when the scenario moves traffic — or the scenario's own test.
func (d *driver) recovered(ctx context.Context, fault time.Time, sc Scenario, st stack.Status) bool {
	if sc.Recovered != nil {
		return sc.Recovered(ctx, d, st)
	}
	samples := d.load.Samples()
	_, ok := RTO(samples, fault, d.opts.Sustain)
	if !ok || time.Since(fault) < d.opts.Sustain {
		return false
	}
	if sc.SwitchesRegion {
		_, _, switched := DNSSwitch(d.dnsAnswers(), fault)
		return switched
	}
	return true
}

// restored: the stack is back as it was before the drill — every region
// running and DNS answering what it answered then.
func (d *driver) restored(ctx context.Context, before stack.Status) bool {
	st, err := d.ctl.Status(ctx)
	if err != nil {
		return false
	}
	for i, r := range st.Regions {
		if r.Failed || len(r.FailedAZs) > 0 || r.LoadBalancer.HealthyTargets == 0 {
			return false
		}
		if b := before.Regions[i].AutoScaling; b != nil && r.AutoScaling != nil && r.AutoScaling.Desired != b.Desired {
			return false
		}
	}
	return st.DNS.Answer == before.DNS.Answer
}

// watchDNS asks the DNS server every 50ms, bypassing any cache, to time
// the switch as a resolver with a zero TTL would see it.
func (d *driver) watchDNS(ctx context.Context, r *Resolver, name string) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		addr, _, err := r.Query(qctx, name)
		cancel()
		if err == nil {
			d.mu.Lock()
			d.answers = append(d.answers, Answer{At: time.Now(), Addr: addr})
			d.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (d *driver) dnsAnswers() []Answer {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Answer(nil), d.answers...)
}

// lbPort is the port clients use: the primary region's listener.
func lbPort(st stack.Status) string {
	for _, r := range st.Regions {
		if r.Role == "primary" {
			if _, port, err := net.SplitHostPort(r.LoadBalancer.Address); err == nil {
				return port
			}
		}
	}
	return strconv.Itoa(80)
}

func regionsByAddr(st stack.Status) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for _, r := range st.Regions {
		if ap, err := netip.ParseAddrPort(r.LoadBalancer.Address); err == nil {
			out[ap.Addr()] = r.Name
		}
	}
	return out
}
