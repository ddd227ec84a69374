package alb

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// TestTargetConnectionsLeaveFromSourceAddr checks that health checks,
// proxied requests and WebSocket tunnels all reach the target from
// Config.SourceAddr, the load balancer's own address.
func TestTargetConnectionsLeaveFromSourceAddr(t *testing.T) {
	source := netip.MustParseAddr("127.0.9.10")
	var mu sync.Mutex
	seen := map[string][]string{} // kind of request → remote IPs
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := "proxied"
		switch {
		case r.URL.Path == "/health":
			kind = "health"
		case r.Header.Get("Upgrade") == "websocket":
			kind = "tunnel"
		}
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		seen[kind] = append(seen[kind], host)
		mu.Unlock()
		if kind != "tunnel" {
			return
		}
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		_, _ = io.Copy(io.Discard, brw) // until the client closes
	}))
	t.Cleanup(srv.Close)

	lb, err := New(Config{
		Name:       "test-1",
		LB:         fastLB(),
		Logger:     slog.New(slog.NewTextHandler(t.Output(), nil)),
		SourceAddr: source,
	})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, lb)
	lb.Register("t1", srv.Listener.Addr().String())
	waitFor(t, "t1 healthy", func() bool { return lb.HealthyCount() == 1 })

	if code, _ := get(t, client(t), url+"/"); code != http.StatusOK {
		t.Fatalf("proxied request: status %d, want 200", code)
	}
	c, br := dialLB(t, url)
	if _, err := io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v, %v; want 101", resp, err)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, kind := range []string{"health", "proxied", "tunnel"} {
		ips := seen[kind]
		if len(ips) == 0 {
			t.Errorf("the target saw no %s request", kind)
		}
		for _, ip := range ips {
			if ip != source.String() {
				t.Errorf("%s request from %s, want %s (the load balancer's address); all: %s", kind, ip, source, strings.Join(ips, " "))
				break
			}
		}
	}
}

// TestZeroSourceAddrLeavesTheChoiceToTheKernel checks the default dialer
// binds nothing.
func TestZeroSourceAddrLeavesTheChoiceToTheKernel(t *testing.T) {
	if d := newDialer(netip.Addr{}); d.LocalAddr != nil || d.Control != nil {
		t.Fatalf("dialer for the zero address binds %v", d.LocalAddr)
	}
}
