package lease

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/testenv"
)

func mustAcquire(t *testing.T, k *Keeper) {
	t.Helper()
	if err := k.Acquire(context.Background(), false); err != nil {
		t.Fatal(err)
	}
}

func countOps(reqs []Request, op Op) int {
	n := 0
	for _, r := range reqs {
		if r.Op == op {
			n++
		}
	}
	return n
}

func TestKeeperRenewsEveryThird(t *testing.T) {
	r := newRig(t)
	k, l, rec := r.keeper("us-east-1")
	if k.Holds(t0) {
		t.Fatal("a keeper holds the lease before acquiring it")
	}
	mustAcquire(t, k)
	r.runUntil(10 * time.Second)

	_, asked := l.state()
	if got := countOps(asked, OpRenew); got != 10 {
		t.Errorf("%d renewals in 10s of a 3s lease, want 10 (every second)", got)
	}
	if got, want := rec.changes(), []change{{true, 0}}; !slices.Equal(got, want) {
		t.Errorf("OnChange calls = %v, want %v", got, want)
	}
	st := k.Status()
	if !st.Held || !st.Keeping || st.Epoch != 1 || !st.Expiry.Equal(at(13*time.Second)) || !st.StopAt.Equal(at(12250*ms)) {
		t.Errorf("status = %+v, want held, kept, epoch 1, expiry t0+13s, stop at t0+12.25s", st)
	}
	if l := r.w.Lease(); l.Holder != "us-east-1" || !l.FreeAt.Equal(at(13330*ms)) || l.From != "us-east-1" {
		t.Errorf("witness lease = %+v, want held by us-east-1, free at t0+13.33s", l)
	}
}

// TestLostOnItsOwnAndTakenOver cuts the holder off the witness: it stops
// counting the lease held at its last granted send + D - margin without
// any answer, and the other region, waiting in Acquire, gets the lease at
// the witness's takeover bound, not before. Back on the network, the old
// holder's renewal is refused and it stays without the lease.
func TestLostOnItsOwnAndTakenOver(t *testing.T) {
	r := newRig(t)
	east, eastLink, eastRec := r.keeper("us-east-1")
	west, _, westRec := r.keeper("us-west-2")
	mustAcquire(t, east)
	r.runUntil(1500 * ms) // renewed at 1s: expiry 4s, free at 4.33s
	eastLink.setDown(true)

	acquired := make(chan error, 1)
	go func() { acquired <- west.Acquire(context.Background(), true) }()
	waitTimer(t, r.clock, at(4330*ms))

	r.runUntil(3250*ms - 1)
	if !east.Holds(r.clock.Now()) {
		t.Fatal("the holder gave the lease up early")
	}
	r.runUntil(3250 * ms)
	if east.Holds(r.clock.Now()) {
		t.Fatal("the holder still counts the lease held at expiry - margin")
	}
	if got, want := eastRec.changes(), []change{{true, 0}, {false, 3250 * ms}}; !slices.Equal(got, want) {
		t.Errorf("holder's OnChange calls = %v, want %v", got, want)
	}

	r.runUntil(4330*ms - 1)
	select {
	case err := <-acquired:
		t.Fatalf("the other region acquired before the takeover bound: %v", err)
	default:
	}
	r.runUntil(4330 * ms)
	if err := <-acquired; err != nil {
		t.Fatal(err)
	}
	r.settle()
	if l := r.w.Lease(); l.Holder != "us-west-2" || l.Epoch != 2 || !l.Renewed.Equal(at(4330*ms)) {
		t.Errorf("witness lease = %+v, want us-west-2, epoch 2, from t0+4.33s", l)
	}
	if got, want := westRec.changes(), []change{{true, 4330 * ms}}; !slices.Equal(got, want) {
		t.Errorf("new holder's OnChange calls = %v, want %v", got, want)
	}

	r.runUntil(6 * time.Second)
	eastLink.setDown(false)
	r.runUntil(10 * time.Second)
	st := east.Status()
	if st.Held || st.Keeping || !strings.Contains(st.LastError, "held by us-west-2") {
		t.Errorf("old holder's status = %+v, want not held, not kept, refused for us-west-2", st)
	}
	_, asked := eastLink.state()
	r.runUntil(20 * time.Second)
	if _, later := eastLink.state(); len(later) != len(asked) {
		t.Errorf("the old holder kept asking after the refusal: %v", later[len(asked):])
	}
	if l := r.w.Lease(); l.Holder != "us-west-2" {
		t.Errorf("the lease went back to %q", l.Holder)
	}
	if got := eastRec.changes(); len(got) != 2 {
		t.Errorf("the old holder held the lease again: %v", got)
	}
	if !west.Holds(r.clock.Now()) {
		t.Error("the new holder lost the lease")
	}
}

// waitTimer waits until someone waits for when on c.
func waitTimer(t *testing.T, c *fakeClock, when time.Time) {
	t.Helper()
	testenv.WaitFor(t, "a wait for t0+"+when.Sub(t0).String(), 5*time.Second, func() bool { return c.timerAt(when) })
}

// TestLateAnswerRevivesNothing: a renewal granted by the witness whose
// answer arrives after its sentAt + D leaves the lease lost.
func TestLateAnswerRevivesNothing(t *testing.T) {
	r := newRig(t)
	k, l, rec := r.keeper("us-east-1")
	mustAcquire(t, k)
	release := l.holdAnswers()
	r.runUntil(6 * time.Second) // the renewal sent at 1s is granted, its answer held
	if k.Holds(r.clock.Now()) {
		t.Fatal("held without an answer for 6s")
	}
	l.setDown(true) // the next renewal gets nothing
	l.mu.Lock()
	l.late = nil
	l.mu.Unlock()
	close(release)
	testenv.WaitFor(t, "the late answer to arrive", 5*time.Second, func() bool {
		k.mu.Lock()
		defer k.mu.Unlock()
		return k.loop.taken == 1
	})
	r.runUntil(6*time.Second + ms)
	st := k.Status()
	if st.Held || !st.Expiry.Equal(at(4*time.Second)) {
		t.Errorf("after the late answer: %+v, want not held, expiry t0+4s (sent at 1s + 3s)", st)
	}
	if got, want := rec.changes(), []change{{true, 0}, {false, 2250 * ms}}; !slices.Equal(got, want) {
		t.Errorf("OnChange calls = %v, want %v", got, want)
	}
	// Nobody took it: a renewal that gets through holds it again.
	l.setDown(false)
	r.runUntil(9 * time.Second)
	if !k.Holds(r.clock.Now()) {
		t.Errorf("not held again after renewals got through: %+v", k.Status())
	}
}

func TestAcquireWithoutWaiting(t *testing.T) {
	r := newRig(t)
	east, _, _ := r.keeper("us-east-1")
	west, westLink, _ := r.keeper("us-west-2")
	mustAcquire(t, east)
	r.runUntil(2 * time.Second)
	err := west.Acquire(context.Background(), false)
	var held *HeldError
	if !errors.As(err, &held) || !errors.Is(err, ErrHeld) || held.Holder != "us-east-1" || held.Wait != 3330*ms {
		t.Fatalf("Acquire = %v, want held by us-east-1 for 3.33s more", err)
	}
	if want := "acquiring the lease for us-west-2: the lease is held by us-east-1, and may be taken over in 3.33s"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	r.runUntil(10 * time.Second)
	if _, asked := westLink.state(); len(asked) != 1 {
		t.Errorf("the refused region asked %d times, want once", len(asked))
	}
	if west.Status().Keeping {
		t.Error("the refused region keeps renewing")
	}
}

func TestAcquireWaitGivesUp(t *testing.T) {
	r := newRig(t)
	east, _, _ := r.keeper("us-east-1")
	west, _, _ := r.keeper("us-west-2")
	mustAcquire(t, east)
	ctx, cancel := context.WithCancel(context.Background())
	acquired := make(chan error, 1)
	go func() { acquired <- west.Acquire(ctx, true) }()
	waitTimer(t, r.clock, at(3330*ms))
	cancel()
	err := <-acquired
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrHeld) {
		t.Errorf("Acquire = %v, want held and cancelled", err)
	}
}

func TestRelease(t *testing.T) {
	r := newRig(t)
	east, eastLink, eastRec := r.keeper("us-east-1")
	west, _, _ := r.keeper("us-west-2")
	mustAcquire(t, east)
	r.runUntil(1500 * ms)
	if err := east.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if east.Holds(r.clock.Now()) {
		t.Error("held after Release")
	}
	mustAcquire(t, west) // at once: no wait for the takeover bound
	r.runUntil(10 * time.Second)
	if got, want := eastRec.changes(), []change{{true, 0}, {false, 1500 * ms}}; !slices.Equal(got, want) {
		t.Errorf("OnChange calls = %v, want %v", got, want)
	}
	if _, asked := eastLink.state(); countOps(asked, OpRenew) != 1 {
		t.Errorf("requests after the release: %v", asked)
	}
	if l := r.w.Lease(); l.Holder != "us-west-2" || l.Epoch != 2 {
		t.Errorf("witness lease = %+v", l)
	}
}

// TestWitnessRestart: a witness that starts without Fresh grants nothing
// for a takeover bound; the holder loses the lease at the refusal and
// takes it again once allowed.
func TestWitnessRestart(t *testing.T) {
	r := newRig(t)
	k, l, rec := r.keeper("us-east-1")
	mustAcquire(t, k)
	r.runUntil(1500 * ms)
	w, err := NewWitness(WitnessConfig{Duration: 3 * time.Second, Clock: r.clock})
	if err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	l.w = w // restarted at t0+1.5s: quiet until t0+4.83s
	l.mu.Unlock()
	r.runUntil(10 * time.Second)
	if got, want := rec.changes(), []change{{true, 0}, {false, 2 * time.Second}, {true, 4830 * ms}}; !slices.Equal(got, want) {
		t.Errorf("OnChange calls = %v, want %v", got, want)
	}
	if got := w.Lease(); got.Holder != "us-east-1" || got.Epoch != 1 {
		t.Errorf("restarted witness's lease = %+v", got)
	}
}

func TestRunEndTellsOwner(t *testing.T) {
	clock := newFakeClock()
	w, err := NewWitness(WitnessConfig{Duration: 3 * time.Second, Clock: clock, Fresh: true})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{clock: clock}
	k, err := NewKeeper(KeeperConfig{Region: "a", Witness: "w", Duration: 3 * time.Second, Clock: clock, OnChange: rec.onChange})
	if err != nil {
		t.Fatal(err)
	}
	l := &link{w: w}
	k.ask = l.ask
	mustAcquire(t, k)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	testenv.WaitFor(t, "the lease held", 5*time.Second, func() bool { return len(rec.changes()) > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := rec.changes(), []change{{true, 0}, {false, 0}}; !slices.Equal(got, want) {
		t.Errorf("OnChange calls = %v, want %v", got, want)
	}
}

func TestConfigErrors(t *testing.T) {
	keeper := []struct {
		cfg  KeeperConfig
		want string
	}{
		{KeeperConfig{Witness: "w", Duration: time.Second}, `lease keeper: region "" must be 1 to 64 bytes`},
		{KeeperConfig{Region: "a", Duration: time.Second}, "lease keeper: no witness address"},
		{KeeperConfig{Region: "a", Witness: "w"}, "lease keeper for a: duration 0s must be longer than zero"},
		{KeeperConfig{Region: "a", Witness: "w", Duration: 3 * time.Second, Margin: 2 * time.Second},
			"lease keeper for a: margin 2s must be longer than zero and shorter than two thirds of the lease (3s)"},
		{KeeperConfig{Region: "a", Witness: "w", Duration: 3 * time.Second, Margin: -time.Second},
			"lease keeper for a: margin -1s must be longer than zero and shorter than two thirds of the lease (3s)"},
	}
	for _, tt := range keeper {
		if _, err := NewKeeper(tt.cfg); err == nil || err.Error() != tt.want {
			t.Errorf("NewKeeper(%+v) = %v, want %q", tt.cfg, err, tt.want)
		}
	}
	k, err := NewKeeper(KeeperConfig{Region: "a", Witness: "w", Duration: 3 * time.Second})
	if err != nil || k.Margin() != 750*ms {
		t.Errorf("default margin = %v (%v), want 750ms", k.Margin(), err)
	}
	witness := []WitnessConfig{{}, {Duration: time.Second, Drift: 1}, {Duration: time.Second, Drift: -0.1}, {Duration: time.Second, Margin: -1}}
	for _, cfg := range witness {
		if _, err := NewWitness(cfg); err == nil {
			t.Errorf("NewWitness(%+v) accepted", cfg)
		}
	}
	w, err := NewWitness(WitnessConfig{Duration: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if p := w.Policy(); p != (Policy{Duration: 3 * time.Second, Drift: 0.01, Margin: 300 * ms}) {
		t.Errorf("default policy = %+v", p)
	}
}
