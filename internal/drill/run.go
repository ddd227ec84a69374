package drill

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
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

	// Mode is how a region scenario takes the region out (OptMode):
	// stack.ModeIsolate (the default) or stack.ModeCrash.
	Mode string
	// Duration is how long a timed scenario holds its fault (OptDuration,
	// default 10s).
	Duration time.Duration
	// Delay, one way, and Loss, in percent, are what gray-failure puts on
	// the primary region's front door (OptDelay, OptLoss); with neither
	// set, 200ms and 30%.
	Delay time.Duration
	Loss  float64
	// LinkDelay, if set, delays the link between the primary region and
	// the replica's region this much more each way, from before the
	// warm-up until the fault is undone (OptLinkDelay): a replica that
	// trails further, as over a longer or congested link.
	LinkDelay time.Duration
}

// Defaults of the scenario options.
const (
	defaultDuration = 10 * time.Second
	defaultDelay    = 200 * time.Millisecond
	defaultLoss     = 30.0
)

// Check refuses, in one sentence, options that are out of range or that
// the scenario does not use.
func (o Options) Check(sc Scenario) error {
	notFor := func(opt string) error {
		var takers []string
		for _, s := range Scenarios {
			if s.Accepts(opt) {
				takers = append(takers, s.Name)
			}
		}
		return fmt.Errorf("scenario %s takes no --%s (%s do)", sc.Name, opt, strings.Join(takers, ", "))
	}
	switch {
	case o.Mode != "" && o.Mode != stack.ModeIsolate && o.Mode != stack.ModeCrash:
		return fmt.Errorf("unknown region failure mode %q (supported: %s, %s)", o.Mode, stack.ModeIsolate, stack.ModeCrash)
	case o.Mode != "" && !sc.Accepts(OptMode):
		return notFor(OptMode)
	case o.Duration < 0 || o.Delay < 0 || o.LinkDelay < 0:
		return fmt.Errorf("durations and delays must not be negative")
	case o.Duration != 0 && !sc.Accepts(OptDuration):
		return notFor(OptDuration)
	case o.Delay != 0 && !sc.Accepts(OptDelay):
		return notFor(OptDelay)
	case math.IsNaN(o.Loss) || o.Loss < 0 || o.Loss > 100:
		return fmt.Errorf("loss %g%% is not between 0%% and 100%%", o.Loss)
	case o.Loss != 0 && !sc.Accepts(OptLoss):
		return notFor(OptLoss)
	case o.LinkDelay != 0 && !sc.Accepts(OptLinkDelay):
		return notFor(OptLinkDelay)
	}
	return nil
}

// defaults fills zero options and returns the waits for scenario.
func (o *Options) defaults(sc Scenario) Waits {
	if o.Warmup <= 0 {
		o.Warmup = 3 * time.Second
	}
	if o.Sustain <= 0 {
		o.Sustain = 2 * time.Second
	}
	if o.Settle <= 0 {
		o.Settle = 2 * time.Second
	}
	if sc.Timed && o.Duration <= 0 {
		o.Duration = defaultDuration
	}
	if sc.Accepts(OptDelay) && o.Delay == 0 && o.Loss == 0 {
		o.Delay, o.Loss = defaultDelay, defaultLoss
	}
	if o.Timeout > 0 {
		return Waits{Recovery: o.Timeout, Restore: o.Timeout}
	}
	return DefaultWaits(o.Stack, sc.Name, o.Sustain)
}

// Progress is what a drill tells while it runs.
type Progress struct {
	Phase    string
	Elapsed  time.Duration
	Requests int
	Errors   int
	Region   string // region that served the latest success
	// Lag is the latest sample of the watched follower's lag (Node is ""
	// before the first).
	Lag Lag
}

// Run runs scenario sc against the stack behind ctl and reports what
// clients saw. The load and every goroutine end before it returns, and
// the faults it injected are undone even when it fails.
func Run(ctx context.Context, ctl Controller, sc Scenario, opts Options) (*Report, error) {
	if err := opts.Check(sc); err != nil {
		return nil, err
	}
	waits := opts.defaults(sc)
	st, err := ctl.Status(ctx)
	if err != nil {
		return nil, err
	}
	if !st.Ready {
		return nil, fmt.Errorf("stack %s is not ready; wait for hastack up to finish", st.Name)
	}
	faults, err := sc.Faults(st, opts)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	var link []stack.Fault
	if opts.LinkDelay > 0 {
		f, err := linkDelay(st, opts.LinkDelay)
		if err != nil {
			return nil, fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
		link = []stack.Fault{f}
	}
	if sc.SplitBrain && opts.Load.Fresh == 0 {
		// Half the users are new, and follow DNS; the others keep their
		// connections to the region that is cut off.
		opts.Load.Fresh = max(1, cmp.Or(opts.Load.Clients, defaultClients)/2)
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
	dbURL, err := ctl.DatabaseURL(ctx, false, "")
	if err != nil {
		return nil, fmt.Errorf("asking for the database's address: %w", err)
	}
	sampler, err := newLagSampler(dbURL, st)
	if err != nil {
		return nil, fmt.Errorf("measuring replication lag: %w", err)
	}

	d := &driver{ctl: ctl, load: load, opts: opts, start: time.Now(), sampler: sampler, watch: watchedFollower(st)}
	runCtx, stopRun := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { load.Run(runCtx) })
	wg.Go(func() { d.watchDNS(runCtx, resolver, st.DNS.Name) })
	wg.Go(func() { sampler.run(runCtx, lagEvery) })
	defer func() { stopRun(); wg.Wait(); sampler.close() }()
	// Whatever ends the drill, nothing it broke stays broken.
	defer d.undoAll()

	rep := &Report{Scenario: sc.Name, Description: sc.Description, Fault: describe(faults), StartedAt: d.start, LagNode: d.watch, freshRTO: sc.SplitBrain}
	if len(link) > 0 {
		if err := ctl.Inject(ctx, link[0]); err != nil {
			return nil, fmt.Errorf("delaying the link between the regions: %w", err)
		}
		d.mu.Lock()
		d.env = link
		d.mu.Unlock()
		rep.LinkDelaySeconds = opts.LinkDelay.Seconds()
		d.mark(Marker{At: time.Now(), Kind: "link", Label: link[0].String()})
	}
	if err := d.phase(ctx, "warm-up", opts.Warmup, nil); err != nil {
		return nil, err
	}
	follower, checksFollower := sampler.follower(d.watch)
	checksFollower = checksFollower && sc.Expect != nil && sc.Timed
	var facts Facts
	if checksFollower {
		facts.IdentityBefore, facts.IdentityErr = sampler.identityOf(ctx, follower)
	}
	// The replicas' lag at the fault is what the fault can cost in
	// writes: read it as late before the fault as possible.
	var nodesAtFault []stack.NodeStatus
	if before, err := ctl.Status(ctx); err == nil {
		nodesAtFault = before.Database.Nodes
	}
	lagsAtFault := sampler.sample(ctx)
	rep.FaultAt = time.Now()
	stopCPU, err := d.inject(runCtx, faults, sc.Recoverable)
	if err != nil {
		return nil, fmt.Errorf("injecting the fault: %w", err)
	}
	defer stopCPU()
	inPlace := time.Now()

	var opErr error
	operatorDone := sc.Operator == nil
	var recoveredAt time.Time
	if sc.Timed {
		err = d.phase(ctx, "fault", opts.Duration, nil)
	} else {
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
	}
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
	// A region scenario recovers only when that is seen while the fault
	// is in place (DNS names another region, clients are served there):
	// clients served again once the drill undid the fault, after its
	// timeout, are not a failover. A scenario with its own recovery test
	// passes only if it held. An AZ scenario is judged on the whole run:
	// while DNS has moved clients away, its region may see too few of them
	// to tell. A timed scenario holds its fault for a set time.
	scenarioRecovered := sc.Timed || sc.Recovered == nil && !sc.SwitchesRegion || !recoveredAt.IsZero()
	if !sc.Timed {
		if err := d.phase(ctx, "settle", opts.Settle, nil); err != nil {
			return nil, err
		}
	}
	baseline, _ := MaxLag(sampler.Series(), d.watch, d.start, rep.FaultAt)
	if sc.Recoverable {
		rep.RecoverAt = time.Now()
		stopCPU()
		restored := false
		if err := d.undoAll(); err != nil {
			// The measurements still stand; the stack is not restored.
			rep.RecoverError = err.Error()
		} else {
			caughtUp := func() bool {
				if !checksFollower {
					return true
				}
				_, ok := CaughtUp(sampler.Series(), d.watch, rep.RecoverAt, baseline.Seconds)
				return ok
			}
			err := d.phase(ctx, "restore", waits.Restore, func() bool { return d.restored(ctx, st) == "" && caughtUp() })
			rep.NotRestored = d.restored(ctx, st)
			if rep.NotRestored == "" && !caughtUp() {
				rep.NotRestored = d.watch + " has not caught up"
			}
			restored = err == nil && rep.NotRestored == ""
		}
		rep.Restored = &restored
		if sc.FailsBack {
			rep.Failback = d.failBack(ctx, st, rep.RecoverAt, max(waits.Restore, rejoinWait))
		}
	}
	if sc.Timed {
		if err := d.phase(ctx, "settle", opts.Settle, nil); err != nil {
			return nil, err
		}
	}
	stopCPU()
	stopRun()
	wg.Wait()
	rep.EndedAt = time.Now()
	if err := d.undoAll(); err != nil && rep.RecoverError == "" {
		rep.RecoverError = err.Error()
	}

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
	rep.setLag(withLag(nodesAtFault, lagsAtFault), events)
	if sc.SplitBrain {
		rep.setSplitBrain(samples, present, st, events)
	}
	if rep.Failback != nil {
		end, err := ctl.Status(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading the stack's status after the failback: %w", err)
		}
		rep.Failback.measure(samples, present, rep.RTOSeconds, st, end, rep.EndedAt)
	}

	series := sampler.Series()
	faultEnd := rep.RecoverAt
	if faultEnd.IsZero() {
		faultEnd = rep.EndedAt
	}
	rep.measureLag(series, d.watch, inPlace, faultEnd, baseline.Seconds)
	if sc.Timed {
		w := WindowBetween(samples, inPlace, faultEnd)
		rep.FaultWindow = &w
		if sw := rep.DNSSwitchSeconds; sw != nil {
			if at := rep.FaultAt.Add(time.Duration(*sw * float64(time.Second))); at.Before(faultEnd) {
				w := WindowBetween(samples, inPlace, at)
				rep.UntilDNSSwitch = &w
			}
		}
	}
	if sc.ByAZ {
		rep.ServedByAZ = ServedByAZ(samples, d.instanceAZs(ctx, st), inPlace, faultEnd)
	}
	if sc.Expect != nil {
		facts.Report, facts.Before, facts.Events, facts.Faults, facts.InPlace, facts.Follower = rep, st, events, faults, inPlace, d.watch
		if checksFollower {
			d.checkFollower(ctx, &facts, follower)
		}
		rep.Checks = sc.Expect(facts)
	}
	if !scenarioRecovered {
		rep.Recovered = false
	}
	rep.judge()
	return rep, nil
}

// lagEvery is how often the followers' lag is sampled.
const lagEvery = 200 * time.Millisecond

// watchedFollower is the follower whose lag a drill shows: the replica
// in another region, else the standby; "" when there is none.
func watchedFollower(st stack.Status) string {
	primary := ""
	for _, n := range st.Database.Nodes {
		if n.Role == "primary" {
			primary = n.Region
		}
	}
	watch := ""
	for _, n := range st.Database.Nodes {
		switch {
		case n.Role == "replica" && n.Region != primary:
			return n.Name
		case n.Role == "standby" && watch == "":
			watch = n.Name
		}
	}
	return watch
}

// measureLag records the watched follower's samples, its largest lag
// while the fault was in place ([from, to)) and, once the fault was
// undone, when it was back within catchUpMargin of baseline.
func (r *Report) measureLag(series []Lag, node string, from, to time.Time, baseline float64) {
	if node == "" {
		return
	}
	for _, l := range series {
		if l.Node == node {
			r.Lag = append(r.Lag, l)
		}
	}
	if m, ok := MaxLag(series, node, from, to); ok {
		r.MaxLagSeconds, r.MaxLagBytes, r.MaxLagTransactions = &m.Seconds, m.Bytes, m.Transactions
	}
	if !r.RecoverAt.IsZero() {
		if d, ok := CaughtUp(series, node, r.RecoverAt, baseline); ok {
			secs := d.Seconds()
			r.CatchUpSeconds = &secs
		}
	}
}

// checkFollower reads, once the drill is over, whether the follower kept
// its data (its identity) and holds every acknowledged write.
func (d *driver) checkFollower(ctx context.Context, f *Facts, n stack.NodeStatus) {
	if f.IdentityErr == nil {
		f.IdentityAfter, f.IdentityErr = d.sampler.identityOf(ctx, n)
	}
	var keys []string
	for _, s := range d.load.Samples() {
		if s.Kind == Write && s.OK {
			keys = append(keys, s.Key)
		}
	}
	present, err := d.sampler.keysOn(ctx, n, keys, 10*time.Second)
	if err != nil {
		f.MissingOnFollower, f.FollowerErr = -1, err
		return
	}
	for _, k := range keys {
		if !present[k] {
			f.MissingOnFollower++
		}
	}
}

// instanceAZs maps every instance the drill may have seen to its AZ: those
// of the stack before the fault and now.
func (d *driver) instanceAZs(ctx context.Context, before stack.Status) map[string]string {
	out := map[string]string{}
	add := func(st stack.Status) {
		for _, r := range st.Regions {
			for _, in := range r.Instances {
				out[in.ID] = in.AZ
			}
		}
	}
	add(before)
	if now, err := d.ctl.Status(ctx); err == nil {
		add(now)
	}
	return out
}

// inject puts faults in place in order: the control API's, or CPU load the
// drill drives itself. With undo, the drill undoes them later (undoAll);
// when one fails, those already in place are undone at once. The returned
// function stops the CPU load (and does nothing without it); it may be
// called more than once.
func (d *driver) inject(ctx context.Context, faults []stack.Fault, undo bool) (func(), error) {
	stop := func() {}
	for _, f := range faults {
		if f.Kind == faultCPU {
			stop = d.burnCPU(ctx, f.Name)
			continue
		}
		if err := d.ctl.Inject(ctx, f); err != nil {
			stop()
			return func() {}, errors.Join(fmt.Errorf("%s: %w", f, err), d.undoAll())
		}
		if undo {
			d.mu.Lock()
			d.inPlace = append(d.inPlace, f)
			d.mu.Unlock()
		}
	}
	return stop, nil
}

// undoAll undoes what the drill put in place on a context of its own, so
// that an interrupted drill still cleans up: the link delay first (the
// recovery should not pay for it), then the faults, newest first. It goes
// on past a failure and returns every one.
func (d *driver) undoAll() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var errs []error
	for {
		d.mu.Lock()
		var f stack.Fault
		switch {
		case len(d.env) > 0:
			f, d.env = d.env[len(d.env)-1], d.env[:len(d.env)-1]
		case len(d.inPlace) > 0:
			f, d.inPlace = d.inPlace[len(d.inPlace)-1], d.inPlace[:len(d.inPlace)-1]
		default:
			d.mu.Unlock()
			return errors.Join(errs...)
		}
		d.mu.Unlock()
		if err := d.ctl.Undo(ctx, f); err != nil {
			errs = append(errs, fmt.Errorf("recover %s: %w", f, err))
		}
	}
}

// burnCPU drives CPU load through region's load balancer until the
// returned function is called.
func (d *driver) burnCPU(ctx context.Context, region string) func() {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	client := d.load.newClient(false)
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
	// threshold (plus a margin), up to maxBurners: just the load it takes,
	// so the database and the health checks still get CPU on a small
	// machine, yet enough for a group whose instances other work starves.
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for n := 0; ctx.Err() == nil; {
			if n < maxBurners && d.groupBelowTarget(ctx, region) {
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
	return func() { once.Do(func() { cancel(); wg.Wait() }) }
}

// maxBurners bounds the CPU load's concurrent requests: 16 of them ask for
// 3.2 cores' worth at most.
const maxBurners = 16

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
	ctl     Controller
	load    *Load
	opts    Options
	start   time.Time
	sampler *lagSampler // nil in a probe
	watch   string      // the follower whose lag is shown

	mu      sync.Mutex
	answers []Answer
	marks   []Marker
	inPlace []stack.Fault // injected and not undone yet, oldest first
	env     []stack.Fault // the link delay, while in place
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
	if d.sampler != nil {
		series := d.sampler.Series()
		for i := len(series) - 1; i >= 0; i-- {
			if series[i].Node == d.watch {
				p.Lag = series[i]
				break
			}
		}
	}
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
	if sc.Promotes && !d.primaryMoved(ctx, st) {
		return false
	}
	samples := d.load.Samples()
	if sc.SplitBrain {
		samples = FreshOnly(samples)
	}
	if sc.HoldsRegion {
		if r, err := primaryOf(st); err == nil {
			samples = ServedBy(samples, r.Name)
		}
	}
	if !ServedAgain(samples, fault, time.Now(), d.opts.Sustain, d.load.cfg.Timeout) {
		return false
	}
	if sc.SwitchesRegion {
		_, _, switched := DNSSwitch(d.dnsAnswers(), fault)
		return switched
	}
	return true
}

// primaryMoved: another database node than before is primary now.
func (d *driver) primaryMoved(ctx context.Context, before stack.Status) bool {
	st, err := d.ctl.Status(ctx)
	if err != nil {
		return false
	}
	was := map[string]bool{}
	for _, n := range before.Database.Nodes {
		was[n.Name] = n.Role == "primary"
	}
	for _, n := range st.Database.Nodes {
		if n.Role == "primary" && !was[n.Name] {
			return true
		}
	}
	return false
}

// restored: the stack is back as it was before the drill; otherwise
// it says what is not.
func (d *driver) restored(ctx context.Context, before stack.Status) string {
	st, err := d.ctl.Status(ctx)
	if err != nil {
		return "status: " + err.Error()
	}
	return NotRestored(before, st)
}

// NotRestored says what keeps the stack now from being as it was before
// ("" when nothing does): every region running with healthy targets and
// its group at the same desired capacity, DNS answering what it did,
// every database node that ran running again (in whatever role, but no
// former primary still running as one) and, if commits waited for a
// synchronous standby, waiting for one again — unless the primary moved
// to another region, where a promoted replica has no standby of its own
// (as on AWS, until one is added).
func NotRestored(before, now stack.Status) string {
	if len(now.Regions) != len(before.Regions) {
		return fmt.Sprintf("%d regions, were %d", len(now.Regions), len(before.Regions))
	}
	for i, r := range now.Regions {
		switch {
		case r.Failed:
			return "region " + r.Name + " still failed"
		case len(r.FailedAZs) > 0:
			return fmt.Sprintf("AZ %s still failed", strings.Join(r.FailedAZs, ", "))
		case r.LoadBalancer.HealthyTargets == 0:
			return "no healthy target behind the load balancer of " + r.Name
		}
		if b := before.Regions[i].AutoScaling; b != nil && r.AutoScaling != nil && r.AutoScaling.Desired != b.Desired {
			return fmt.Sprintf("the group of %s wants %d instances, wanted %d", r.Name, r.AutoScaling.Desired, b.Desired)
		}
	}
	running := map[string]bool{}
	for _, n := range now.Database.Nodes {
		running[n.Name] = n.Running
		if n.Running && n.Fenced {
			return "former primary " + n.Name + " still runs as a primary"
		}
	}
	for _, n := range before.Database.Nodes {
		if n.Running && !running[n.Name] {
			return "database node " + n.Name + " not running"
		}
	}
	if before.Database.SyncStandby && !now.Database.SyncStandby && dbRegion(before) == dbRegion(now) {
		return "commits wait for no synchronous standby"
	}
	if now.DNS.Answer != before.DNS.Answer {
		return fmt.Sprintf("DNS answers %s, answered %s", now.DNS.Answer, before.DNS.Answer)
	}
	return ""
}

// dbRegion is the region of the database primary, "" when none.
func dbRegion(st stack.Status) string {
	for _, n := range st.Database.Nodes {
		if n.Role == "primary" {
			return n.Region
		}
	}
	return ""
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
