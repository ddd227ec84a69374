package alb

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
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
