package alb

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// syncBuffer is an io.Writer safe to read while the load balancer writes.
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

type accessLine struct {
	Time                   time.Time `json:"time"`
	Client                 string    `json:"client"`
	Method                 string    `json:"method"`
	Path                   string    `json:"path"`
	Status                 int       `json:"status"`
	Target                 string    `json:"target"`
	TargetAddr             string    `json:"target_addr"`
	RequestProcessingTime  float64   `json:"request_processing_time"`
	TargetProcessingTime   float64   `json:"target_processing_time"`
	ResponseProcessingTime float64   `json:"response_processing_time"`
	Duration               float64   `json:"duration"`
	Received               int64     `json:"received_bytes"`
	Sent                   int64     `json:"sent_bytes"`
	RequestID              string    `json:"request_id"`
	Retried                bool      `json:"retried"`
	Error                  string    `json:"error"`
}

func TestAccessLog(t *testing.T) {
	var logBuf syncBuffer
	b := newBackend(t, "b1")
	l := fastLB()
	lb, err := New(Config{Name: "test-1", LB: l, AccessLog: &logBuf})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, served := startServe(t, ctx, lb)
	url := "http://" + addr
	c := client(t)
	// No target yet: 503 from the load balancer itself.
	if code, _ := get(t, c, url+"/early"); code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", code)
	}
	lb.Register("b1", b.addr())
	waitFor(t, "b1 healthy", func() bool { return lb.HealthyCount() == 1 })
	req, _ := http.NewRequest(http.MethodGet, url+`/pa"th?q=1`, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	b.mu.Lock()
	sentID := b.lastReq.Header.Get("X-Request-Id")
	b.mu.Unlock()

	// Lines are written in batches; all of them by the time Serve returns.
	cancel()
	if err := waitServe(t, served); err != nil {
		t.Fatal(err)
	}
	var lines []accessLine
	for _, raw := range strings.Split(strings.TrimSpace(logBuf.String()), "\n") {
		var a accessLine
		if err := json.Unmarshal([]byte(raw), &a); err != nil {
			t.Fatalf("not a JSON line: %q: %v", raw, err)
		}
		lines = append(lines, a)
	}
	if len(lines) != 2 {
		t.Fatalf("%d access log lines, want 2:\n%s", len(lines), logBuf.String())
	}
	first, second := lines[0], lines[1]
	if first.Status != 503 || first.Path != "/early" || first.Target != "" || first.TargetProcessingTime != -1 || first.Error == "" {
		t.Errorf("503 line: %+v", first)
	}
	if host, _, _ := net.SplitHostPort(second.Client); host != "127.0.0.1" {
		t.Errorf("client %q", second.Client)
	}
	if second.Method != "GET" || second.Path != `/pa%22th?q=1` || second.Status != 200 || second.Target != "b1" || second.TargetAddr != b.addr() {
		t.Errorf("200 line: %+v", second)
	}
	if second.RequestID != sentID || !requestIDPattern.MatchString(sentID) {
		t.Errorf("request_id %q, target got X-Request-Id %q", second.RequestID, sentID)
	}
	if second.RequestProcessingTime < 0 || second.TargetProcessingTime < 0 || second.ResponseProcessingTime < 0 || second.Duration <= 0 {
		t.Errorf("times: %+v", second)
	}
	if second.Received <= 0 || second.Sent <= 0 || second.Retried || second.Error != "" {
		t.Errorf("bytes and flags: %+v", second)
	}
	if time.Since(second.Time) > time.Minute {
		t.Errorf("time %v", second.Time)
	}
}

func TestAppendJSONEscapes(t *testing.T) {
	for _, s := range []string{"plain", `q"uote\back`, "tab\tnl\n\x01", "héllo ✓", "bad \xff utf8"} {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encoded as invalid JSON %s: %v", s, b, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); got != want {
			t.Errorf("%q round-trips to %q", s, got)
		}
		if bb := appendJSONBytes(nil, []byte(s)); !bytes.Equal(bb, b) {
			t.Errorf("bytes and string encodings differ: %s vs %s", bb, b)
		}
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	if again := NewMetrics(reg); again.requests != m.requests {
		t.Fatal("NewMetrics on the same registry made new collectors")
	}
	b1, b2 := newBackend(t, "b1"), newBackend(t, "b2")
	lb, err := New(Config{Name: "eu-west-1", LB: fastLB(), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(Config{Name: "us-east-1", LB: fastLB(), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, served := startServe(t, ctx, lb)
	url := serve(t, other)
	lb.Register("b1", b1.addr())
	lb.Register("b2", b2.addr())
	waitFor(t, "both healthy", func() bool { return lb.HealthyCount() == 2 })
	c := client(t)
	for range 3 {
		get(t, c, "http://"+addr+"/")
	}
	get(t, c, url+"/") // no targets: 503

	// A request is counted just after its response went out.
	waitFor(t, "eu-west-1 2xx = 3", func() bool { return testutil.ToFloat64(m.requests.WithLabelValues("eu-west-1", "2xx")) == 3 })
	waitFor(t, "us-east-1 5xx = 1", func() bool { return testutil.ToFloat64(m.requests.WithLabelValues("us-east-1", "5xx")) == 1 })
	// Every code class has its series from the start, at zero.
	if n := testutil.CollectAndCount(m.duration, "hastack_alb_request_duration_seconds"); n != 10 {
		t.Errorf("%d latency histograms, want 10 (5 code classes, 2 regions)", n)
	}
	if n := histogramCount(t, reg, "eu-west-1", "2xx"); n != 3 {
		t.Errorf("eu-west-1 2xx latency samples = %d, want 3", n)
	}
	if n := histogramCount(t, reg, "eu-west-1", "5xx"); n != 0 {
		t.Errorf("eu-west-1 5xx latency samples = %d, want 0", n)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP hastack_alb_healthy_hosts Registered targets that are healthy (draining ones excluded); 0 while the load balancer is not serving.
# TYPE hastack_alb_healthy_hosts gauge
hastack_alb_healthy_hosts{region="eu-west-1"} 2
hastack_alb_healthy_hosts{region="us-east-1"} 0
`), "hastack_alb_healthy_hosts"); err != nil {
		t.Error(err)
	}

	b2.setHealth(http.StatusServiceUnavailable)
	waitFor(t, "b2 unhealthy", func() bool { return lb.TargetHealth("b2") == StateUnhealthy })
	if h, u := testutil.ToFloat64(m.healthy.WithLabelValues("eu-west-1")), testutil.ToFloat64(m.unhealthy.WithLabelValues("eu-west-1")); h != 1 || u != 1 {
		t.Errorf("healthy %v unhealthy %v, want 1 and 1", h, u)
	}
	cancel()
	if err := waitServe(t, served); err != nil {
		t.Fatal(err)
	}
	if h := testutil.ToFloat64(m.healthy.WithLabelValues("eu-west-1")); h != 0 {
		t.Errorf("healthy hosts of a stopped load balancer = %v, want 0", h)
	}
	if problems, err := testutil.CollectAndLint(m.requests); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func histogramCount(t *testing.T, reg *prometheus.Registry, region, code string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "hastack_alb_request_duration_seconds" {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if (lp.GetName() == "region" && lp.GetValue() != region) || (lp.GetName() == "code" && lp.GetValue() != code) {
					continue next
				}
			}
			return m.GetHistogram().GetSampleCount()
		}
	}
	t.Fatalf("no histogram for %s %s", region, code)
	return 0
}
