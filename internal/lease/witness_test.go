package lease

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWitnessHTTP(t *testing.T) {
	clock := newFakeClock()
	w, err := NewWitness(WitnessConfig{Duration: 3 * time.Second, Clock: clock, Fresh: true})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, body string
		status             int
		want               string // in the body
	}{
		{"not JSON", "POST", "renew please", 400, "reading the lease request"},
		{"unknown field", "POST", `{"op":"acquire","region":"a","ttl":5}`, 400, `unknown field "ttl"`},
		{"no region", "POST", `{"op":"acquire"}`, 400, "names no region"},
		{"long region", "POST", `{"op":"acquire","region":"` + strings.Repeat("r", 65) + `"}`, 400, "names no region, or one longer"},
		{"unknown operation", "POST", `{"op":"steal","region":"a"}`, 400, `unknown lease operation "steal"`},
		{"too large", "POST", `{"op":"acquire","region":"a","x":"` + strings.Repeat("x", 5000) + `"}`, 400, "reading the lease request"},
		{"acquire", "POST", `{"op":"acquire","region":"us-east-1","duration_ns":3000000000}`, 200, `"granted":true`},
		{"acquire by another", "POST", `{"op":"acquire","region":"us-west-2","duration_ns":3000000000}`, 200, `"retry_after_ns":3330000000`},
		{"lease", "GET", "", 200, `"holder":"us-east-1"`},
		{"other method", "PUT", "", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, leasePath, strings.NewReader(tt.body))
			req.RemoteAddr = "127.9.50.17:4242"
			rec := httptest.NewRecorder()
			w.srv.Handler.ServeHTTP(rec, req)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.want) {
				t.Errorf("%s %s: %d %q, want %d with %q", tt.method, tt.body, rec.Code, rec.Body, tt.status, tt.want)
			}
		})
	}
	var l Lease
	req := httptest.NewRequest("GET", leasePath, nil)
	rec := httptest.NewRecorder()
	w.srv.Handler.ServeHTTP(rec, req)
	if err := json.NewDecoder(rec.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	if l != w.Lease() || l.From != "127.9.50.17" || !l.FreeAt.Equal(at(3330*ms)) {
		t.Errorf("GET %s = %+v, want %+v from 127.9.50.17", leasePath, l, w.Lease())
	}
	if rec.Header().Get("Content-Type") != "application/json" || rec.Code != http.StatusOK {
		t.Errorf("GET answered %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}

// TestWitnessQuietAtStart: a witness that may have granted a lease in a
// previous run grants nothing for one takeover bound.
func TestWitnessQuietAtStart(t *testing.T) {
	clock := newFakeClock()
	w, err := NewWitness(WitnessConfig{Duration: 3 * time.Second, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Op: OpAcquire, Region: "us-east-1", Duration: 3 * time.Second}
	if a := w.decide(req, ""); a.Granted || a.RetryAfter != 3330*ms {
		t.Errorf("at start: %+v, want refused for 3.33s", a)
	}
	clock.set(at(3330 * ms))
	if a := w.decide(req, ""); !a.Granted {
		t.Errorf("after the quiet: %+v, want granted", a)
	}
}
