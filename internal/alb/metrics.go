package alb

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the load balancers' Prometheus metrics, labelled by region
// (Config.Name). One value serves every load balancer of a process; give it
// to each in Config.Metrics.
type Metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	healthy   *prometheus.GaugeVec
	unhealthy *prometheus.GaugeVec
	retries   *prometheus.CounterVec
	connErrs  *prometheus.CounterVec
}

// NewMetrics registers the load balancer metrics with reg. Registering
// again on the same registry reuses the collectors already there.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hastack_alb_requests_total",
			Help: "Requests answered by the load balancer, by status code class (2xx..5xx), whether the target or the load balancer answered.",
		}, []string{"region", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hastack_alb_request_duration_seconds",
			Help:    "Time from a request's head being read to its response's last byte being written, by status code class.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"region", "code"}),
		healthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hastack_alb_healthy_hosts",
			Help: "Registered targets that are healthy (draining ones excluded); 0 while the load balancer is not serving.",
		}, []string{"region"}),
		unhealthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "hastack_alb_unhealthy_hosts",
			Help: "Registered targets that are unhealthy (initial and draining ones excluded); 0 while the load balancer is not serving.",
		}, []string{"region"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hastack_alb_retries_total",
			Help: "Requests sent to a second target after the first one could not be reached (retry_on_connect_failure).",
		}, []string{"region"}),
		connErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hastack_alb_target_connection_errors_total",
			Help: "Connections to targets that could not be established.",
		}, []string{"region"}),
	}
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	m.healthy = register(reg, m.healthy)
	m.unhealthy = register(reg, m.unhealthy)
	m.retries = register(reg, m.retries)
	m.connErrs = register(reg, m.connErrs)
	return m
}

// register registers c, or returns the equal collector already registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

var codeClasses = [...]string{"", "1xx", "2xx", "3xx", "4xx", "5xx"}

// lbMetrics is one load balancer's series, resolved once so the request
// path does no label lookups. Its methods do nothing on a nil receiver.
type lbMetrics struct {
	requests  [len(codeClasses)]prometheus.Counter
	duration  [len(codeClasses)]prometheus.Observer
	healthy   prometheus.Gauge
	unhealthy prometheus.Gauge
	retries   prometheus.Counter
	connErrs  prometheus.Counter
}

func (m *Metrics) forLB(region string) *lbMetrics {
	if m == nil {
		return nil
	}
	lm := &lbMetrics{
		healthy:   m.healthy.WithLabelValues(region),
		unhealthy: m.unhealthy.WithLabelValues(region),
		retries:   m.retries.WithLabelValues(region),
		connErrs:  m.connErrs.WithLabelValues(region),
	}
	for i := 1; i < len(codeClasses); i++ {
		lm.requests[i] = m.requests.WithLabelValues(region, codeClasses[i])
		lm.duration[i] = m.duration.WithLabelValues(region, codeClasses[i])
	}
	return lm
}

func (m *lbMetrics) request(code int, d time.Duration) {
	if m == nil {
		return
	}
	class := code / 100
	if class < 1 || class >= len(codeClasses) {
		class = 5
	}
	m.requests[class].Inc()
	m.duration[class].Observe(d.Seconds())
}

func (m *lbMetrics) hosts(healthy, unhealthy int) {
	if m == nil {
		return
	}
	m.healthy.Set(float64(healthy))
	m.unhealthy.Set(float64(unhealthy))
}

func (m *lbMetrics) retry() {
	if m != nil {
		m.retries.Inc()
	}
}

func (m *lbMetrics) connError() {
	if m != nil {
		m.connErrs.Inc()
	}
}
