package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/hastack/hastack/internal/asg"
	"github.com/hastack/hastack/internal/dashboard"
)

// eventPollInterval is how often the event counts are brought up to date
// while no page is open.
const eventPollInterval = time.Second

// DashboardStatus says where the stack's dashboard is: URL is "" when it
// is off (dashboard { listen = "127.0.0.1:0" }).
type DashboardStatus struct {
	URL      string `json:"url"`
	ReadOnly bool   `json:"read_only"`
}

// dashState is the stack's dashboard and the observation behind its
// charts and the metrics' event counts.
type dashState struct {
	once sync.Once
	obs  *observation
	mu   sync.Mutex
	url  string
}

func (st *Stack) observer() *observation {
	st.dash.once.Do(func() {
		st.dash.obs = &observation{st: st, kinds: map[string]uint64{}, drills: map[string]DrillResult{}}
	})
	return st.dash.obs
}

// dashboardStatus is the Status's dashboard part.
func (st *Stack) dashboardStatus() DashboardStatus {
	st.dash.mu.Lock()
	defer st.dash.mu.Unlock()
	return DashboardStatus{URL: st.dash.url, ReadOnly: st.spec.Dashboard.ReadOnly}
}

// bindDashboard binds the dashboard's address; nil when it is off. The
// default address falls back to a free port when another stack holds it,
// so that two stacks can run side by side without a dashboard block; an
// address the stack file names must be free.
func (st *Stack) bindDashboard() (net.Listener, error) {
	d := st.spec.Dashboard
	if !d.Enabled {
		return nil, nil
	}
	ln, err := listenTCP("dashboard", d.Listen)
	if err != nil && !d.ListenSet && errors.Is(err, syscall.EADDRINUSE) {
		host, _, _ := net.SplitHostPort(d.Listen)
		ln, err = listenTCP("dashboard", net.JoinHostPort(host, "0"))
	}
	return ln, err
}

// startDashboard serves the dashboard on ln (nil: off) and follows the
// event log until ctx is done; the returned function waits for both.
func (st *Stack) startDashboard(ctx context.Context, ln net.Listener) (func(), error) {
	obs := st.observer()
	if ln == nil {
		// Without a page the metrics still count every event.
		done := make(chan struct{})
		go func() { defer close(done); followEvents(ctx, obs) }()
		return func() { <-done }, nil
	}
	srv, err := dashboard.New(dashboard.Config{
		Source:   &stackSource{st: st},
		Actor:    stackActor{st},
		ReadOnly: st.spec.Dashboard.ReadOnly,
		Metrics:  promhttp.HandlerFor(st.registry, promhttp.HandlerOpts{}),
		Logger:   st.logger.With("part", "dashboard"),
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	url := "http://" + ln.Addr().String() + "/"
	st.dash.mu.Lock()
	st.dash.url = url
	st.dash.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, ln); err != nil {
			st.events.Add("error", fmt.Sprintf("dashboard stopped: %v", err))
		}
	}()
	st.step("%-10s %s", "dashboard", url)
	return func() { <-done }, nil
}

// followEvents polls the event log every second so the event counts miss
// nothing while no page is open.
func followEvents(ctx context.Context, obs *observation) {
	tick := time.NewTicker(eventPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			obs.poll()
		}
	}
}

// stackActor carries out the page's actions with the methods the control
// API's handlers call.
type stackActor struct{ st *Stack }

func (a stackActor) Act(ctx context.Context, act dashboard.Action) error {
	switch act.Verb {
	case "fail":
		return a.st.Fail(ctx, Fault{Kind: act.Kind, Name: act.Name})
	case "recover":
		return a.st.Recover(ctx, Fault{Kind: act.Kind, Name: act.Name})
	case "promote":
		_, err := a.st.PromoteRegion(ctx, act.Name, false)
		return err
	}
	return fmt.Errorf("unknown action %q", act.Verb)
}

// stackSource reads the stack for the dashboard.
type stackSource struct{ st *Stack }

func (s *stackSource) Snapshot() dashboard.Snapshot {
	st := s.st
	status := st.Status()
	snap := dashboard.Snapshot{}
	for _, e := range st.observer().take() {
		snap.Events = append(snap.Events, dashboard.Event{Time: e.Time, Kind: e.Kind, Message: e.Message})
	}
	// The page's picture changes with the state, not with the clock.
	status.Uptime, status.Events = 0, nil
	snap.Status, _ = json.Marshal(status)

	lb := lbCounters(st)
	perChecker := map[string]map[string]bool{} // record, checker: healthy
	if st.dnsCtl != nil {
		for _, t := range st.dnsCtl.Status() {
			for _, c := range t.PerChecker {
				if perChecker[t.SetID] == nil {
					perChecker[t.SetID] = map[string]bool{}
				}
				perChecker[t.SetID][c.Name] = c.Healthy
			}
		}
	}
	for _, r := range status.Regions {
		rs := dashboard.RegionSample{Region: r.Name, CPU: map[string]float64{}, Alarms: map[string]string{}, PerChecker: perChecker[r.Name]}
		c := lb[r.Name]
		rs.Requests, rs.Errors, rs.Latency = c.requests, c.errors, c.latency
		for _, rec := range status.DNS.Records {
			if rec.SetID == r.Name {
				rs.CheckersHealthy, rs.Checkers = rec.CheckersHealthy, rec.Checkers
			}
		}
		if a := r.AutoScaling; a != nil {
			rs.Desired, rs.InService = a.Desired, a.InService
			for _, al := range a.Alarms {
				rs.Alarms[al.Name] = al.State
			}
		}
		for _, in := range r.Instances {
			if in.State == string(asg.InService) {
				rs.CPU[in.ID] = in.CPUPercent
			}
		}
		snap.Regions = append(snap.Regions, rs)
	}
	for _, n := range status.Database.Nodes {
		if n.Role != "primary" {
			snap.Nodes = append(snap.Nodes, dashboard.NodeSample{Node: n.Name, Region: n.Region, LagSeconds: n.LagSeconds, LagBytes: float64(n.LagBytes)})
		}
	}
	return snap
}

// lbTotals are one region's load balancer counters.
type lbTotals struct {
	requests, errors float64
	latency          dashboard.Histogram
}

// lbCounters reads the load balancers' request counters and latency
// histograms from the registry, summed over status classes.
func lbCounters(st *Stack) map[string]lbTotals {
	out := map[string]lbTotals{}
	families, err := st.registry.Gather()
	if err != nil && len(families) == 0 {
		return out
	}
	region := func(m *dto.Metric) (string, string) {
		var r, code string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "region":
				r = l.GetValue()
			case "code":
				code = l.GetValue()
			}
		}
		return r, code
	}
	for _, f := range families {
		switch f.GetName() {
		case "hastack_alb_requests_total":
			for _, m := range f.GetMetric() {
				r, code := region(m)
				t := out[r]
				t.requests += m.GetCounter().GetValue()
				if code == "5xx" {
					t.errors += m.GetCounter().GetValue()
				}
				out[r] = t
			}
		case "hastack_alb_request_duration_seconds":
			for _, m := range f.GetMetric() {
				r, _ := region(m)
				t := out[r]
				h := m.GetHistogram()
				buckets := h.GetBucket()
				if t.latency.Counts == nil {
					t.latency.Bounds = make([]float64, 0, len(buckets)+1)
					for _, b := range buckets {
						t.latency.Bounds = append(t.latency.Bounds, b.GetUpperBound())
					}
					t.latency.Bounds = append(t.latency.Bounds, math.Inf(1))
					t.latency.Counts = make([]float64, len(buckets)+1)
				}
				if len(t.latency.Counts) == len(buckets)+1 {
					for i, b := range buckets {
						t.latency.Counts[i] += float64(b.GetCumulativeCount())
					}
					t.latency.Counts[len(buckets)] += float64(h.GetSampleCount())
				}
				out[r] = t
			}
		}
	}
	return out
}

// drillHandler serves /v1/drill: a drill run by `hastack drill` says it
// starts, and later how it went, for the metrics and the dashboard.
func (st *Stack) drillHandler(w http.ResponseWriter, r *http.Request) {
	var d DrillResult
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&d); err != nil || d.Scenario == "" {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "the request body is not a drill result"})
		return
	}
	st.observer().recordDrill(d)
	writeJSON(w, http.StatusOK, struct{}{})
}

// ReportDrill tells the stack a drill starts (Running) or how it went.
func (c *Client) ReportDrill(ctx context.Context, d DrillResult) error {
	return c.do(ctx, http.MethodPost, "/v1/drill", d, nil)
}

// closeIfOpen closes a listener that start-up may not have handed on.
func closeIfOpen(ln net.Listener) {
	if ln != nil {
		_ = ln.Close()
	}
}
