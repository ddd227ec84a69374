package lease

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/testenv"
)

// fakeClock is a Clock that moves only when told.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c    *fakeClock
	when time.Time
	ch   chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) (Timer, <-chan time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, when: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		return t, t.ch
	}
	c.timers = append(c.timers, t)
	return t, t.ch
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	i := slices.Index(t.c.timers, t)
	if i < 0 {
		return false
	}
	t.c.timers = slices.Delete(t.c.timers, i, i+1)
	return true
}

// next is the earliest pending timer, or false.
func (c *fakeClock) next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var first time.Time
	for _, t := range c.timers {
		if first.IsZero() || t.when.Before(first) {
			first = t.when
		}
	}
	return first, !first.IsZero()
}

// set moves the clock to now and fires the timers due.
func (c *fakeClock) set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
	c.timers = slices.DeleteFunc(c.timers, func(t *fakeTimer) bool {
		if t.when.After(now) {
			return false
		}
		t.ch <- now
		return true
	})
}

// timerAt reports whether a timer is pending for when.
func (c *fakeClock) timerAt(when time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.ContainsFunc(c.timers, func(t *fakeTimer) bool { return t.when.Equal(when) })
}

// link carries a keeper's requests to a witness in memory.
type link struct {
	w    *Witness
	from string

	mu      sync.Mutex
	down    bool          // requests get no answer until given up
	late    chan struct{} // set: the witness decides, the answer waits until closed
	blocked uint64        // requests waiting on down or late
	asked   []Request
}

func (l *link) ask(ctx context.Context, req Request) (Answer, error) {
	l.mu.Lock()
	down, late := l.down, l.late
	l.asked = append(l.asked, req)
	if down || late != nil {
		l.blocked++
	}
	l.mu.Unlock()
	unblock := func() {
		l.mu.Lock()
		l.blocked--
		l.mu.Unlock()
	}
	if down {
		<-ctx.Done()
		unblock()
		return Answer{}, ctx.Err()
	}
	l.mu.Lock()
	w := l.w
	l.mu.Unlock()
	a := w.decide(req, l.from)
	if late != nil {
		<-late // an answer on its way arrives, whether still awaited or not
		unblock()
	}
	return a, nil
}

func (l *link) lease(context.Context) (Lease, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Lease(), nil
}

func (l *link) setDown(down bool) {
	l.mu.Lock()
	l.down = down
	l.mu.Unlock()
}

func (l *link) holdAnswers() chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.late = make(chan struct{})
	return l.late
}

func (l *link) state() (blocked uint64, asked []Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.blocked, slices.Clone(l.asked)
}

// change is one call of OnChange.
type change struct {
	held bool
	at   time.Duration // since t0
}

type recorder struct {
	clock Clock
	mu    sync.Mutex
	got   []change
}

func (r *recorder) onChange(held bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, change{held, r.clock.Now().Sub(t0)})
}

func (r *recorder) changes() []change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// rig runs keepers against a witness on a fake clock.
type rig struct {
	t       *testing.T
	clock   *fakeClock
	w       *Witness
	keepers []*Keeper
	links   []*link
}

// newRig starts a fresh witness granting leases of 3s: takeover 3.33s
// after a grant.
func newRig(t *testing.T) *rig {
	r := &rig{t: t, clock: newFakeClock()}
	w, err := NewWitness(WitnessConfig{Duration: 3 * time.Second, Clock: r.clock, Fresh: true})
	if err != nil {
		t.Fatal(err)
	}
	r.w = w
	return r
}

// keeper runs a keeper for region until the test ends; it renews every
// second and stops counting the lease held 750ms before its expiry.
func (r *rig) keeper(region string) (*Keeper, *link, *recorder) {
	t := r.t
	rec := &recorder{clock: r.clock}
	k, err := NewKeeper(KeeperConfig{Region: region, Witness: "witness.test", Duration: 3 * time.Second, Clock: r.clock, OnChange: rec.onChange})
	if err != nil {
		t.Fatal(err)
	}
	l := &link{w: r.w, from: region}
	k.ask, k.get = l.ask, l.lease
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	r.keepers = append(r.keepers, k)
	r.links = append(r.links, l)
	r.settle()
	return k, l, rec
}

// settle waits until every keeper's Run has caught up with the clock.
func (r *rig) settle() {
	r.t.Helper()
	testenv.WaitFor(r.t, "the keepers to catch up", 5*time.Second, func() bool {
		now := r.clock.Now()
		for i, k := range r.keepers {
			blocked, _ := r.links[i].state()
			if !k.settled(now, blocked) {
				return false
			}
		}
		return true
	})
}

// runUntil moves the clock timer by timer to t0+d, letting the keepers
// act at each instant.
func (r *rig) runUntil(d time.Duration) {
	r.t.Helper()
	end := at(d)
	for {
		r.settle()
		next, ok := r.clock.next()
		if !ok || next.After(end) {
			r.clock.set(end)
			r.settle()
			return
		}
		r.clock.set(next)
	}
}
