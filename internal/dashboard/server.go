package dashboard

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Source reads the running stack.
type Source interface {
	// Snapshot is the stack now; Events holds what happened since the
	// previous call.
	Snapshot() Snapshot
}

// Actor carries out an operator's action the way the control API does.
type Actor interface {
	Act(ctx context.Context, a Action) error
}

// Action is one operator action from the page.
type Action struct {
	// Verb is "fail", "recover" or "promote".
	Verb string `json:"verb"`
	// Kind is what fails or recovers: "region", "az", "instance" or
	// "db-primary"; empty for promote.
	Kind string `json:"kind"`
	// Name is the region, AZ or instance ID ("" for db-primary).
	Name string `json:"name"`
}

// Config sets up a Server.
type Config struct {
	Source Source
	// Actor carries out actions; nil, or ReadOnly, hides and refuses them.
	Actor    Actor
	ReadOnly bool
	// Metrics serves /metrics (the stack's Prometheus registry); nil: 404.
	Metrics http.Handler
	// Token authorises state-changing requests; empty: a random one.
	Token string
	// Interval between snapshots while a page is open (default 250ms);
	// charts take one sample per Step (default 1s) whether or not a page
	// is open, and keep Window of them (default 15m).
	Interval, Step, Window time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Server is the dashboard of one stack.
type Server struct {
	cfg   Config
	token string

	mu      sync.Mutex
	hist    *history
	status  json.RawMessage
	last    Snapshot // the snapshot the last chart frame was taken from
	lastAt  time.Time
	subs    map[chan message]struct{}
	started bool
}

// message is one Server-Sent Event.
type message struct {
	event string
	data  []byte
}

// New builds the dashboard; Run samples the stack and Handler serves it.
func New(cfg Config) (*Server, error) {
	if cfg.Source == nil {
		return nil, errors.New("dashboard: no source")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 250 * time.Millisecond
	}
	if cfg.Step <= 0 {
		cfg.Step = time.Second
	}
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Actor == nil {
		cfg.ReadOnly = true
	}
	token := cfg.Token
	if token == "" {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("dashboard: making its token: %w", err)
		}
		token = hex.EncodeToString(b)
	}
	return &Server{cfg: cfg, token: token, hist: newHistory(cfg.Window, cfg.Step), subs: map[chan message]struct{}{}}, nil
}

// Token is what a state-changing request must carry in X-Hastack-Token.
func (s *Server) Token() string { return s.token }

// Run samples the stack until ctx is done: every Step for the charts, and
// every Interval while a page is open, so that it sees a change within
// that interval.
func (s *Server) Run(ctx context.Context) {
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	s.Tick()
	for {
		select {
		case <-ctx.Done():
			s.closeSubscribers()
			return
		case <-tick.C:
			s.Tick()
		}
	}
}

// Tick takes one snapshot if a page is open or a chart sample is due, and
// tells the open pages what changed. Run calls it; tests call it with a
// fake clock.
func (s *Server) Tick() {
	now := s.cfg.Now()
	s.mu.Lock()
	due := !s.started || now.Sub(s.lastAt) >= s.cfg.Step
	watched := len(s.subs) > 0
	s.mu.Unlock()
	if !due && !watched {
		return
	}
	snap := s.cfg.Source.Snapshot()
	if snap.At.IsZero() {
		snap.At = now
	}
	for i := range snap.Events {
		snap.Events[i].Marker = markerOf(snap.Events[i].Kind)
	}

	s.mu.Lock()
	var out []message
	if !bytes.Equal(snap.Status, s.status) {
		s.status = snap.Status
		out = append(out, message{"status", snap.Status})
	}
	for _, e := range snap.Events {
		b, _ := json.Marshal(e)
		out = append(out, message{"event", b})
	}
	if due {
		var pts []Point
		if s.started {
			pts = points(s.last, snap)
		} else {
			// No rates yet, but every gauge from the start.
			pts = points(Snapshot{}, snap)
		}
		s.hist.add(snap.At, pts, markersOnly(snap.Events))
		s.last, s.lastAt, s.started = snap, now, true
		out = append(out, message{"sample", sampleJSON(snap.At, pts)})
	} else if len(snap.Events) > 0 {
		// Events between chart samples still belong in the window.
		s.hist.events = append(s.hist.events, markersOnly(snap.Events)...)
		s.last.Events = nil
	}
	for ch := range s.subs {
		for _, m := range out {
			select {
			case ch <- m:
			default:
				// A page that cannot keep up misses this one; the next
				// status message carries the whole state again.
			}
		}
	}
	s.mu.Unlock()
}

func markersOnly(events []Event) []Event {
	var out []Event
	for _, e := range events {
		if e.Marker != "" {
			out = append(out, e)
		}
	}
	return out
}

func sampleJSON(at time.Time, pts []Point) []byte {
	values := make(map[string]float64, len(pts))
	for _, p := range pts {
		values[p.ID] = p.Value
	}
	b, _ := json.Marshal(struct {
		T      float64            `json:"t"`
		Values map[string]float64 `json:"values"`
	}{float64(at.UnixMilli()) / 1000, values})
	return b
}

func (s *Server) subscribe() (chan message, json.RawMessage) {
	ch := make(chan message, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs[ch] = struct{}{}
	return ch, s.status
}

func (s *Server) unsubscribe(ch chan message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subs[ch]; ok {
		delete(s.subs, ch)
		close(ch)
	}
}

func (s *Server) closeSubscribers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		delete(s.subs, ch)
		close(ch)
	}
}

// Serve serves the page on ln and samples the stack until ctx is done,
// then shuts the server down and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second,
		// Event streams end with the dashboard, not at Shutdown's timeout.
		BaseContext: func(net.Listener) context.Context { return ctx }}
	runDone := make(chan struct{})
	go func() { defer close(runDone); s.Run(ctx) }()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	cancel()
	<-stopped
	<-runDone
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serving the dashboard: %w", err)
}
