package drill

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is what a request does.
type Kind string

const (
	Read  Kind = "read"
	Write Kind = "write"
)

// Sample is one request as a client saw it.
type Sample struct {
	Start    time.Time     `json:"start"`
	Latency  time.Duration `json:"latency_ns"`
	Kind     Kind          `json:"kind"`
	OK       bool          `json:"ok"`
	Status   int           `json:"status,omitempty"`
	Err      string        `json:"error,omitempty"`
	Region   string        `json:"region,omitempty"`
	Instance string        `json:"instance,omitempty"`
	// Key of a write; with OK it was acknowledged.
	Key string `json:"key,omitempty"`
	// Seq numbers the writes of one load, from 1; the key ends with it.
	Seq int64 `json:"seq,omitempty"`
	// Stale: a read of an acknowledged write that answered 404 (the reader
	// had not caught up yet). It counts as served.
	Stale bool `json:"stale,omitempty"`
	// Fresh: sent by a client that opens a new connection for each
	// request (LoadConfig.Fresh).
	Fresh bool `json:"fresh,omitempty"`
}

// LoadConfig shapes the load. Every field has a default suited to a
// 2-core machine.
type LoadConfig struct {
	// URL to request, e.g. http://app.example.com:8080. Its host is
	// resolved through Resolver when one is given.
	URL      string
	Resolver *Resolver
	// Rate of requests per second across all clients (default 40).
	Rate float64
	// Clients working in parallel (default 8).
	Clients int
	// Fresh is how many of the clients open a new connection for each
	// request, as new users arriving do: once their cached DNS answer
	// expires they go where DNS says. The others keep their connection
	// alive and stay on the load balancer it leads to for as long as it
	// answers (default 0: all of them).
	Fresh int
	// WriteRatio is the share of writes, 0..1 (default 0.3). Writes need
	// the demo app's PUT /kv/{key}; 0 sends reads of / only.
	WriteRatio float64
	// Timeout of one request (default 2s).
	Timeout time.Duration
	// RunID prefixes written keys so runs never collide.
	RunID string
}

// defaultClients is how many clients a load has unless told.
const defaultClients = 8

func (c *LoadConfig) defaults() {
	if c.Rate <= 0 {
		c.Rate = 40
	}
	if c.Clients <= 0 {
		c.Clients = defaultClients
	}
	c.Fresh = min(max(c.Fresh, 0), c.Clients)
	if c.WriteRatio < 0 || c.WriteRatio > 1 {
		c.WriteRatio = 0.3
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if c.RunID == "" {
		c.RunID = fmt.Sprintf("%x", rand.Uint64()&0xffffffff)
	}
}

// Load drives requests until its context is done.
type Load struct {
	cfg     LoadConfig
	base    *url.URL
	seq     atomic.Int64
	mu      sync.Mutex
	samples []Sample
	acked   []string // keys of acknowledged writes, newest last
}

// NewLoad checks the configuration.
func NewLoad(cfg LoadConfig) (*Load, error) {
	cfg.defaults()
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("load target %q is not an http(s) URL", cfg.URL)
	}
	return &Load{cfg: cfg, base: u}, nil
}

// Run sends requests at the configured rate until ctx is done, then waits
// for requests in flight (each bounded by the request timeout).
func (l *Load) Run(ctx context.Context) {
	tokens := make(chan struct{})
	var wg sync.WaitGroup
	for i := range l.cfg.Clients {
		fresh := i < l.cfg.Fresh
		client := l.newClient(fresh)
		wg.Go(func() {
			defer client.CloseIdleConnections()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tokens:
				}
				s := l.one(client)
				s.Fresh = fresh
				l.record(s)
			}
		})
	}
	// Pace the whole fleet; a token nobody is free to take is dropped, so
	// a stalled stack is not buried under a backlog when it comes back.
	tick := time.NewTicker(time.Duration(float64(time.Second) / l.cfg.Rate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
			select {
			case tokens <- struct{}{}:
			default:
			}
		}
	}
}

// newClient is one user: its own connections, resolving the host through
// the stub resolver each time it dials; fresh, a new one for each request.
func (l *Load) newClient(fresh bool) *http.Client {
	dialer := &net.Dialer{Timeout: l.cfg.Timeout}
	tr := &http.Transport{
		DisableKeepAlives:   fresh,
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     30 * time.Second,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if l.cfg.Resolver != nil && net.ParseIP(host) == nil {
				ip, err := l.cfg.Resolver.Lookup(ctx, host)
				if err != nil {
					return nil, err
				}
				addr = net.JoinHostPort(ip.String(), port)
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}
	return &http.Client{Transport: tr, Timeout: l.cfg.Timeout}
}

// one issues one request: a write of a new key, or a read of / or of a key
// written earlier.
func (l *Load) one(c *http.Client) Sample {
	s := Sample{Start: time.Now(), Kind: Read}
	var req *http.Request
	switch {
	case rand.Float64() < l.cfg.WriteRatio:
		s.Kind = Write
		s.Seq = l.seq.Add(1)
		s.Key = fmt.Sprintf("drill-%s-%d", l.cfg.RunID, s.Seq)
		req, _ = http.NewRequest(http.MethodPut, l.base.JoinPath("kv", s.Key).String(), strings.NewReader(s.Start.UTC().Format(time.RFC3339Nano)))
	default:
		path := "/"
		if key := l.someAcked(); key != "" && l.cfg.WriteRatio > 0 && rand.IntN(2) == 0 {
			path = "/kv/" + key
			s.Key = key
		}
		req, _ = http.NewRequest(http.MethodGet, l.base.JoinPath(path).String(), nil)
	}
	resp, err := c.Do(req)
	s.Latency = time.Since(s.Start)
	if err != nil {
		s.Err = shortError(err)
		return s
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	s.Latency = time.Since(s.Start)
	s.Status = resp.StatusCode
	s.Region = resp.Header.Get("X-Hastack-Region")
	s.Instance = resp.Header.Get("X-Hastack-Instance")
	switch {
	case resp.StatusCode < 400:
		s.OK = true
	case s.Kind == Read && s.Key != "" && resp.StatusCode == http.StatusNotFound:
		s.OK, s.Stale = true, true
	default:
		s.Err = resp.Status
	}
	if s.Kind == Read && s.Key != "" && !s.Stale {
		s.Key = "" // only writes carry keys in the record
	}
	return s
}

func (l *Load) someAcked() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.acked) == 0 {
		return ""
	}
	// Mostly recent keys: that is where replication lag shows.
	n := min(len(l.acked), 50)
	return l.acked[len(l.acked)-1-rand.IntN(n)]
}

func (l *Load) record(s Sample) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.samples = append(l.samples, s)
	if s.Kind == Write && s.OK {
		l.acked = append(l.acked, s.Key)
	}
}

// Samples returns what was recorded so far, in completion order.
func (l *Load) Samples() []Sample {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Sample(nil), l.samples...)
}

// shortError keeps the part of a client error worth a column in a report.
func shortError(err error) string {
	msg := err.Error()
	for _, known := range []string{"connection refused", "connection reset", "Client.Timeout", "EOF", "no A record", "i/o timeout"} {
		if strings.Contains(msg, known) {
			if known == "Client.Timeout" {
				return "timeout"
			}
			return known
		}
	}
	if len(msg) > 80 {
		msg = msg[:80]
	}
	return msg
}
