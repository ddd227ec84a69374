package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseMatcher(t *testing.T) {
	tests := []struct {
		expr    string
		pass    []int
		fail    []int
		wantErr bool
	}{
		{expr: "200", pass: []int{200}, fail: []int{201, 503}},
		{expr: "200,202", pass: []int{200, 202}, fail: []int{201}},
		{expr: "200-299", pass: []int{200, 250, 299}, fail: []int{199, 300}},
		{expr: "200-299, 302", pass: []int{204, 302}, fail: []int{301}},
		{expr: "", wantErr: true},
		{expr: "abc", wantErr: true},
		{expr: "299-200", wantErr: true},
		{expr: "600", wantErr: true},
		{expr: "200-", wantErr: true},
	}
	for _, tt := range tests {
		m, err := ParseMatcher(tt.expr)
		if (err != nil) != tt.wantErr {
			t.Fatalf("ParseMatcher(%q) error = %v, want error %v", tt.expr, err, tt.wantErr)
		}
		for _, c := range tt.pass {
			if !m.Match(c) {
				t.Errorf("%q should pass %d", tt.expr, c)
			}
		}
		for _, c := range tt.fail {
			if m.Match(c) {
				t.Errorf("%q should fail %d", tt.expr, c)
			}
		}
	}
}

func TestCounter(t *testing.T) {
	tests := []struct {
		name    string
		th      Thresholds
		start   State
		results string // p = pass, f = fail
		want    []State
	}{
		{"new target healthy on first pass", Thresholds{5, 2}, Initial, "p", []State{Healthy}},
		{"new target unhealthy after threshold", Thresholds{2, 2}, Initial, "ff", []State{Initial, Unhealthy}},
		{"unhealthy exactly at threshold", Thresholds{2, 3}, Healthy, "fffp", []State{Healthy, Healthy, Unhealthy, Unhealthy}},
		{"failures must be consecutive", Thresholds{2, 2}, Healthy, "fpfpf", []State{Healthy, Healthy, Healthy, Healthy, Healthy}},
		{"healthy again exactly at threshold", Thresholds{3, 2}, Unhealthy, "ppp", []State{Unhealthy, Unhealthy, Healthy}},
		{"passes must be consecutive", Thresholds{2, 2}, Unhealthy, "pfpfp", []State{Unhealthy, Unhealthy, Unhealthy, Unhealthy, Unhealthy}},
		{"route53 style symmetric", Thresholds{3, 3}, Healthy, "fffppp", []State{Healthy, Healthy, Unhealthy, Unhealthy, Unhealthy, Healthy}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCounter(tt.th, tt.start)
			for i, r := range tt.results {
				prev := c.State()
				got, changed := c.Observe(r == 'p')
				if got != tt.want[i] {
					t.Fatalf("after result %d (%c): state %v, want %v", i, r, got, tt.want[i])
				}
				if changed != (prev != got) {
					t.Fatalf("after result %d: changed=%v but %v -> %v", i, changed, prev, got)
				}
			}
		})
	}
}

func TestHTTPProbe(t *testing.T) {
	var code atomic.Int32
	code.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(code.Load()))
	}))
	defer srv.Close()

	p := NewHTTPProbe(srv.URL+"/health", time.Second, time.Second, MustMatcher("200-299"))
	if r := p.Check(context.Background()); !r.Passed || r.Status != 200 {
		t.Fatalf("check of healthy server = %+v", r)
	}
	code.Store(503)
	if r := p.Check(context.Background()); r.Passed || r.Status != 503 || r.Reason() == "" {
		t.Fatalf("check of 503 server = %+v", r)
	}

	// A closed port fails with a reason and no status.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := NewHTTPProbe("http://"+addr+"/health", time.Second, time.Second, MustMatcher("200")).Check(context.Background())
	if r.Passed || r.Status != 0 || r.Err == nil {
		t.Fatalf("check of closed port = %+v", r)
	}
}

func TestHTTPProbeFrom(t *testing.T) {
	remote := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		remote <- r.RemoteAddr
	}))
	defer srv.Close()
	for _, from := range []string{"127.0.53.7", "127.9.0.1"} {
		p := NewHTTPProbe(srv.URL, time.Second, time.Second, MustMatcher("200"), From(netip.MustParseAddr(from)))
		if r := p.Check(context.Background()); !r.Passed {
			t.Fatalf("check from %s = %+v", from, r)
		}
		got, err := netip.ParseAddrPort(<-remote)
		if err != nil {
			t.Fatal(err)
		}
		if got.Addr().String() != from {
			t.Errorf("probe with From(%s) connected from %s", from, got.Addr())
		}
	}
}

func TestProbeTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	r := NewHTTPProbe(srv.URL, 100*time.Millisecond, 100*time.Millisecond, MustMatcher("200")).Check(context.Background())
	if r.Passed || r.Reason() != "request timed out" {
		t.Fatalf("slow server: %+v (reason %q)", r, r.Reason())
	}
}

type scripted struct {
	mu      sync.Mutex
	results []bool
}

func (s *scripted) Check(context.Context) Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	ok := len(s.results) > 0 && s.results[0]
	if len(s.results) > 0 {
		s.results = s.results[1:]
	}
	return Result{At: time.Now(), Passed: ok}
}

func TestCheckerReportsTransitions(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan State, 10)
	c := &Checker{
		Probe:    &scripted{results: []bool{true, true, false, false, true, true}},
		Interval: time.Millisecond,
		Counter:  NewCounter(Thresholds{Healthy: 2, Unhealthy: 2}, Initial),
		Report: func(_ Result, s State, changed bool) {
			if changed {
				changes <- s
			}
		},
	}
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	for _, want := range []State{Healthy, Unhealthy, Healthy} {
		select {
		case got := <-changes:
			if got != want {
				t.Fatalf("transition to %v, want %v", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no transition to %v", want)
		}
	}
	cancel()
	<-done
}
