package lease

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/network"
	"github.com/hastack/hastack/internal/testenv"
)

// These tests talk over TCP on loopback, from addresses in 127.9.50.0/24
// only: the witness in .0/28, us-east-1 in .16/28, us-west-2 in .32/28.
var (
	witnessAddr = netip.MustParseAddr("127.9.50.1")
	eastAddr    = netip.MustParseAddr("127.9.50.17")
	westAddr    = netip.MustParseAddr("127.9.50.33")

	witnessDomain = network.Domain{Name: "witness", Include: []netip.Prefix{netip.MustParsePrefix("127.9.50.0/28")}}
	eastDomain    = network.Domain{Name: "us-east-1", Include: []netip.Prefix{netip.MustParsePrefix("127.9.50.16/28")}}
)

// serveWitness runs a fresh witness on witnessAddr until the test ends and
// returns it with its host:port.
func serveWitness(t *testing.T, d time.Duration) (*Witness, string) {
	t.Helper()
	w, err := NewWitness(WitnessConfig{Duration: d, Fresh: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", netip.AddrPortFrom(witnessAddr, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.Serve(ln) }()
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return w, ln.Addr().String()
}

// owner is what a keeper tells its owner, with the wall-clock instants.
type owner struct {
	mu   sync.Mutex
	lost []time.Time
	held []time.Time
}

func (o *owner) onChange(held bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if held {
		o.held = append(o.held, time.Now())
	} else {
		o.lost = append(o.lost, time.Now())
	}
}

func (o *owner) lostAt() []time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Time(nil), o.lost...)
}

// runKeeper runs a keeper for region from src until the test ends.
func runKeeper(t *testing.T, region string, src netip.Addr, witness string, d time.Duration) (*Keeper, *owner) {
	t.Helper()
	o := &owner{}
	k, err := NewKeeper(KeeperConfig{Region: region, Witness: witness, Source: src, Duration: d, OnChange: o.onChange})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return k, o
}

func TestOverTCP(t *testing.T) {
	const d = 900 * time.Millisecond
	w, addr := serveWitness(t, d)
	east, eastOwner := runKeeper(t, "us-east-1", eastAddr, addr, d)
	west, _ := runKeeper(t, "us-west-2", westAddr, addr, d)
	ctx := context.Background()

	if err := east.Acquire(ctx, false); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "three renewals", 5*time.Second, func() bool { return east.Status().Renewals >= 4 })
	l, err := west.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l.Holder != "us-east-1" || l.Epoch != 1 || l.From != eastAddr.String() || !l.FreeAt.After(l.Expires) {
		t.Errorf("the witness's lease = %+v, want held by us-east-1 from %s", l, eastAddr)
	}
	if got := w.Lease(); got.Holder != l.Holder {
		t.Errorf("Witness.Lease = %+v", got)
	}
	if st := east.Status(); !st.Held || !east.Holds(time.Now()) || st.Failures != 0 {
		t.Errorf("holder's status = %+v", st)
	}

	err = west.Acquire(ctx, false)
	var held *HeldError
	if !errors.As(err, &held) || held.Holder != "us-east-1" || held.Wait <= 0 || held.Wait > d+d/10+d/100 {
		t.Errorf("second Acquire = %v, want held by us-east-1 for at most the takeover bound", err)
	}

	if err := east.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := west.Acquire(ctx, false); err != nil {
		t.Fatalf("Acquire after the release: %v", err)
	}
	if l := w.Lease(); l.Holder != "us-west-2" || l.Epoch != 2 || l.From != westAddr.String() {
		t.Errorf("the witness's lease after the release = %+v", l)
	}
	testenv.WaitFor(t, "the old holder told", time.Second, func() bool { return len(eastOwner.lostAt()) == 1 })
}

func TestWitnessUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", netip.AddrPortFrom(witnessAddr, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	k, err := NewKeeper(KeeperConfig{Region: "us-east-1", Witness: addr, Source: eastAddr, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = k.Acquire(context.Background(), true)
	if want := fmt.Sprintf("acquiring the lease for us-east-1 from the witness at %s: ", addr); err == nil || len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Errorf("Acquire = %v, want an error starting %q", err, want)
	}
	if _, err := k.Lease(context.Background()); err == nil {
		t.Error("Lease from nowhere succeeded")
	}
}

var stackSeq int

// TestPartitionFromWitness cuts the holder's region off the witness with
// the packet filter: the holder declares the lease lost on its own at its
// last granted send + D - margin, and the other region gets it only after
// the witness's takeover bound.
func TestPartitionFromWitness(t *testing.T) {
	testenv.RequireNetAdmin(t)
	const d = 1200 * time.Millisecond // renewals every 400ms; lost 300ms before expiry; takeover 1.332s after the last renewal
	w, addr := serveWitness(t, d)
	east, eastOwner := runKeeper(t, "us-east-1", eastAddr, addr, d)
	west, westOwner := runKeeper(t, "us-west-2", westAddr, addr, d)
	ctx := context.Background()
	if err := east.Acquire(ctx, false); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "renewals", 5*time.Second, func() bool { return east.Status().Renewals >= 3 })

	stackSeq++
	e, err := network.New(network.Config{Stack: fmt.Sprintf("leasetest-%d-%d", os.Getpid(), stackSeq)})
	if err != nil {
		t.Fatal(err)
	}
	nctx, stop := context.WithCancel(ctx)
	enforced := make(chan error, 1)
	go func() { enforced <- e.Start(nctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-enforced; err != nil {
			t.Errorf("enforcer: %v", err)
		}
	})
	cut := time.Now()
	if err := e.Apply(network.State{Partitions: []network.Partition{{A: eastDomain, B: witnessDomain}}}); err != nil {
		t.Fatal(err)
	}

	acquired := make(chan time.Time, 1)
	go func() {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := west.Acquire(actx, true); err != nil {
			t.Errorf("Acquire while the holder is cut off: %v", err)
		}
		acquired <- time.Now()
	}()

	testenv.WaitFor(t, "the holder to give the lease up", 3*time.Second, func() bool { return len(eastOwner.lostAt()) == 1 })
	lost := eastOwner.lostAt()[0]
	st := east.Status()
	sentAt := st.Expiry.Add(-d)
	t.Logf("cut %s after the last granted renewal was sent; lost %s after it (stop at +%s, expiry +%s)",
		cut.Sub(sentAt).Round(time.Millisecond), lost.Sub(sentAt).Round(time.Millisecond), d-east.Margin(), d)
	if lost.Before(st.StopAt) {
		t.Errorf("the holder gave the lease up %s before sentAt + D - margin", st.StopAt.Sub(lost))
	}
	if !lost.Before(st.Expiry) {
		t.Errorf("the holder gave the lease up %s after its expiry", lost.Sub(st.Expiry))
	}
	if st.Held || east.Holds(time.Now()) {
		t.Errorf("still held after giving it up: %+v", st)
	}

	got := <-acquired
	l := w.Lease()
	bound := w.Policy().TakeoverAt(sentAt, d) // the witness received the last renewal after it was sent
	t.Logf("acquired by us-west-2 %s after the holder gave it up; the witness granted it %s after the holder's expiry",
		got.Sub(lost).Round(time.Millisecond), l.Renewed.Sub(st.Expiry).Round(time.Millisecond))
	if l.Holder != "us-west-2" || l.Epoch != 2 {
		t.Fatalf("the witness's lease = %+v, want us-west-2, epoch 2", l)
	}
	if l.Renewed.Before(bound) {
		t.Errorf("granted to us-west-2 %s before the takeover bound", bound.Sub(l.Renewed))
	}
	if !lost.Before(l.Renewed) {
		t.Errorf("two holders: us-west-2 got the lease %s before us-east-1 gave it up", lost.Sub(l.Renewed))
	}
	if len(westOwner.lostAt()) != 0 || !west.Holds(time.Now()) {
		t.Errorf("the new holder does not hold the lease: %+v", west.Status())
	}

	// Healed, the old holder's renewal is refused: it stays without.
	if err := e.Apply(network.State{}); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "the old holder to stop keeping the lease", 5*time.Second, func() bool { return !east.Status().Keeping })
	if st := east.Status(); st.Held || st.LastError == "" {
		t.Errorf("old holder after the heal: %+v", st)
	}
	if l := w.Lease(); l.Holder != "us-west-2" {
		t.Errorf("the lease went back to %q", l.Holder)
	}
}
