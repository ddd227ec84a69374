package alb

import (
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// healthyLB serves a load balancer with the given backends registered under
// their names and waits until all are healthy.
func healthyLB(t *testing.T, bs ...*backend) (*LB, string) {
	t.Helper()
	lb := newLB(t, fastLB(), nil)
	url := serve(t, lb)
	for _, b := range bs {
		lb.Register(b.name, b.addr())
	}
	waitFor(t, "all targets healthy", func() bool { return lb.HealthyCount() == len(bs) })
	return lb, url
}

func TestRoundRobinSpreadsEvenly(t *testing.T) {
	b1, b2 := newBackend(t, "b1"), newBackend(t, "b2")
	_, url := healthyLB(t, b1, b2)
	c := client(t)
	seen := map[string]int{}
	for range 100 {
		code, who := get(t, c, url+"/")
		if code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		seen[who]++
	}
	if seen["b1"] != 50 || seen["b2"] != 50 {
		t.Fatalf("spread %v, want 50 each", seen)
	}
}

func TestNoTargets503(t *testing.T) {
	lb := newLB(t, fastLB(), nil)
	url := serve(t, lb)
	c := client(t)
	if code, _ := get(t, c, url+"/"); code != http.StatusServiceUnavailable {
		t.Fatalf("no targets: status %d, want 503", code)
	}

	// The same once the last target is gone.
	b := newBackend(t, "b1")
	lb.Register("b1", b.addr())
	waitFor(t, "b1 healthy", func() bool { return lb.HealthyCount() == 1 })
	if code, _ := get(t, c, url+"/"); code != http.StatusOK {
		t.Fatalf("one target: status %d, want 200", code)
	}
	lb.Deregister("b1")
	if code, _ := get(t, c, url+"/"); code != http.StatusServiceUnavailable {
		t.Fatalf("after deregistering: status %d, want 503", code)
	}
}

func TestClosedPort502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()

	lb := newLB(t, fastLB(), nil)
	url := serve(t, lb)
	lb.Register("dead", dead)
	c := client(t)
	// Not yet checked, the target gets nothing: no target is available.
	if code, _ := get(t, c, url+"/"); code != http.StatusServiceUnavailable && targetState(lb, "dead").State == StateInitial {
		t.Fatalf("closed port, initial: status %d, want 503", code)
	}
	waitFor(t, "dead target unhealthy", func() bool { return targetState(lb, "dead").State == StateUnhealthy })
	if s := targetState(lb, "dead"); s.Reason != ReasonFailedHealthChecks || s.Description == "" {
		t.Fatalf("dead target status %+v, want reason %s with a description", s, ReasonFailedHealthChecks)
	}
	// Failed its checks, the only target gets the request (fail open).
	if code, _ := get(t, c, url+"/"); code != http.StatusBadGateway {
		t.Fatalf("closed port, unhealthy: status %d, want 502", code)
	}
}

func TestFailOpenWhenAllUnhealthy(t *testing.T) {
	b1, b2 := newBackend(t, "b1"), newBackend(t, "b2")
	lb, url := healthyLB(t, b1, b2)
	b1.setHealth(http.StatusServiceUnavailable)
	b2.setHealth(http.StatusServiceUnavailable)
	waitFor(t, "both unhealthy", func() bool {
		return targetState(lb, "b1").State == StateUnhealthy && targetState(lb, "b2").State == StateUnhealthy
	})
	if n := lb.HealthyCount(); n != 0 {
		t.Fatalf("HealthyCount %d, want 0", n)
	}
	c := client(t)
	seen := map[string]int{}
	for range 20 {
		code, who := get(t, c, url+"/")
		if code != http.StatusOK {
			t.Fatalf("fail open: status %d, want 200", code)
		}
		seen[who]++
	}
	if seen["b1"] != 10 || seen["b2"] != 10 {
		t.Fatalf("fail open spread %v, want 10 each", seen)
	}
}

func TestDeregisterStopsTraffic(t *testing.T) {
	b1, b2 := newBackend(t, "b1"), newBackend(t, "b2")
	lb, url := healthyLB(t, b1, b2)
	c := client(t)
	get(t, c, url+"/")
	get(t, c, url+"/")
	if b2.hits.Load() == 0 {
		t.Fatal("b2 got no traffic before deregistration")
	}
	lb.Deregister("b2")
	before := b2.hits.Load()
	for range 20 {
		if _, who := get(t, c, url+"/"); who != "b1" {
			t.Fatalf("request went to %q after b2 was deregistered", who)
		}
	}
	if got := b2.hits.Load(); got != before {
		t.Fatalf("b2 hits went from %d to %d after deregistration", before, got)
	}
	if ts := lb.Targets(); len(ts) != 1 || ts[0].ID != "b1" {
		t.Fatalf("Targets() = %+v, want only b1", ts)
	}
	lb.Deregister("b2") // again: no effect
	lb.Deregister("nope")
}

var requestIDPattern = regexp.MustCompile(`^1-[0-9a-f]{8}-[0-9a-f]{24}$`)

func TestForwardedHeaders(t *testing.T) {
	b := newBackend(t, "b1")
	_, url := healthyLB(t, b)
	_, lbPort, _ := net.SplitHostPort(url[len("http://"):])
	c := client(t)

	req, _ := http.NewRequest(http.MethodGet, url+"/some/path?q=1", nil)
	req.Host = "app.example.com"
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	req.Header.Set("X-Forwarded-Proto", "https") // a client cannot spoof these two
	req.Header.Set("X-Forwarded-Port", "9999")
	req.Header.Set("X-Forwarded-Host", "www.example.com")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	b.mu.Lock()
	got := b.lastReq
	b.mu.Unlock()
	for _, tt := range []struct{ name, got, want string }{
		{"X-Forwarded-For", got.Header.Get("X-Forwarded-For"), "203.0.113.7, 127.0.0.1"},
		{"X-Forwarded-Proto", got.Header.Get("X-Forwarded-Proto"), "http"},
		{"X-Forwarded-Port", got.Header.Get("X-Forwarded-Port"), lbPort},
		{"Host", got.Host, "app.example.com"},
		{"X-Forwarded-Host", got.Header.Get("X-Forwarded-Host"), "www.example.com"},
		{"path", got.URL.RequestURI(), "/some/path?q=1"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if id := got.Header.Get("X-Request-Id"); !requestIDPattern.MatchString(id) {
		t.Errorf("X-Request-Id = %q, want the shape 1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx", id)
	}

	// Without a prior X-Forwarded-For, it is the client alone; a request ID
	// the client sent is kept.
	req, _ = http.NewRequest(http.MethodGet, url+"/", nil)
	req.Header.Set("X-Request-Id", "client-chosen")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	b.mu.Lock()
	got = b.lastReq
	b.mu.Unlock()
	if v := got.Header.Get("X-Forwarded-For"); v != "127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want 127.0.0.1", v)
	}
	if v := got.Header.Get("X-Request-Id"); v != "client-chosen" {
		t.Errorf("X-Request-Id = %q, want the client's", v)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestRequestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := string(appendRequestID(nil, 0x5759e988))
		if !requestIDPattern.MatchString(id) || !strings.HasPrefix(id, "1-5759e988-") || seen[id] {
			t.Fatalf("bad or repeated request ID %q", id)
		}
		seen[id] = true
	}
}

// TestFailOpenSkipsTargetsNeverChecked: a target whose first checks have
// not finished (initial) has not failed them, so it takes no part in fail
// open, as on an ALB. Alone it leaves no target available; beside an
// unhealthy one, the unhealthy one gets every request.
func TestFailOpenSkipsTargetsNeverChecked(t *testing.T) {
	// pending answers nothing to its health checks while the test runs.
	pending := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			<-r.Context().Done()
			return
		}
		w.Header().Set("X-Backend", "pending")
	}))
	t.Cleanup(pending.Close)
	failing := newBackend(t, "failing")
	failing.setHealth(http.StatusServiceUnavailable)

	l := fastLB()
	l.HealthCheck.Timeout = time.Minute // pending stays initial throughout
	lb := newLB(t, l, nil)
	url := serve(t, lb)
	c := client(t)
	lb.Register("pending", pending.Listener.Addr().String())
	if code, _ := get(t, c, url+"/"); code != http.StatusServiceUnavailable {
		t.Fatalf("only an initial target: status %d, want 503", code)
	}

	lb.Register("failing", failing.addr())
	waitFor(t, "failing unhealthy", func() bool { return lb.TargetHealth("failing") == StateUnhealthy })
	for range 10 {
		code, who := get(t, c, url+"/")
		if code != http.StatusOK || who != "failing" {
			t.Fatalf("initial and unhealthy targets: status %d from %q, want 200 from the unhealthy one", code, who)
		}
	}
	if s := lb.TargetHealth("pending"); s != StateInitial {
		t.Fatalf("pending is %s, want still initial", s)
	}
}
