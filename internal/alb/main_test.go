package alb

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fastLB checks every 20ms, so health changes take tens of milliseconds.
func fastLB() spec.LoadBalancer {
	return spec.LoadBalancer{
		Port:                80,
		Algorithm:           AlgorithmRoundRobin,
		DeregistrationDelay: time.Second,
		HealthCheck: spec.TargetHealthCheck{
			Path:               "/health",
			Interval:           20 * time.Millisecond,
			Timeout:            time.Second,
			HealthyThreshold:   2,
			UnhealthyThreshold: 2,
			Matcher:            "200",
		},
	}
}

// newLB builds a load balancer that logs to the test's output.
func newLB(t testing.TB, l spec.LoadBalancer, rec *recorder) *LB {
	t.Helper()
	cfg := Config{
		Name:   "test-1",
		LB:     l,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if rec != nil {
		cfg.OnEvent = rec.record
	}
	lb, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return lb
}

// serve runs lb on a fresh loopback listener until the test ends and
// returns its base URL.
func serve(t testing.TB, lb *LB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lb.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after cancel")
		}
	})
	return "http://" + ln.Addr().String()
}

// backend is a target: it answers /health with a settable code, counting
// passes and failures, and names itself in X-Backend on other requests.
type backend struct {
	name string
	srv  *httptest.Server
	hits atomic.Int64

	mu         sync.Mutex
	healthCode int
	passes     int // health requests answered 200 since the last setHealth
	fails      int // health requests answered otherwise since then
	lastReq    *http.Request
}

func newBackend(t testing.TB, name string) *backend {
	t.Helper()
	b := &backend{name: name, healthCode: http.StatusOK}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			b.mu.Lock()
			code := b.healthCode
			if code == http.StatusOK {
				b.passes++
			} else {
				b.fails++
			}
			b.mu.Unlock()
			w.WriteHeader(code)
			return
		}
		b.hits.Add(1)
		b.mu.Lock()
		b.lastReq = r.Clone(context.Background())
		b.mu.Unlock()
		w.Header().Set("X-Backend", b.name)
		_, _ = w.Write([]byte("hello from " + b.name))
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) addr() string { return b.srv.Listener.Addr().String() }

// setHealth changes the /health answer and restarts the counts.
func (b *backend) setHealth(code int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.healthCode, b.passes, b.fails = code, 0, 0
}

func (b *backend) counts() (passes, fails int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.passes, b.fails
}

// recorder keeps events with a snapshot of the named backends' health
// counts, taken on the checker goroutine before the next check can run.
type recorder struct {
	backends []*backend
	mu       sync.Mutex
	events   []recorded
}

type recorded struct {
	kind, msg     string
	passes, fails map[string]int
}

func (r *recorder) record(kind, msg string) {
	e := recorded{kind: kind, msg: msg, passes: map[string]int{}, fails: map[string]int{}}
	for _, b := range r.backends {
		e.passes[b.name], e.fails[b.name] = b.counts()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// find returns the first event from index from on whose message contains
// all of parts.
func (r *recorder) find(from int, parts ...string) (recorded, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
next:
	for _, e := range r.events[from:] {
		for _, p := range parts {
			if !strings.Contains(e.msg, p) {
				continue next
			}
		}
		return e, true
	}
	return recorded{}, false
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, what, 5*time.Second, cond)
}

// waitEvent waits for an event from index from on containing all of parts
// and returns it.
func waitEvent(t *testing.T, rec *recorder, from int, parts ...string) recorded {
	t.Helper()
	var e recorded
	waitFor(t, "event "+strings.Join(parts, " "), func() bool {
		var ok bool
		e, ok = rec.find(from, parts...)
		return ok
	})
	return e
}

func targetState(lb *LB, id string) TargetStatus {
	for _, s := range lb.Targets() {
		if s.ID == id {
			return s
		}
	}
	return TargetStatus{}
}

// client talks to the load balancer over keep-alive connections.
func client(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// get sends one request and returns the status and the X-Backend header.
func get(t testing.TB, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp.StatusCode, resp.Header.Get("X-Backend")
}
