package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// KeeperConfig sets up a Keeper.
type KeeperConfig struct {
	// Region is the name the lease is held under, e.g. "us-east-1".
	Region string
	// Witness is the witness's host:port.
	Witness string
	// Source is the address requests leave from: one of the region's own,
	// so that a partition between the region and the witness cuts them.
	// The zero Addr lets the kernel choose.
	Source netip.Addr
	// Duration of the lease asked for: the witness's Duration (the
	// stack's fencing_lease), from which the renewal interval and the
	// margin follow. The witness may grant less, and the keeper then
	// counts less.
	Duration time.Duration
	// Margin is how long before its expiry the keeper stops counting the
	// lease held and tells its owner (default DefaultMargin: a quarter of
	// Duration). It must exceed the time the owner takes to stop writes,
	// and be shorter than two thirds of Duration.
	Margin time.Duration
	// Clock defaults to the system clock.
	Clock Clock
	// OnChange is told, on Run's goroutine, each time the lease starts or
	// stops being held. It must return quickly: it holds up renewals.
	OnChange func(held bool)
	// Logger records the lease won and lost (default: discard).
	Logger *slog.Logger
}

// Keeper holds the lease for one region: it acquires it when asked,
// renews it while it keeps it, and gives it up on its own, on time, when
// it cannot renew.
type Keeper struct {
	region   string
	witness  string
	d        time.Duration
	every    time.Duration
	margin   time.Duration
	clock    Clock
	onChange func(held bool)
	log      *slog.Logger
	ask      func(ctx context.Context, req Request) (Answer, error)
	get      func(ctx context.Context) (Lease, error)
	kick     chan struct{}

	mu        sync.Mutex
	hold      Hold
	wanted    bool      // Run keeps renewing: granted, not taken by another, not released
	op        Op        // what Run asks: renew, or acquire once the witness forgot the lease
	gen       uint64    // bumped by Acquire and Release: answers to older requests are ignored
	lastSent  time.Time // last request sent for the lease
	retryAt   time.Time // the witness grants nothing before this
	lastGrant time.Time
	renewals  uint64
	failures  uint64
	lastErr   string
	loop      loopState
}

// loopState is where Run is, for tests to know it has caught up.
type loopState struct {
	waiting bool      // blocked until wake, a kick or an answer
	wake    time.Time // zero: no timer
	kicks   uint64    // asked to look again
	seen    uint64    // kicks Run has looked at
	started uint64    // requests sent
	taken   uint64    // answers Run has looked at
}

// NewKeeper returns a keeper that holds nothing until Acquire.
func NewKeeper(cfg KeeperConfig) (*Keeper, error) {
	if cfg.Margin == 0 {
		cfg.Margin = DefaultMargin(cfg.Duration)
	}
	switch {
	case cfg.Region == "" || len(cfg.Region) > maxRegion:
		return nil, fmt.Errorf("lease keeper: region %q must be 1 to %d bytes", cfg.Region, maxRegion)
	case cfg.Witness == "":
		return nil, errors.New("lease keeper: no witness address")
	case cfg.Duration <= 0:
		return nil, fmt.Errorf("lease keeper for %s: duration %s must be longer than zero", cfg.Region, cfg.Duration)
	case cfg.Margin <= 0 || cfg.Margin >= cfg.Duration-RenewEvery(cfg.Duration):
		return nil, fmt.Errorf("lease keeper for %s: margin %s must be longer than zero and shorter than two thirds of the lease (%s)",
			cfg.Region, cfg.Margin, cfg.Duration)
	}
	k := &Keeper{
		region: cfg.Region, witness: cfg.Witness, d: cfg.Duration, every: RenewEvery(cfg.Duration), margin: cfg.Margin,
		clock: cfg.Clock, onChange: cfg.OnChange, log: cfg.Logger, kick: make(chan struct{}, 1), op: OpRenew,
	}
	if k.clock == nil {
		k.clock = systemClock{}
	}
	if k.onChange == nil {
		k.onChange = func(bool) {}
	}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	c := newClient(cfg.Witness, cfg.Source, k.every)
	k.ask, k.get = c.ask, c.lease
	return k, nil
}

// Margin is how long before its expiry the keeper stops counting the lease held.
func (k *Keeper) Margin() time.Duration { return k.margin }

// Holds reports whether the region may acknowledge writes at now: it holds
// the lease, and now is more than Margin before its expiry.
func (k *Keeper) Holds(now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.hold.Holds(now, k.margin)
}

// HeldError is why an acquire was refused: another region holds the lease,
// or the witness has just started and grants nothing yet.
type HeldError struct {
	// Holder is the region holding it, "" when none does.
	Holder string
	// Wait is how long until it may be taken, on the witness's clock.
	Wait time.Duration
}

func (e *HeldError) Error() string {
	if e.Holder == "" {
		return fmt.Sprintf("the witness grants no lease for another %s: it has just started and a lease may still be out", e.Wait.Round(time.Millisecond))
	}
	return fmt.Sprintf("the lease is held by %s, and may be taken over in %s", e.Holder, e.Wait.Round(time.Millisecond))
}

// ErrHeld matches every *HeldError with errors.Is.
var ErrHeld = errors.New("the lease is held")

// Is makes errors.Is(err, ErrHeld) true.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

// Acquire takes the lease for the region. It returns nil once it holds it
// (Holds is true), and from then on Run renews it. When another region
// holds it, Acquire returns a *HeldError at once unless wait, in which case
// it asks again when the witness says the lease may be taken, until ctx is
// done. Failing to reach the witness is an error at once.
func (k *Keeper) Acquire(ctx context.Context, wait bool) error {
	k.mu.Lock()
	k.gen++
	gen := k.gen
	k.mu.Unlock()
	for {
		sentAt := k.clock.Now()
		k.sent(sentAt)
		a, err := k.ask(ctx, Request{Op: OpAcquire, Region: k.region, Duration: k.d})
		now := k.clock.Now()
		applied, _ := k.answered(gen, OpAcquire, sentAt, a, err, now)
		switch {
		case err != nil:
			return fmt.Errorf("acquiring the lease for %s from the witness at %s: %w", k.region, k.witness, err)
		case !applied:
			return fmt.Errorf("acquiring the lease for %s: a later Acquire or Release overtook it", k.region)
		case a.Granted && k.Holds(now):
			k.poke()
			return nil
		case a.Granted:
			continue // the grant came too late to count: ask again
		}
		held := &HeldError{Holder: a.Lease.Holder, Wait: a.RetryAfter}
		if !wait {
			return fmt.Errorf("acquiring the lease for %s: %w", k.region, held)
		}
		timer, c := k.clock.NewTimer(max(a.RetryAfter, time.Millisecond))
		select {
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("acquiring the lease for %s: %w; gave up waiting: %w", k.region, held, ctx.Err())
		case <-c:
		}
	}
}

// Release gives the lease up at the witness, so another region may take
// it at once. The keeper stops counting it held at the call, but the owner
// must have stopped writes before calling: the next holder may start as
// soon as the witness has the release.
func (k *Keeper) Release(ctx context.Context) error {
	k.mu.Lock()
	k.gen++
	k.wanted = false
	if now := k.clock.Now(); k.hold.Expiry.After(now) {
		k.hold.Expiry = now
	}
	k.mu.Unlock()
	k.poke()
	if _, err := k.ask(ctx, Request{Op: OpRelease, Region: k.region, Duration: k.d}); err != nil {
		return fmt.Errorf("releasing the lease of %s at the witness %s: %w", k.region, k.witness, err)
	}
	return nil
}

// Lease asks the witness who holds the lease and until when.
func (k *Keeper) Lease(ctx context.Context) (Lease, error) {
	l, err := k.get(ctx)
	if err != nil {
		return Lease{}, fmt.Errorf("asking the witness at %s about the lease: %w", k.witness, err)
	}
	return l, nil
}

// Status is the keeper's state, for status and metrics. Times are on the
// keeper's clock.
type Status struct {
	Region string `json:"region"`
	// Held: writes may be acknowledged now (Holds).
	Held bool `json:"held"`
	// Keeping: Run renews the lease (granted, and not taken by another
	// region or released since).
	Keeping bool   `json:"keeping"`
	Epoch   uint64 `json:"epoch"`
	// Expiry is the send time of the last granted request plus the lease.
	Expiry time.Time `json:"expiry"`
	// StopAt is Expiry - Margin: when the lease stops counting as held.
	StopAt time.Time `json:"stop_at"`
	// LastSent is when the last request left; LastGrant when the last
	// grant arrived.
	LastSent  time.Time `json:"last_sent"`
	LastGrant time.Time `json:"last_grant"`
	// Renewals counts grants; Failures requests refused or unanswered.
	Renewals  uint64 `json:"renewals"`
	Failures  uint64 `json:"failures"`
	LastError string `json:"last_error,omitempty"`
}

// Status is the keeper's state now.
func (k *Keeper) Status() Status {
	now := k.clock.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	s := Status{
		Region: k.region, Held: k.hold.Holds(now, k.margin), Keeping: k.wanted, Epoch: k.hold.Epoch,
		Expiry: k.hold.Expiry, LastSent: k.lastSent, LastGrant: k.lastGrant,
		Renewals: k.renewals, Failures: k.failures, LastError: k.lastErr,
	}
	if !s.Expiry.IsZero() {
		s.StopAt = k.hold.StopAt(k.margin)
	}
	return s
}

func (k *Keeper) sent(at time.Time) {
	k.mu.Lock()
	k.lastSent = at
	k.mu.Unlock()
}

// answered folds the answer to a request of generation gen, sent at
// sentAt, into the keeper's state; it reports whether it applied (no
// Acquire or Release since) and when to ask next at the earliest.
func (k *Keeper) answered(gen uint64, op Op, sentAt time.Time, a Answer, err error, now time.Time) (bool, time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if gen != k.gen {
		return false, time.Time{}
	}
	if err != nil {
		k.failures++
		k.lastErr = err.Error()
		return true, time.Time{}
	}
	k.hold = k.hold.Answered(sentAt, k.d, a, now)
	if a.Granted {
		k.renewals++
		k.lastGrant = now
		k.wanted, k.op, k.lastErr = true, OpRenew, ""
		return true, time.Time{}
	}
	k.failures++
	if a.Lease.Holder != "" && a.Lease.Holder != k.region {
		// Another region has it: this one no longer keeps it, and must
		// not take it back when that region's lease lapses.
		k.wanted = false
		k.lastErr = (&HeldError{Holder: a.Lease.Holder, Wait: a.RetryAfter}).Error()
		return true, time.Time{}
	}
	// Nobody holds it: the witness restarted, or the lease was released.
	// A region that keeps it asks for it again when allowed.
	k.op = OpAcquire
	k.lastErr = fmt.Sprintf("the witness no longer records a lease for %s (%s refused)", k.region, op)
	k.retryAt = now.Add(a.RetryAfter)
	return true, k.retryAt
}

// poke makes Run look at the state again.
func (k *Keeper) poke() {
	k.mu.Lock()
	k.loop.kicks++
	k.mu.Unlock()
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// flight is Run's request on the way.
type flight struct {
	gen      uint64
	op       Op
	sentAt   time.Time
	deadline time.Time
	cancel   context.CancelFunc
	givenUp  bool
}

type result struct {
	f   *flight
	a   Answer
	err error
}

// Run renews the lease while the keeper keeps it, every third of its
// duration, each request given until the next is due; it tells OnChange
// when the lease starts and stops being held, the latter Margin before
// expiry, whether or not any answer came. It returns when ctx is done,
// telling OnChange the lease is no longer held if it was: nothing renews
// it any more.
func (k *Keeper) Run(ctx context.Context) error {
	results := make(chan result, 1)
	var inflight *flight
	held := false
	defer func() {
		if inflight != nil {
			inflight.cancel()
			<-results
		}
		if held {
			k.log.Info("lease no longer renewed", "region", k.region)
			k.onChange(false)
		}
	}()
	for {
		now := k.clock.Now()
		k.mu.Lock()
		k.loop.seen = k.loop.kicks
		hold, wanted, op, gen := k.hold, k.wanted, k.op, k.gen
		next := k.lastSent.Add(k.every)
		if k.retryAt.After(next) {
			next = k.retryAt
		}
		k.mu.Unlock()

		if h := hold.Holds(now, k.margin); h != held {
			held = h
			k.logChange(h, hold)
			k.onChange(h)
		}
		if wanted && inflight == nil && !now.Before(next) {
			inflight = k.send(ctx, gen, op, now, results)
			next = now.Add(k.every)
		}

		var wake time.Time
		switch {
		case inflight != nil && !inflight.givenUp:
			wake = inflight.deadline
		case inflight == nil && wanted:
			wake = next
		}
		if stop := hold.StopAt(k.margin); held && (wake.IsZero() || stop.Before(wake)) {
			wake = stop
		}
		var timer Timer
		var fire <-chan time.Time
		if !wake.IsZero() {
			timer, fire = k.clock.NewTimer(wake.Sub(now))
		}
		k.mu.Lock()
		k.loop.waiting, k.loop.wake = true, wake
		k.mu.Unlock()

		var done bool
		select {
		case <-ctx.Done():
			done = true
		case <-fire:
		case <-k.kick:
		case r := <-results:
			inflight = nil
			k.answered(r.f.gen, r.f.op, r.f.sentAt, r.a, r.err, k.clock.Now())
			k.mu.Lock()
			k.loop.taken++
			k.mu.Unlock()
		}
		if timer != nil {
			timer.Stop()
		}
		k.mu.Lock()
		k.loop.waiting = false
		k.mu.Unlock()
		if done {
			return nil
		}
		// A request unanswered when the next is due is given up: its
		// answer would come too late to matter, and the next one is fresh.
		if inflight != nil && !inflight.givenUp && !k.clock.Now().Before(inflight.deadline) {
			inflight.cancel()
			inflight.givenUp = true
		}
	}
}

// send starts a request of Run's; its result arrives on results.
func (k *Keeper) send(ctx context.Context, gen uint64, op Op, now time.Time, results chan<- result) *flight {
	fctx, cancel := context.WithCancel(ctx)
	f := &flight{gen: gen, op: op, sentAt: now, deadline: now.Add(k.every), cancel: cancel}
	k.mu.Lock()
	k.lastSent = now
	k.loop.started++
	k.mu.Unlock()
	req := Request{Op: op, Region: k.region, Duration: k.d}
	go func() {
		a, err := k.ask(fctx, req)
		if err != nil && fctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("no answer within %s: %w", k.every, err)
		}
		cancel()
		results <- result{f, a, err}
	}()
	return f
}

func (k *Keeper) logChange(held bool, h Hold) {
	if held {
		k.log.Info("lease held", "region", k.region, "epoch", h.Epoch, "expiry", h.Expiry)
		return
	}
	k.mu.Lock()
	why := k.lastErr
	k.mu.Unlock()
	k.log.Warn("lease lost: writes must stop", "region", k.region, "epoch", h.Epoch, "expiry", h.Expiry, "margin", k.margin, "last_error", why)
}

// settled reports whether Run has caught up with now: it waits for
// something later, has looked at every kick, and each request it sent has
// been answered and looked at, but for the blocked ones still waiting for
// an answer.
func (k *Keeper) settled(now time.Time, blocked uint64) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	l := k.loop
	return l.waiting && l.seen == l.kicks && l.started-l.taken == blocked && (l.wake.IsZero() || l.wake.After(now))
}
