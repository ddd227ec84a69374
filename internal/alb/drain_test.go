package alb

import (
	"context"
	"net/http"
	"testing"
	"time"
)

func closedWithin(ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestDeregisterDrainsInFlightRequests(t *testing.T) {
	l := fastLB()
	l.DeregistrationDelay = time.Minute
	rec := &recorder{}
	lb := newLB(t, l, rec)
	url := serve(t, lb)
	hb := newHangingBackend(t, false)
	lb.Register("slow", hb.addr())
	waitFor(t, "slow healthy", func() bool { return lb.TargetHealth("slow") == StateHealthy })
	c := client(t)
	res := slowGet(t, c, url+"/slow", hb)

	b1 := newBackend(t, "b1")
	lb.Register("b1", b1.addr())
	waitFor(t, "b1 healthy", func() bool { return lb.HealthyCount() == 2 })

	done := lb.Deregister("slow")
	if again := lb.Deregister("slow"); again != done {
		t.Error("deregistering a draining target again gave another channel")
	}
	if s := lb.TargetHealth("slow"); s != StateDraining {
		t.Fatalf("TargetHealth(slow) = %q, want draining", s)
	}
	if s := targetState(lb, "slow"); s.State != StateDraining || s.Reason != ReasonDeregistrationInProgress {
		t.Fatalf("Targets() shows slow as %+v, want draining with %s", s, ReasonDeregistrationInProgress)
	}
	if n := lb.HealthyCount(); n != 1 {
		t.Fatalf("HealthyCount = %d while slow drains, want 1", n)
	}
	for range 10 {
		if code, who := get(t, c, url+"/"); code != http.StatusOK || who != "b1" {
			t.Fatalf("new request while slow drains: %d from %q, want 200 from b1", code, who)
		}
	}
	if isClosed(done) {
		t.Fatal("deregistration finished while a request was in flight")
	}

	close(hb.release)
	if r := <-res; r.err != nil || r.code != http.StatusOK {
		t.Fatalf("in-flight request on the draining target: %d, %v; want 200", r.code, r.err)
	}
	if !closedWithin(done, 5*time.Second) {
		t.Fatal("deregistration did not finish after the last request")
	}
	if s := lb.TargetHealth("slow"); s != StateUnused {
		t.Fatalf("TargetHealth(slow) after draining = %q, want unused", s)
	}
	if ts := lb.Targets(); len(ts) != 1 || ts[0].ID != "b1" {
		t.Fatalf("Targets() after draining = %+v, want b1 only", ts)
	}
	waitEvent(t, rec, 0, "target slow", "draining")
	waitEvent(t, rec, 0, "target slow", "deregistered")
}

func TestDeregistrationDelayCutsRequests(t *testing.T) {
	l := fastLB()
	l.DeregistrationDelay = 200 * time.Millisecond
	rec := &recorder{}
	lb := newLB(t, l, rec)
	url := serve(t, lb)
	hb := newHangingBackend(t, false)
	lb.Register("stuck", hb.addr())
	waitFor(t, "stuck healthy", func() bool { return lb.HealthyCount() == 1 })
	res := slowGet(t, client(t), url+"/stuck", hb)

	start := time.Now()
	done := lb.Deregister("stuck")
	if !closedWithin(done, 5*time.Second) {
		t.Fatal("deregistration did not finish when the delay ran out")
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("deregistration finished after %v, before the 200ms delay", d)
	}
	if r := <-res; r.err == nil && r.code != http.StatusBadGateway {
		t.Fatalf("request still running at the end of the delay: %d, want it cut (502 or an error)", r.code)
	}
	if s := lb.TargetHealth("stuck"); s != StateUnused {
		t.Fatalf("TargetHealth after the delay = %q, want unused", s)
	}
	waitEvent(t, rec, 0, "target stuck", "deregistered", "cut")
}

func TestDeregisterIdleAndUnknownTargets(t *testing.T) {
	done := newLB(t, fastLB(), nil).Deregister("nope")
	if !isClosed(done) {
		t.Fatal("Deregister of an unknown ID: channel not closed")
	}

	l := fastLB()
	l.DeregistrationDelay = time.Hour
	lb := newLB(t, l, nil)
	if s := lb.TargetHealth("b1"); s != StateUnused {
		t.Fatalf("TargetHealth before registering = %q, want unused", s)
	}
	b := newBackend(t, "b1")
	b.setHealth(http.StatusInternalServerError)
	lb.Register("b1", b.addr())
	if s := lb.TargetHealth("b1"); s != StateInitial {
		t.Fatalf("TargetHealth after registering = %q, want initial", s)
	}
	serve(t, lb)
	waitFor(t, "b1 unhealthy", func() bool { return lb.TargetHealth("b1") == StateUnhealthy })
	b.setHealth(http.StatusOK)
	waitFor(t, "b1 healthy", func() bool { return lb.TargetHealth("b1") == StateHealthy })
	// No request in flight: done at once, whatever the delay.
	if !closedWithin(lb.Deregister("b1"), 5*time.Second) {
		t.Fatal("Deregister of an idle target did not finish promptly")
	}
	if s := lb.TargetHealth("b1"); s != StateUnused {
		t.Fatalf("TargetHealth after deregistering = %q, want unused", s)
	}
}

func TestRegisterAgainWhileDraining(t *testing.T) {
	l := fastLB()
	l.DeregistrationDelay = time.Minute
	lb := newLB(t, l, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, served := startServe(t, ctx, lb)
	hb := newHangingBackend(t, false)
	lb.Register("i-1", hb.addr())
	waitFor(t, "i-1 healthy", func() bool { return lb.HealthyCount() == 1 })
	res := slowGet(t, client(t), "http://"+addr+"/", hb)
	done := lb.Deregister("i-1")

	// The same ID comes back (an instance replaced at the same address):
	// a new target, while the old one keeps draining.
	lb.Register("i-1", hb.addr())
	waitFor(t, "new i-1 healthy", func() bool { return lb.TargetHealth("i-1") == StateHealthy })
	close(hb.release)
	if r := <-res; r.err != nil || r.code != http.StatusOK {
		t.Fatalf("request on the old target: %d %v", r.code, r.err)
	}
	if !closedWithin(done, 5*time.Second) {
		t.Fatal("old target did not finish draining")
	}
	if s := lb.TargetHealth("i-1"); s != StateHealthy {
		t.Fatalf("new i-1 is %q after the old one drained, want healthy", s)
	}
	cancel()
	if err := waitServe(t, served); err != nil {
		t.Fatal(err)
	}
}
