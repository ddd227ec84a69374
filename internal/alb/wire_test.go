package alb

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/spec"
)

// scriptedBackend serves /health with 200 and hands every other request to
// its handler, which may hijack the connection to misbehave.
func scriptedBackend(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// hijack takes the connection over and writes raw to it, then closes it.
func hijack(w http.ResponseWriter, raw string) {
	c, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	_, _ = brw.WriteString(raw)
	_ = brw.Flush()
	_ = c.Close()
}

// lbWith serves a load balancer with settings l in front of srv, healthy.
func lbWith(t *testing.T, l func(*spec.LoadBalancer), srvs ...*httptest.Server) (*LB, string) {
	t.Helper()
	s := fastLB()
	if l != nil {
		l(&s)
	}
	lb := newLB(t, s, nil)
	url := serve(t, lb)
	for i, srv := range srvs {
		lb.Register(fmt.Sprintf("t%d", i+1), srv.Listener.Addr().String())
	}
	waitFor(t, "targets healthy", func() bool { return lb.HealthyCount() == len(srvs) })
	return lb, url
}

// dialLB opens a raw client connection to the load balancer.
func dialLB(t *testing.T, url string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// roundTrip writes raw on c and reads one response.
func roundTrip(t *testing.T, c net.Conn, br *bufio.Reader, raw, method string) (*http.Response, string) {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return resp, string(body)
}

func TestTargetFailsMidResponse(t *testing.T) {
	srv := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/partial-head":
			hijack(w, "HTTP/1.1 200 OK\r\nContent-Le")
		case "/nothing":
			hijack(w, "")
		case "/garbage":
			hijack(w, "SSH-2.0-OpenSSH_9.2\r\n\r\n")
		case "/partial-body":
			hijack(w, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
		}
	})
	_, url := lbWith(t, nil, srv)
	c := client(t)
	for _, path := range []string{"/partial-head", "/nothing", "/garbage"} {
		if code, _ := get(t, c, url+path); code != http.StatusBadGateway {
			t.Errorf("%s: status %d, want 502", path, code)
		}
	}
	// Once the response has begun, the client sees it cut short.
	resp, err := c.Get(url + "/partial-body")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err == nil || string(body) != "0123456789" {
		t.Fatalf("partial body: status %d, body %q, err %v; want 200, the 10 bytes, then an error", resp.StatusCode, body, err)
	}
	// The load balancer still serves.
	if code, _ := get(t, c, url+"/partial-head"); code != http.StatusBadGateway {
		t.Fatalf("after a cut response: status %d, want 502", code)
	}
}

func TestTargetTimeout504(t *testing.T) {
	hb := newHangingBackend(t, false)
	lb := newLB(t, func() spec.LoadBalancer { s := fastLB(); s.IdleTimeout = 150 * time.Millisecond; return s }(), nil)
	url := serve(t, lb)
	lb.Register("slow", hb.addr())
	waitFor(t, "slow healthy", func() bool { return lb.HealthyCount() == 1 })
	start := time.Now()
	code, _ := get(t, client(t), url+"/slow")
	if code != http.StatusGatewayTimeout {
		t.Fatalf("silent target: status %d, want 504", code)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 5*time.Second {
		t.Fatalf("504 after %v, want about the 150ms idle timeout", d)
	}
}

func TestKeepAliveBothSides(t *testing.T) {
	var mu sync.Mutex
	upstreamConns := map[string]bool{}
	srv := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		upstreamConns[r.RemoteAddr] = true
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	})
	_, url := lbWith(t, nil, srv)
	c, br := dialLB(t, url)
	for i := range 20 {
		resp, body := roundTrip(t, c, br, "GET /x HTTP/1.1\r\nHost: app\r\n\r\n", "GET")
		if resp.StatusCode != 200 || body != "ok" || resp.Close {
			t.Fatalf("request %d on one client connection: %d %q close=%v", i, resp.StatusCode, body, resp.Close)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(upstreamConns) != 1 {
		t.Fatalf("20 sequential requests used %d target connections, want 1", len(upstreamConns))
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	srv := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" || !strings.EqualFold(r.Header.Get("Connection"), "upgrade") {
			http.Error(w, "not an upgrade", http.StatusBadRequest)
			return
		}
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
		_ = brw.Flush()
		// Echo until the client closes.
		buf := make([]byte, 1024)
		for {
			n, err := brw.Read(buf)
			if n > 0 {
				_, _ = c.Write(buf[:n])
			}
			if err != nil {
				return
			}
		}
	})
	_, url := lbWith(t, nil, srv)
	c, br := dialLB(t, url)
	_, err := io.WriteString(c, "GET /chat HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "websocket" ||
		!strings.EqualFold(resp.Header.Get("Connection"), "upgrade") || resp.Header.Get("Sec-Websocket-Accept") == "" {
		t.Fatalf("handshake answer: %d %v", resp.StatusCode, resp.Header)
	}
	for _, msg := range []string{"ping", "a longer message"} {
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
			t.Fatalf("echo of %q: %q, %v", msg, got, err)
		}
	}
	// Closing our side ends the tunnel: the target's echo loop sees EOF
	// and closes, and so do we.
	_ = c.(*net.TCPConn).CloseWrite()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("after closing: %v, want EOF", err)
	}
}

func TestChunkedBodiesAndTrailers(t *testing.T) {
	srv := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil || len(r.TransferEncoding) == 0 || r.Trailer.Get("X-Sum") != "42" {
			http.Error(w, fmt.Sprintf("body %v, te %v, trailer %v", err, r.TransferEncoding, r.Trailer), 500)
			return
		}
		w.Header().Set("Trailer", "X-Answer")
		for _, part := range bytes.SplitAfter(body, []byte(" ")) {
			_, _ = w.Write(part)
			w.(http.Flusher).Flush()
		}
		w.Header().Set("X-Answer", "yes")
	})
	_, url := lbWith(t, nil, srv)
	pr, pw := io.Pipe()
	go func() {
		for _, w := range []string{"streamed ", "request ", "body"} {
			_, _ = io.WriteString(pw, w)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, url+"/echo", pr)
	req.Trailer = http.Header{"X-Sum": {"42"}}
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || string(body) != "streamed request body" {
		t.Fatalf("chunked echo: %d %q %v", resp.StatusCode, body, err)
	}
	if len(resp.TransferEncoding) == 0 || resp.Trailer.Get("X-Answer") != "yes" {
		t.Fatalf("response framing %v, trailer %v; want chunked with X-Answer", resp.TransferEncoding, resp.Trailer)
	}
}

func TestStreamingResponseIsNotHeldBack(t *testing.T) {
	release := make(chan struct{})
	srv := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first;")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "second")
	})
	_, url := lbWith(t, nil, srv)
	resp, err := client(t).Get(url + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, len("first;"))
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first;" {
		t.Fatalf("first part: %q %v", first, err)
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "second" {
		t.Fatalf("rest: %q %v", rest, err)
	}
}

func TestLargeBodies(t *testing.T) {
	payload := make([]byte, 3<<20+17)
	_, _ = rand.Read(payload)
	srv := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			_, _ = w.Write(payload)
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = w.Write(body)
	})
	_, url := lbWith(t, nil, srv)
	c := client(t)
	resp, err := c.Post(url+"/echo", "application/octet-stream", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("3 MB upload echoed: %d bytes, %v", len(got), err)
	}
	resp, err = c.Get(url + "/download")
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("3 MB download: %d bytes, %v", len(got), err)
	}
}

func TestExpectContinue(t *testing.T) {
	srv := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = w.Write(body)
	})
	_, url := lbWith(t, nil, srv)
	tr := &http.Transport{ExpectContinueTimeout: 20 * time.Second}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPut, url+"/upload", strings.NewReader("payload"))
	req.Header.Set("Expect", "100-continue")
	start := time.Now()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "payload" {
		t.Fatalf("upload with Expect: %d %q", resp.StatusCode, body)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v: the client waited out its 100-continue timeout", d)
	}
}

func TestHTTP10AndHEAD(t *testing.T) {
	var mu sync.Mutex
	var hosts []string
	srv := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts = append(hosts, r.Host)
		mu.Unlock()
		if r.URL.Path == "/chunked" {
			_, _ = io.WriteString(w, "part one, ")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "part two")
			return
		}
		w.Header().Set("Content-Length", "5")
		_, _ = io.WriteString(w, "hello")
	})
	_, url := lbWith(t, nil, srv)
	lbAddr := strings.TrimPrefix(url, "http://")

	// HTTP/1.0 without Host: answered, then closed.
	c, br := dialLB(t, url)
	resp, body := roundTrip(t, c, br, "GET /old HTTP/1.0\r\n\r\n", "GET")
	if resp.StatusCode != 200 || body != "hello" || !resp.Close {
		t.Fatalf("HTTP/1.0: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("HTTP/1.0 connection not closed: %v", err)
	}
	mu.Lock()
	if hosts[len(hosts)-1] != lbAddr {
		t.Errorf("Host sent for an HTTP/1.0 request without one: %q, want %q", hosts[len(hosts)-1], lbAddr)
	}
	mu.Unlock()

	// HTTP/1.0 with keep-alive, and a chunked answer decoded for it.
	c, br = dialLB(t, url)
	resp, body = roundTrip(t, c, br, "GET /ka HTTP/1.0\r\nHost: app\r\nConnection: keep-alive\r\n\r\n", "GET")
	if resp.StatusCode != 200 || body != "hello" || resp.Close {
		t.Fatalf("HTTP/1.0 keep-alive: %d %q close=%v", resp.StatusCode, body, resp.Close)
	}
	resp, body = roundTrip(t, c, br, "GET /chunked HTTP/1.0\r\nHost: app\r\nConnection: keep-alive\r\n\r\n", "GET")
	if resp.StatusCode != 200 || body != "part one, part two" || len(resp.TransferEncoding) != 0 {
		t.Fatalf("HTTP/1.0 chunked: %d %q %v", resp.StatusCode, body, resp.TransferEncoding)
	}

	// HEAD: the length, no body, and the connection carries on.
	c, br = dialLB(t, url)
	resp, body = roundTrip(t, c, br, "HEAD /h HTTP/1.1\r\nHost: app\r\n\r\n", "HEAD")
	if resp.StatusCode != 200 || body != "" || resp.ContentLength != 5 {
		t.Fatalf("HEAD: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
	}
	resp, body = roundTrip(t, c, br, "GET /h HTTP/1.1\r\nHost: app\r\n\r\n", "GET")
	if resp.StatusCode != 200 || body != "hello" {
		t.Fatalf("GET after HEAD: %d %q", resp.StatusCode, body)
	}
}

func TestResponseUntilClose(t *testing.T) {
	srv := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {
		hijack(w, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until close")
	})
	_, url := lbWith(t, nil, srv)
	c, br := dialLB(t, url)
	for range 2 {
		resp, body := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: app\r\n\r\n", "GET")
		if resp.StatusCode != 200 || body != "body until close" || resp.Close {
			t.Fatalf("close-delimited body: %d %q close=%v; want it chunked on a kept connection", resp.StatusCode, body, resp.Close)
		}
	}
}

func TestHopByHopHeaders(t *testing.T) {
	var mu sync.Mutex
	var got http.Header
	srv := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Header.Clone()
		mu.Unlock()
		w.Header().Set("Connection", "X-Private")
		w.Header().Set("X-Private", "target only")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Public", "yes")
	})
	_, url := lbWith(t, nil, srv)
	c, br := dialLB(t, url)
	resp, _ := roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: app\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\n"+
		"Keep-Alive: 300\r\nProxy-Connection: keep-alive\r\nX-Kept: 2\r\n\r\n", "GET")
	mu.Lock()
	defer mu.Unlock()
	for _, h := range []string{"X-Secret", "Keep-Alive", "Proxy-Connection", "Connection"} {
		if v, ok := got[h]; ok {
			t.Errorf("target got hop-by-hop %s: %q", h, v)
		}
	}
	if got.Get("X-Kept") != "2" {
		t.Errorf("target lost X-Kept")
	}
	for _, h := range []string{"X-Private", "Keep-Alive", "Connection"} {
		if v, ok := resp.Header[h]; ok {
			t.Errorf("client got hop-by-hop %s: %q", h, v)
		}
	}
	if resp.Header.Get("X-Public") != "yes" {
		t.Errorf("client lost X-Public")
	}
}

func TestMalformedRequestsAnswered(t *testing.T) {
	srv := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {})
	_, url := lbWith(t, nil, srv)
	tests := []struct {
		raw  string
		code int
	}{
		{"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc", 400},
		{"GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\n\r\n", 400},
		{"GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505},
		{"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
		{"GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", 431},
		{"GET / HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X-Forwarded-For: 203.0.113.7\r\n", 3000) + "\r\n", 431},
		{"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
	}
	for _, tt := range tests {
		c, br := dialLB(t, url)
		resp, _ := roundTrip(t, c, br, tt.raw, "GET")
		if resp.StatusCode != tt.code || !resp.Close {
			t.Errorf("%.40q: %d close=%v, want %d and close", tt.raw, resp.StatusCode, resp.Close, tt.code)
		}
	}
}

func TestStaleKeepAliveConnectionIsNotAnError(t *testing.T) {
	srv := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = fmt.Fprintf(w, "%s %s", r.Method, body)
	})
	_, url := lbWith(t, nil, srv) // retries off
	c := client(t)
	for _, method := range []string{"GET", "POST", "GET", "POST"} {
		// The target drops its idle keep-alive connections, as one with a
		// short idle timeout does.
		srv.CloseClientConnections()
		req, _ := http.NewRequest(method, url+"/", strings.NewReader("x"))
		if method == "GET" {
			req.Body, req.ContentLength = nil, 0
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(string(body), method) {
			t.Fatalf("%s after the target closed idle connections: %d %q", method, resp.StatusCode, body)
		}
	}
}

func TestInterimResponsesPassThrough(t *testing.T) {
	srv := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		_, _ = io.WriteString(w, "page")
	})
	_, url := lbWith(t, nil, srv)
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		hints = append(hints, fmt.Sprintf("%d %s", code, h.Get("Link")))
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, url+"/", nil)
	resp, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "page" || len(hints) != 1 || hints[0] != "103 </style.css>; rel=preload" {
		t.Fatalf("status %d body %q interim %q", resp.StatusCode, body, hints)
	}
}

func TestIdleClientConnectionCloses(t *testing.T) {
	srv := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {})
	_, url := lbWith(t, func(l *spec.LoadBalancer) { l.IdleTimeout = 150 * time.Millisecond }, srv)
	c, br := dialLB(t, url)
	roundTrip(t, c, br, "GET / HTTP/1.1\r\nHost: app\r\n\r\n", "GET")
	start := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("idle connection closed after %v, before the 150ms idle timeout", d)
	}
}

// TestRefusalClosesCleanly checks that a connection closed after an
// answer while the client was still sending ends with the answer and a
// FIN, not a reset that could destroy the answer before the client reads
// it.
func TestRefusalClosesCleanly(t *testing.T) {
	srv := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {})
	_, url := lbWith(t, nil, srv)
	for _, tt := range []struct {
		name string
		raw  string
		code int
	}{
		{"head too large", "GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("a", 100<<10) + "\r\n\r\n", 431},
		{"malformed field, more to come", "GET / HTTP/1.1\r\nHost: h\r\nBad Field: 1\r\n" + strings.Repeat("X-A: 1\r\n", 2000) + "\r\n", 400},
		{"malformed chunked body", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" + strings.Repeat("x", 100<<10), 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, br := dialLB(t, url)
			resp, _ := roundTrip(t, c, br, tt.raw, "GET")
			if resp.StatusCode != tt.code || !resp.Close {
				t.Fatalf("status %d close=%v, want %d and close", resp.StatusCode, resp.Close, tt.code)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("after the answer: %v, want EOF", err)
			}
		})
	}
}
