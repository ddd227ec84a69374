package alb

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/health"
	"github.com/hastack/hastack/internal/spec"
)

func TestUnhealthyAfterThresholdThenHealthyAgain(t *testing.T) {
	l := fastLB()
	l.HealthCheck.UnhealthyThreshold = 3
	l.HealthCheck.HealthyThreshold = 4
	b1, b2 := newBackend(t, "b1"), newBackend(t, "b2")
	rec := &recorder{backends: []*backend{b1, b2}}
	lb := newLB(t, l, rec)
	url := serve(t, lb)
	lb.Register("b1", b1.addr())
	lb.Register("b2", b2.addr())
	waitFor(t, "both healthy", func() bool { return lb.HealthyCount() == 2 })

	from := rec.len()
	b2.setHealth(http.StatusServiceUnavailable)
	e := waitEvent(t, rec, from, "target b2", "unhealthy")
	if e.fails["b2"] != 3 {
		t.Fatalf("b2 unhealthy after %d failed checks, want exactly 3", e.fails["b2"])
	}
	if e.kind != EventTarget {
		t.Fatalf("event kind %q, want %q", e.kind, EventTarget)
	}
	if s := targetState(lb, "b2"); s.State != StateUnhealthy || s.Reason != ReasonResponseCodeMismatch {
		t.Fatalf("b2 status %+v, want unhealthy with %s", s, ReasonResponseCodeMismatch)
	}
	if n := lb.HealthyCount(); n != 1 {
		t.Fatalf("HealthyCount %d, want 1", n)
	}

	c := client(t)
	before := b2.hits.Load()
	for range 20 {
		if _, who := get(t, c, url+"/"); who != "b1" {
			t.Fatalf("request went to %q while b2 is unhealthy", who)
		}
	}
	if got := b2.hits.Load(); got != before {
		t.Fatalf("unhealthy b2 got %d requests", got-before)
	}

	from = rec.len()
	b2.setHealth(http.StatusOK)
	e = waitEvent(t, rec, from, "target b2", ") healthy")
	if e.passes["b2"] != 4 {
		t.Fatalf("b2 healthy again after %d passed checks, want exactly 4", e.passes["b2"])
	}
	seen := map[string]int{}
	for range 10 {
		_, who := get(t, c, url+"/")
		seen[who]++
	}
	if seen["b2"] != 5 {
		t.Fatalf("spread after recovery %v, want 5 each", seen)
	}
}

func TestNewTargetHealthyAfterFirstPass(t *testing.T) {
	l := fastLB()
	l.HealthCheck.HealthyThreshold = 5
	b := newBackend(t, "b1")
	rec := &recorder{backends: []*backend{b}}
	lb := newLB(t, l, rec)
	serve(t, lb)
	lb.Register("b1", b.addr())
	e := waitEvent(t, rec, 0, "test-1 target b1 ("+b.addr()+") healthy")
	if e.passes["b1"] != 1 {
		t.Fatalf("new target healthy after %d checks, want 1", e.passes["b1"])
	}
	if _, ok := rec.find(0, "target b1", "registered"); !ok {
		t.Fatal("no registration event")
	}
}

func TestTargetsBeforeServe(t *testing.T) {
	lb := newLB(t, fastLB(), nil)
	lb.Register("i-b", "127.0.0.2:8080")
	lb.Register("i-a", "127.0.0.1:8080")
	lb.Register("i-a", "127.0.0.1:8080") // idempotent
	want := []TargetStatus{
		{ID: "i-a", Addr: "127.0.0.1:8080", State: StateInitial, Reason: ReasonRegistrationInProgress},
		{ID: "i-b", Addr: "127.0.0.2:8080", State: StateInitial, Reason: ReasonRegistrationInProgress},
	}
	got := lb.Targets()
	if len(got) != len(want) {
		t.Fatalf("Targets() = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Targets()[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	lb.Register("i-a", "127.0.0.3:8080") // a new address replaces the target
	if s := targetState(lb, "i-a"); s.Addr != "127.0.0.3:8080" {
		t.Fatalf("re-registered i-a at %s, want 127.0.0.3:8080", s.Addr)
	}
}

func TestHealthCheckTimeout(t *testing.T) {
	l := fastLB()
	l.HealthCheck.Timeout = 50 * time.Millisecond
	hang := newHangingBackend(t, true)
	lb := newLB(t, l, nil)
	serve(t, lb)
	lb.Register("slow", hang.addr())
	waitFor(t, "slow target unhealthy", func() bool { return targetState(lb, "slow").State == StateUnhealthy })
	if s := targetState(lb, "slow"); s.Reason != ReasonTimeout {
		t.Fatalf("slow target status %+v, want reason %s", s, ReasonTimeout)
	}
}

func TestSetConfig(t *testing.T) {
	b := newBackend(t, "b1")
	b.setHealth(http.StatusServiceUnavailable)
	lb := newLB(t, fastLB(), nil)
	serve(t, lb)
	lb.Register("b1", b.addr())
	waitFor(t, "b1 unhealthy", func() bool { return targetState(lb, "b1").State == StateUnhealthy })

	l := fastLB()
	l.HealthCheck.Matcher = "200,503"
	l.Algorithm = AlgorithmLeastOutstanding
	if err := lb.SetConfig(l); err != nil {
		t.Fatalf("SetConfig: %v", err)
	}
	waitFor(t, "b1 healthy under the new matcher", func() bool { return lb.HealthyCount() == 1 })

	bad := fastLB()
	bad.HealthCheck.Matcher = "2xx"
	if err := lb.SetConfig(bad); err == nil {
		t.Fatal("SetConfig accepted matcher 2xx")
	}
	bad = fastLB()
	bad.Algorithm = "random"
	if err := lb.SetConfig(bad); err == nil {
		t.Fatal("SetConfig accepted algorithm random")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, l := range []spec.LoadBalancer{
		{HealthCheck: spec.TargetHealthCheck{Matcher: "ok"}},
		{Algorithm: "weighted_random"},
	} {
		if _, err := New(Config{Name: "x", LB: l}); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", l)
		}
	}
	if _, err := New(Config{Name: "x"}); err != nil {
		t.Errorf("New with zero settings: %v", err)
	}
}

func TestFailure(t *testing.T) {
	const timeout = time.Second
	tests := []struct {
		name   string
		r      health.Result
		reason string
	}{
		{"code mismatch", health.Result{Status: 503}, ReasonResponseCodeMismatch},
		{"timeout by latency", health.Result{Err: errors.New("request timed out"), Latency: timeout}, ReasonTimeout},
		{"timeout error", health.Result{Err: timeoutErr{}}, ReasonTimeout},
		{"refused", health.Result{Err: errors.New("dial tcp: connection refused"), Latency: time.Millisecond}, ReasonFailedHealthChecks},
	}
	for _, tt := range tests {
		reason, desc := failure(tt.r, timeout)
		if reason != tt.reason || desc == "" {
			t.Errorf("%s: failure = %q, %q; want reason %q and a description", tt.name, reason, desc, tt.reason)
		}
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		addr string
		hc   spec.TargetHealthCheck
		want string
	}{
		{"127.1.11.10:8080", spec.TargetHealthCheck{Path: "/health"}, "http://127.1.11.10:8080/health"},
		{"127.1.11.10:8080", spec.TargetHealthCheck{Path: "health", Port: 9090}, "http://127.1.11.10:9090/health"},
		{"[::1]:8080", spec.TargetHealthCheck{Path: "/", Port: 9090}, "http://[::1]:9090/"},
	}
	for _, tt := range tests {
		if got := checkURL(tt.addr, tt.hc); got != tt.want {
			t.Errorf("checkURL(%q, %+v) = %q, want %q", tt.addr, tt.hc, got, tt.want)
		}
	}
}
