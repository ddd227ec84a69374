package webapp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/hastack/hastack/internal/mariadb/mariadbtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(mariadbtest.Runner(m)) }

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testEnv(extra map[string]string) func(string) string {
	env := map[string]string{
		"HASTACK_LISTEN":      "127.0.0.1:0",
		"HASTACK_REGION":      "us-east-1",
		"HASTACK_AZ":          "us-east-1a",
		"HASTACK_INSTANCE_ID": "i-0a1b2c3d",
	}
	for k, v := range extra {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

// serve runs the app's handler on a test server closed with the test.
func serve(t *testing.T, env func(string) string) (*httptest.Server, *syncBuffer) {
	t.Helper()
	s, err := readSettings(env)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a, err := newApp(s, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.handler())
	t.Cleanup(func() {
		srv.Close()
		a.close()
	})
	return srv, logs
}

// do sends a request and returns the response with its body read.
func do(t *testing.T, srv *httptest.Server, method, path, body string) (*http.Response, string) {
	t.Helper()
	resp, b, err := request(srv, method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// request is do for goroutines other than the test's.
func request(srv *httptest.Server, method, path, body string) (*http.Response, string, error) {
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// engines are the URL schemes the application takes.
var engines = []string{"postgres", "mysql"}

// closedPortURL is a database URL of the engine's scheme nobody listens on.
func closedPortURL(t *testing.T, scheme string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if scheme == "mysql" {
		return "mysql://hastack:s3cretPassw0rd@" + addr + "/app"
	}
	return "postgres://hastack:s3cretPassw0rd@" + addr + "/app?sslmode=disable"
}

func TestHello(t *testing.T) {
	srv, _ := serve(t, testEnv(nil))
	resp, body := do(t, srv, "GET", "/", "")
	if resp.StatusCode != 200 || body != "hello from us-east-1 (us-east-1a) instance i-0a1b2c3d\n" {
		t.Fatalf("GET / = %d %q", resp.StatusCode, body)
	}
}

func TestHeadersOnEveryResponse(t *testing.T) {
	srv, _ := serve(t, testEnv(nil))
	for _, path := range []string{"/", "/health", "/cpu?ms=1", "/cpu?ms=x", "/no/such/page", "/kv/a"} {
		resp, _ := do(t, srv, "GET", path, "")
		for h, want := range map[string]string{
			"X-Hastack-Region":   "us-east-1",
			"X-Hastack-AZ":       "us-east-1a",
			"X-Hastack-Instance": "i-0a1b2c3d",
		} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("GET %s (%d): %s = %q, want %q", path, resp.StatusCode, h, got, want)
			}
		}
	}
}

func TestCPU(t *testing.T) {
	srv, _ := serve(t, testEnv(nil))
	tests := []struct {
		query   string
		status  int
		atLeast time.Duration
	}{
		{"", 200, 100 * time.Millisecond},
		{"?ms=0", 200, 0},
		{"?ms=30", 200, 30 * time.Millisecond},
		{"?ms=-1", 400, 0},
		{"?ms=10001", 400, 0},
		{"?ms=abc", 400, 0},
		{"?ms=1.5", 400, 0},
	}
	for _, tt := range tests {
		start := time.Now()
		resp, body := do(t, srv, "GET", "/cpu"+tt.query, "")
		took := time.Since(start)
		if resp.StatusCode != tt.status {
			t.Errorf("GET /cpu%s = %d %q, want %d", tt.query, resp.StatusCode, body, tt.status)
		}
		if took < tt.atLeast {
			t.Errorf("GET /cpu%s took %v, want at least %v", tt.query, took, tt.atLeast)
		}
		if tt.status == 200 && !strings.HasPrefix(body, "burned CPU for ") {
			t.Errorf("GET /cpu%s body %q", tt.query, body)
		}
	}
}

func TestHealthWithoutDatabase(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) { testHealthWithoutDatabase(t, closedPortURL(t, engine)) })
	}
}

func testHealthWithoutDatabase(t *testing.T, url string) {
	srv, logs := serve(t, testEnv(map[string]string{"DATABASE_URL": url}))
	start := time.Now()
	resp, body := do(t, srv, "GET", "/health", "")
	// Bounded by its 1s timeout; the bound catches a hang, not slowness.
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("/health took %v", took)
	}
	if resp.StatusCode != 503 || !strings.HasPrefix(body, "unhealthy: database unreachable") {
		t.Fatalf("GET /health = %d %q", resp.StatusCode, body)
	}
	if strings.Contains(body+logs.String(), "s3cretPassw0rd") {
		t.Error("the database password leaked into a response or the log")
	}
	if !strings.Contains(logs.String(), "health check failed") {
		t.Errorf("no log line for the failure: %s", logs)
	}
}

func TestKVWithoutDatabase(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) { testKVWithoutDatabase(t, closedPortURL(t, engine)) })
	}
}

func testKVWithoutDatabase(t *testing.T, url string) {
	srv, logs := serve(t, testEnv(map[string]string{"DATABASE_URL": url}))
	if resp, body := do(t, srv, "PUT", "/kv/a", "1"); resp.StatusCode != 503 {
		t.Errorf("PUT /kv/a = %d %q, want 503", resp.StatusCode, body)
	}
	if resp, body := do(t, srv, "GET", "/kv/a", ""); resp.StatusCode != 503 {
		t.Errorf("GET /kv/a = %d %q, want 503", resp.StatusCode, body)
	}
	if strings.Contains(logs.String(), "s3cretPassw0rd") {
		t.Error("the database password leaked into the log")
	}

	none, _ := serve(t, testEnv(nil))
	if resp, body := do(t, none, "PUT", "/kv/a", "1"); resp.StatusCode != 503 || !strings.Contains(body, "no database configured") {
		t.Errorf("PUT without DATABASE_URL = %d %q", resp.StatusCode, body)
	}
	if resp, body := do(t, none, "GET", "/health", ""); resp.StatusCode != 200 {
		t.Errorf("GET /health without DATABASE_URL = %d %q", resp.StatusCode, body)
	}
}

// TestKVRejectsBadInput: bad keys and values are refused before the
// database is asked (it is unreachable here, so reaching it means 503).
func TestKVRejectsBadInput(t *testing.T) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) { testKVRejectsBadInput(t, closedPortURL(t, engine)) })
	}
}

func testKVRejectsBadInput(t *testing.T, url string) {
	srv, _ := serve(t, testEnv(map[string]string{"DATABASE_URL": url}))
	long := strings.Repeat("k", maxKeyBytes)
	tests := []struct {
		name, method, key, body string
		want                    int
		wantBody                string
	}{
		{"value one byte too big", "PUT", "big", strings.Repeat("x", maxValueBytes+1), 413, "value larger than 65536 bytes"},
		{"value at the limit", "PUT", "big", strings.Repeat("x", maxValueBytes), 503, "database unavailable"},
		{"binary value", "PUT", "bin", "\xff\x00", 400, "value must be UTF-8"},
		{"key at the limit", "PUT", long, "v", 503, "database unavailable"},
		{"key one byte too long", "PUT", long + "k", "v", 400, "key longer than 1024 bytes"},
		{"key far too long", "PUT", strings.Repeat("k", 8000), "v", 400, "key longer than 1024 bytes"},
		{"read with a key one byte too long", "GET", long + "k", "", 400, "key longer than 1024 bytes"},
		{"read with a key at the limit", "GET", long, "", 503, "database unavailable"},
		{"binary key", "PUT", "%FF", "v", 400, "key must be UTF-8"},
	}
	for _, tt := range tests {
		resp, body := do(t, srv, tt.method, "/kv/"+tt.key, tt.body)
		if resp.StatusCode != tt.want || !strings.Contains(body, tt.wantBody) {
			t.Errorf("%s: %s = %d %q, want %d %q", tt.name, tt.method, resp.StatusCode, body, tt.want, tt.wantBody)
		}
	}
}

func TestBadDatabaseURL(t *testing.T) {
	for _, url := range []string{"postgres://u:pw@[bad", "mysql://u:Hunter2Secret@[bad", "mysql://u:Hunter2Secret@h:3306/db?tls=skip-verify"} {
		err := Run(t.Context(), testEnv(map[string]string{"DATABASE_URL": url}), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "parsing DATABASE_URL") {
			t.Errorf("Run with DATABASE_URL %q: error = %v", url, err)
		} else if strings.Contains(err.Error(), "Hunter2Secret") {
			t.Errorf("the error repeats the password: %v", err)
		}
	}
}

func TestRunRequiresListen(t *testing.T) {
	err := Run(t.Context(), func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "HASTACK_LISTEN is not set") {
		t.Fatalf("Run error = %v", err)
	}
}

// lineWriter hands each log line to a channel.
type lineWriter struct{ lines chan string }

func (w lineWriter) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		select {
		case w.lines <- sc.Text():
		default:
		}
	}
	return len(p), nil
}

func TestRunServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logs := lineWriter{lines: make(chan string, 16)}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, testEnv(nil), logs) }()

	var addr string
	select {
	case line := <-logs.lines:
		var entry struct{ Msg, Address string }
		if err := json.Unmarshal([]byte(line), &entry); err != nil || entry.Msg != "serving" {
			t.Fatalf("first log line %q", line)
		}
		addr = entry.Address
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
	// An over-long head is refused, not read into memory.
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("X-Padding", strings.Repeat("p", 2*maxHeaderBytes))
	if resp, err := client.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("GET with a %d-byte head = %d, want 431", 2*maxHeaderBytes, resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
}
