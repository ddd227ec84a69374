package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeStack is a Source whose status the test sets, and an Actor that
// records actions.
type fakeStack struct {
	mu      sync.Mutex
	status  string
	events  []Event
	actions []Action
	fail    error
}

func (f *fakeStack) Snapshot() Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := Snapshot{Status: json.RawMessage(f.status), Events: f.events}
	f.events = nil
	return s
}

func (f *fakeStack) Act(_ context.Context, a Action) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, a)
	return f.fail
}

func (f *fakeStack) set(status string, events ...Event) {
	f.mu.Lock()
	f.status = status
	f.events = append(f.events, events...)
	f.mu.Unlock()
}

func newTestServer(t *testing.T, readOnly bool) (*Server, *fakeStack, *httptest.Server) {
	t.Helper()
	fs := &fakeStack{status: `{"name":"t"}`}
	s, err := New(Config{Source: fs, Actor: fs, ReadOnly: readOnly, Token: "secret",
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hastack_up 1\n") })})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, fs, ts
}

func post(t *testing.T, ts *httptest.Server, body string, header map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/action", strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestActionAuthorization(t *testing.T) {
	const failRegion = `{"verb":"fail","kind":"region","name":"us-east-1"}`
	tests := []struct {
		name     string
		readOnly bool
		body     string
		header   map[string]string
		code     int
		acted    bool
	}{
		{"no token", false, failRegion, nil, http.StatusForbidden, false},
		{"wrong token", false, failRegion, map[string]string{"X-Hastack-Token": "guess"}, http.StatusForbidden, false},
		{"other origin", false, failRegion, map[string]string{"X-Hastack-Token": "secret", "Origin": "http://evil.example"}, http.StatusForbidden, false},
		{"cross site", false, failRegion, map[string]string{"X-Hastack-Token": "secret", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden, false},
		{"read only", true, failRegion, map[string]string{"X-Hastack-Token": "secret"}, http.StatusForbidden, false},
		{"unknown verb", false, `{"verb":"delete","kind":"region","name":"x"}`, map[string]string{"X-Hastack-Token": "secret"}, http.StatusBadRequest, false},
		{"no name", false, `{"verb":"fail","kind":"region"}`, map[string]string{"X-Hastack-Token": "secret"}, http.StatusBadRequest, false},
		{"token without origin", false, failRegion, map[string]string{"X-Hastack-Token": "secret"}, http.StatusOK, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, fs, ts := newTestServer(t, tt.readOnly)
			code, body := post(t, ts, tt.body, tt.header)
			if code != tt.code {
				t.Errorf("status %d (%s), want %d", code, body, tt.code)
			}
			if acted := len(fs.actions) > 0; acted != tt.acted {
				t.Errorf("acted = %v, want %v", acted, tt.acted)
			}
		})
	}
	t.Run("same origin", func(t *testing.T) {
		_, fs, ts := newTestServer(t, false)
		code, body := post(t, ts, failRegion, map[string]string{"X-Hastack-Token": "secret", "Origin": ts.URL, "Sec-Fetch-Site": "same-origin"})
		if code != http.StatusOK || len(fs.actions) != 1 || fs.actions[0] != (Action{Verb: "fail", Kind: "region", Name: "us-east-1"}) {
			t.Errorf("status %d (%s), actions %v", code, body, fs.actions)
		}
	})
	t.Run("refused by the stack", func(t *testing.T) {
		_, fs, ts := newTestServer(t, false)
		fs.fail = errors.New("region us-east-1 is already failed")
		code, body := post(t, ts, failRegion, map[string]string{"X-Hastack-Token": "secret"})
		if code != http.StatusConflict || !strings.Contains(body, "already failed") {
			t.Errorf("status %d (%s), want 409 with the stack's sentence", code, body)
		}
	})
}

func TestPage(t *testing.T) {
	for _, readOnly := range []bool{false, true} {
		_, _, ts := newTestServer(t, readOnly)
		resp, err := ts.Client().Get(ts.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		page := string(b)
		if !strings.Contains(page, `content="secret"`) || !strings.Contains(page, "/assets/uPlot.iife.min.js") {
			t.Errorf("page lacks its token or its chart library:\n%s", page)
		}
		if want := `name="hastack-read-only" content="` + map[bool]string{false: "false", true: "true"}[readOnly] + `"`; !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
		if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
			t.Errorf("page loads something from elsewhere")
		}
	}
	_, _, ts := newTestServer(t, false)
	for path, want := range map[string]string{"/assets/app.js": "X-Hastack-Token", "/assets/uPlot.LICENSE": "Leon Sorokin", "/metrics": "hastack_up 1"} {
		resp, err := ts.Client().Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("%s: %d, body lacks %q", path, resp.StatusCode, want)
		}
	}
	// A rebound name pointing at the dashboard is not its origin.
	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/", nil)
	req.Host = "evil.example:8400"
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("Host evil.example: status %d, want 421", resp.StatusCode)
	}
}

// TestEventStream checks that an open page gets the status at once, a
// change of it with the next tick, and events as they come.
func TestEventStream(t *testing.T) {
	s, fs, ts := newTestServer(t, false)
	s.Tick()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/api/events", nil)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	msgs := make(chan [2]string, 16)
	go func() {
		defer close(msgs)
		sc := bufio.NewScanner(resp.Body)
		var ev string
		for sc.Scan() {
			line := sc.Text()
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				ev = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				msgs <- [2]string{ev, v}
			}
		}
	}()
	next := func(kind string) string {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("stream ended waiting for %s", kind)
				}
				if m[0] == kind {
					return m[1]
				}
			case <-deadline:
				t.Fatalf("no %s message within 5s", kind)
			}
		}
	}
	if got := next("status"); got != `{"name":"t"}` {
		t.Errorf("first status %s", got)
	}
	// The page subscribed before its first message was written.
	fs.set(`{"name":"t","dns":{"answer":"127.2.1.10"}}`, Event{Time: time.Now(), Kind: "dns.failover", Message: "answer changed"})
	s.Tick()
	if got := next("status"); !strings.Contains(got, "127.2.1.10") {
		t.Errorf("changed status %s", got)
	}
	var e Event
	if err := json.Unmarshal([]byte(next("event")), &e); err != nil || e.Marker != "dns" {
		t.Errorf("event %+v (%v), want a dns marker", e, err)
	}
	cancel()
	for range msgs {
	}
}
