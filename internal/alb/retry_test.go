package alb

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hastack/hastack/internal/spec"
)

// TestRetryOnConnectFailure kills one of two targets while it is still
// healthy (its next check is a minute away) and sends a loop of requests:
// with the option on no client sees an error, with it off, as an ALB,
// the requests routed to the dead target get 502.
func TestRetryOnConnectFailure(t *testing.T) {
	for _, retry := range []bool{true, false} {
		t.Run(fmt.Sprintf("retry=%v", retry), func(t *testing.T) {
			l := fastLB()
			l.HealthCheck.Interval = time.Minute
			l.RetryOnConnectFailure = retry
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			lb, err := New(Config{Name: "r", LB: l, Metrics: m})
			if err != nil {
				t.Fatal(err)
			}
			url := serve(t, lb)
			b1, b2 := newBackend(t, "b1"), newBackend(t, "b2")
			lb.Register("b1", b1.addr())
			lb.Register("b2", b2.addr())
			waitFor(t, "both healthy", func() bool { return lb.HealthyCount() == 2 })
			c := client(t)
			for range 4 { // keep-alive connections to both
				get(t, c, url+"/")
			}

			b2.srv.Close() // killed: listener and connections closed
			failed := 0
			for i := range 40 {
				var resp *http.Response
				var err error
				if i%2 == 0 {
					resp, err = c.Get(url + "/")
				} else {
					resp, err = c.Post(url+"/", "text/plain", strings.NewReader("order 42"))
				}
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					if resp.StatusCode != http.StatusBadGateway {
						t.Fatalf("request %d: status %d, want 200 or 502", i, resp.StatusCode)
					}
					failed++
				}
			}
			if lb.TargetHealth("b2") != StateHealthy {
				t.Fatal("b2 was marked unhealthy during the loop; the test needs it routed to")
			}
			retries := testutil.ToFloat64(m.retries.WithLabelValues("r"))
			if retry {
				if failed != 0 {
					t.Fatalf("%d of 40 requests failed with retry_on_connect_failure on, want 0", failed)
				}
				if retries < 10 {
					t.Fatalf("retries_total = %v, want about 20", retries)
				}
			} else {
				if failed < 10 {
					t.Fatalf("%d of 40 requests failed with the option off, want about 20 (the dead target's share)", failed)
				}
				if retries != 0 {
					t.Fatalf("retries_total = %v with the option off", retries)
				}
			}
		})
	}
}

// TestNoRetryOnceSent: a target that takes a request and drops the
// connection without answering. A POST that went out is never sent again;
// a GET is, to the other target.
func TestNoRetryOnceSent(t *testing.T) {
	var dropperHits atomic.Int64
	dropper := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		dropperHits.Add(1)
		hijack(w, "")
	})
	var goodHits atomic.Int64
	good := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {
		goodHits.Add(1)
		_, _ = io.WriteString(w, "ok")
	})
	lb := newLB(t, func() (l spec.LoadBalancer) {
		l = fastLB()
		l.RetryOnConnectFailure = true
		return l
	}(), nil)
	url := serve(t, lb)
	lb.Register("a-dropper", dropper.Listener.Addr().String())
	lb.Register("b-good", good.Listener.Addr().String())
	waitFor(t, "both healthy", func() bool { return lb.HealthyCount() == 2 })
	c := client(t)

	posts502 := 0
	for range 10 {
		resp, err := c.Post(url+"/", "text/plain", strings.NewReader("pay 10 EUR"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusBadGateway {
			posts502++
		}
	}
	if posts502 == 0 || dropperHits.Load() != int64(posts502) {
		t.Fatalf("%d POSTs got 502 and the dropping target saw %d; want each failed POST sent exactly once", posts502, dropperHits.Load())
	}
	for i := range 10 {
		if code, _ := get(t, c, url+"/"); code != http.StatusOK {
			t.Fatalf("GET %d: status %d, want 200 via the other target", i, code)
		}
	}
}

// TestPutSentAgain: PUT is idempotent, so a PUT the target took and
// dropped without answering goes to the other target once more, body and
// all — what makes killing an instance cost no write under load.
func TestPutSentAgain(t *testing.T) {
	dropper := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		hijack(w, "")
	})
	var got atomic.Value
	good := scriptedBackend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(string(b))
		_, _ = io.WriteString(w, "stored")
	})
	lb := newLB(t, func() (l spec.LoadBalancer) {
		l = fastLB()
		l.RetryOnConnectFailure = true
		return l
	}(), nil)
	url := serve(t, lb)
	lb.Register("a-dropper", dropper.Listener.Addr().String())
	lb.Register("b-good", good.Listener.Addr().String())
	waitFor(t, "both healthy", func() bool { return lb.HealthyCount() == 2 })
	c := client(t)
	for i := range 10 {
		body := fmt.Sprintf("value %d", i)
		req, _ := http.NewRequest(http.MethodPut, url+"/kv/a", strings.NewReader(body))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || got.Load() != body {
			t.Fatalf("PUT %d: status %d, the good target got %q; want 200 and %q", i, resp.StatusCode, got.Load(), body)
		}
	}
}
