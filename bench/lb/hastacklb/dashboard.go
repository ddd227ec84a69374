package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hastack/hastack/internal/alb"
	"github.com/hastack/hastack/internal/dashboard"
)

// serveDashboard serves internal/dashboard for lb on addr, as a stack
// does: the page, its event stream sampled every 250 ms while open, and
// /metrics; so the benchmark can tell what an open page and a scraping
// Prometheus cost the load balancer.
func serveDashboard(ctx context.Context, addr string, lb *alb.LB, reg *prometheus.Registry) (<-chan error, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	srv, err := dashboard.New(dashboard.Config{
		Source:  lbSource{lb: lb, reg: reg},
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	return done, nil
}

// lbSource is the load balancer as the dashboard reads a region.
type lbSource struct {
	lb  *alb.LB
	reg *prometheus.Registry
}

func (s lbSource) Snapshot() dashboard.Snapshot {
	status, _ := json.Marshal(map[string]any{"name": "bench", "targets": s.lb.Targets()})
	rs := dashboard.RegionSample{Region: "bench", InService: s.lb.HealthyCount()}
	families, _ := s.reg.Gather()
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "hastack_alb_requests_total":
				rs.Requests += m.GetCounter().GetValue()
			case "hastack_alb_request_duration_seconds":
				h := m.GetHistogram()
				if rs.Latency.Counts == nil {
					for _, b := range h.GetBucket() {
						rs.Latency.Bounds = append(rs.Latency.Bounds, b.GetUpperBound())
					}
					rs.Latency.Bounds = append(rs.Latency.Bounds, math.Inf(1))
					rs.Latency.Counts = make([]float64, len(rs.Latency.Bounds))
				}
				for i, b := range h.GetBucket() {
					rs.Latency.Counts[i] += float64(b.GetCumulativeCount())
				}
				rs.Latency.Counts[len(rs.Latency.Counts)-1] += float64(h.GetSampleCount())
			}
		}
	}
	return dashboard.Snapshot{At: time.Now(), Status: status, Regions: []dashboard.RegionSample{rs}}
}
