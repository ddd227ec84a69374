package alb

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/spec"
)

// hangingBackend holds requests until released or cancelled. Its /health
// hangs too when hangHealth is set, and answers 200 otherwise.
type hangingBackend struct {
	srv     *httptest.Server
	arrived chan struct{}
	release chan struct{}
}

func newHangingBackend(t *testing.T, hangHealth bool) *hangingBackend {
	t.Helper()
	hb := &hangingBackend{arrived: make(chan struct{}, 16), release: make(chan struct{})}
	hb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && !hangHealth {
			return
		}
		if r.URL.Path != "/health" {
			hb.arrived <- struct{}{}
		}
		select {
		case <-hb.release:
			_, _ = io.WriteString(w, "done")
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hb.srv.Close)
	return hb
}

func (hb *hangingBackend) addr() string { return hb.srv.Listener.Addr().String() }

type result struct {
	code int
	err  error
}

// startServe runs lb on a fresh listener; the returned channel yields
// Serve's result.
func startServe(t *testing.T, ctx context.Context, lb *LB) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- lb.Serve(ctx, ln) }()
	return ln.Addr().String(), done
}

func waitServe(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

// slowGet starts a request that the hanging backend holds, and returns once
// the backend has it.
func slowGet(t *testing.T, c *http.Client, url string, hb *hangingBackend) <-chan result {
	t.Helper()
	res := make(chan result, 1)
	go func() {
		resp, err := c.Get(url)
		if err != nil {
			res <- result{err: err}
			return
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		res <- result{code: resp.StatusCode, err: err}
	}()
	select {
	case <-hb.arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("request did not reach the backend")
	}
	return res
}

func TestServeDrainsInFlightRequests(t *testing.T) {
	hb := newHangingBackend(t, false)
	lb := newLB(t, fastLB(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := startServe(t, ctx, lb)
	lb.Register("slow", hb.addr())
	waitFor(t, "slow healthy", func() bool { return lb.HealthyCount() == 1 })

	res := slowGet(t, client(t), "http://"+addr+"/slow", hb)
	cancel()
	waitFor(t, "listener closed", func() bool {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	close(hb.release)
	if r := <-res; r.err != nil || r.code != http.StatusOK {
		t.Fatalf("in-flight request during shutdown: %d, %v; want 200", r.code, r.err)
	}
	if err := waitServe(t, done); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestServeCancelsRequestsAfterGrace(t *testing.T) {
	hb := newHangingBackend(t, false)
	lb := newLB(t, fastLB(), nil)
	lb.grace = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, done := startServe(t, ctx, lb)
	lb.Register("stuck", hb.addr())
	waitFor(t, "stuck healthy", func() bool { return lb.HealthyCount() == 1 })

	res := slowGet(t, client(t), "http://"+addr+"/stuck", hb)
	cancel()
	if err := waitServe(t, done); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	// The client sees its connection closed, or a 502 if that came first.
	if r := <-res; r.err == nil && r.code != http.StatusBadGateway {
		t.Fatalf("request cut by shutdown: %d, want an error or 502", r.code)
	}
}

func TestServeTwiceFails(t *testing.T) {
	lb := newLB(t, fastLB(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	_, done := startServe(t, ctx, lb)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first Serve running", lb.serving.Load)
	if err := lb.Serve(ctx, ln); err == nil {
		t.Fatal("second concurrent Serve succeeded")
	}
	if _, err := ln.Accept(); err == nil {
		t.Fatal("refused Serve left its listener open")
	}
	cancel()
	if err := waitServe(t, done); err != nil {
		t.Fatalf("first Serve: %v", err)
	}

	// Once it has returned, the load balancer can serve again.
	ctx, cancel = context.WithCancel(context.Background())
	_, done = startServe(t, ctx, lb)
	cancel()
	if err := waitServe(t, done); err != nil {
		t.Fatalf("second Serve: %v", err)
	}
}

func TestServeFailsWhenListenerDies(t *testing.T) {
	lb := newLB(t, fastLB(), nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- lb.Serve(context.Background(), ln) }()
	waitFor(t, "Serve running", lb.serving.Load)
	ln.Close()
	if err := waitServe(t, done); err == nil {
		t.Fatal("Serve returned nil after its listener was closed")
	}
}

// TestConnectionLimit holds MaxConnections client connections open and
// checks that the next one is not served until one of them closes, or the
// limit is raised.
func TestConnectionLimit(t *testing.T) {
	srv := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.URL.Path) })
	lb, url := lbWith(t, func(l *spec.LoadBalancer) { l.MaxConnections = 2 }, srv)
	get := func(c net.Conn, br *bufio.Reader, path string) {
		t.Helper()
		if resp, body := roundTrip(t, c, br, "GET "+path+" HTTP/1.1\r\nHost: h\r\n\r\n", "GET"); resp.StatusCode != 200 || body != path {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, body)
		}
	}
	c1, br1 := dialLB(t, url)
	get(c1, br1, "/1")
	c2, br2 := dialLB(t, url)
	get(c2, br2, "/2")

	// The third connection is made (the listen queue holds it) but not
	// accepted: its request is not answered while the others stay open.
	c3, br3 := dialLB(t, url)
	if _, err := io.WriteString(c3, "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c3.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := br3.Peek(1); err == nil {
		t.Fatal("a third connection was served with max_connections = 2")
	}
	c1.Close()
	_ = c3.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br3, nil)
	if err != nil {
		t.Fatalf("third connection, after one closed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("third connection, after one closed: %d", resp.StatusCode)
	}

	// Raising the limit lets the waiting connection in at once.
	c4, br4 := dialLB(t, url)
	if _, err := io.WriteString(c4, "GET /4 HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	s := fastLB()
	s.MaxConnections = 3
	if err := lb.SetConfig(s); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.ReadResponse(br4, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("fourth connection, after the limit was raised: %v", err)
	}
	get(c2, br2, "/2again")
}

// flakyListener fails its first accepts with a temporary error, as a
// process out of file descriptors sees, and records when each was made.
type flakyListener struct {
	net.Listener
	fails int
	mu    sync.Mutex
	calls []time.Time
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	l.calls = append(l.calls, time.Now())
	fail := len(l.calls) <= l.fails
	l.mu.Unlock()
	if fail {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func TestAcceptErrorsBackOff(t *testing.T) {
	srv := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {})
	lb := newLB(t, fastLB(), nil)
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &flakyListener{Listener: inner, fails: 4}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- lb.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := waitServe(t, done); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	lb.Register("t1", srv.Listener.Addr().String())
	waitFor(t, "t1 healthy", func() bool { return lb.HealthyCount() == 1 })

	if code, _ := get(t, client(t), "http://"+inner.Addr().String()+"/"); code != 200 {
		t.Fatalf("after failed accepts: status %d", code)
	}
	ln.mu.Lock()
	defer ln.mu.Unlock()
	// Waits of 5, 10, 20 and 40 ms between the attempts, as net/http's.
	for i, want := range []time.Duration{5, 10, 20, 40} {
		if got := ln.calls[i+1].Sub(ln.calls[i]); got < want*time.Millisecond {
			t.Errorf("accept %d came %v after a failed one, want at least %v", i+2, got, want*time.Millisecond)
		}
	}
}

func TestTemporary(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.EMFILE)}, true},
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.ENFILE)}, true},
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.ECONNABORTED)}, true},
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.ENOBUFS)}, true},
		{&net.OpError{Op: "accept", Err: timeoutErr{}}, true},
		{net.ErrClosed, false},
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.EINVAL)}, false},
		{&net.OpError{Op: "accept", Err: os.NewSyscallError("accept4", syscall.EBADF)}, false},
	} {
		if got := temporary(tt.err); got != tt.want {
			t.Errorf("temporary(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
