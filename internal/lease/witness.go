package lease

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// WitnessConfig sets up a Witness.
type WitnessConfig struct {
	// Duration is the longest lease granted: the stack's fencing_lease.
	Duration time.Duration
	// Drift bounds how much slower than the witness's a holder's clock may
	// run, as a fraction (default 0.01).
	Drift float64
	// Margin is added to the takeover bound (default Duration/10).
	Margin time.Duration
	// Fresh says no lease can be outstanding when the witness starts: the
	// stack and its databases start with it. Otherwise the witness grants
	// nothing until a lease of Duration granted just before its start
	// could be taken over, since it cannot know what a previous run of it
	// granted.
	Fresh bool
	// Clock defaults to the system clock.
	Clock Clock
	// Logger records changes of holder (default: discard).
	Logger *slog.Logger
}

// Policy is the timing the witness decides by, with the defaults filled in.
func (c WitnessConfig) Policy() Policy {
	p := Policy{Duration: c.Duration, Drift: c.Drift, Margin: c.Margin}
	if p.Drift == 0 {
		p.Drift = 0.01
	}
	if p.Margin == 0 {
		p.Margin = c.Duration / 10
	}
	return p
}

// Witness grants the lease to one region at a time, over HTTP: it is the
// global control plane, reached from each region's own addresses.
type Witness struct {
	policy Policy
	clock  Clock
	log    *slog.Logger
	srv    *http.Server

	mu    sync.Mutex
	lease Lease
}

// NewWitness returns a witness that serves once given a listener.
func NewWitness(cfg WitnessConfig) (*Witness, error) {
	p := cfg.Policy()
	if p.Duration <= 0 || p.Drift < 0 || p.Drift >= 1 || p.Margin < 0 {
		return nil, fmt.Errorf("lease witness: duration %s, drift %g and margin %s: want a positive duration, a drift in [0, 1) and a margin not negative",
			p.Duration, p.Drift, p.Margin)
	}
	w := &Witness{policy: p, clock: cfg.Clock, log: cfg.Logger}
	if w.clock == nil {
		w.clock = systemClock{}
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if now := w.clock.Now(); cfg.Fresh {
		w.lease.FreeAt = now
	} else {
		w.lease.FreeAt = p.TakeoverAt(now, p.Duration)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+leasePath, w.handleAsk)
	mux.HandleFunc("GET "+leasePath, w.handleLease)
	w.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	return w, nil
}

// Serve answers requests on ln until Close; it returns nil once closed.
func (w *Witness) Serve(ln net.Listener) error {
	if err := w.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("lease witness on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Close stops serving and closes the listeners and open connections.
func (w *Witness) Close() error { return w.srv.Close() }

// Lease is the witness's record now: who holds it, until when.
func (w *Witness) Lease() Lease {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lease
}

// Policy is the timing the witness decides by.
func (w *Witness) Policy() Policy { return w.policy }

// decide answers req from the source address from. The instant is taken
// under the lock, so decisions are in the order of their instants, and
// after the request was read: later than its receipt, which only moves
// FreeAt later.
func (w *Witness) decide(req Request, from string) Answer {
	w.mu.Lock()
	defer w.mu.Unlock()
	prev := w.lease
	l, a := Decide(prev, req, w.clock.Now(), w.policy)
	if a.Granted {
		l.From = from
		a.Lease.From = from
	}
	w.lease = l
	switch {
	case l.Holder != prev.Holder && l.Holder != "":
		w.log.Info("lease granted", "holder", l.Holder, "epoch", l.Epoch, "previous", prev.Holder, "from", from, "duration", l.Duration)
	case l.Holder != prev.Holder:
		w.log.Info("lease released", "previous", prev.Holder, "epoch", l.Epoch)
	}
	return a
}

const (
	leasePath   = "/v1/lease"
	maxBodySize = 4 << 10
	maxRegion   = 64
)

func (w *Witness) handleAsk(rw http.ResponseWriter, r *http.Request) {
	var req Request
	dec := json.NewDecoder(http.MaxBytesReader(rw, r.Body, maxBodySize))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		http.Error(rw, "reading the lease request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if req.Region == "" || len(req.Region) > maxRegion {
		http.Error(rw, "the lease request names no region, or one longer than 64 bytes", http.StatusBadRequest)
		return
	}
	switch req.Op {
	case OpAcquire, OpRenew, OpRelease:
	default:
		http.Error(rw, fmt.Sprintf("unknown lease operation %q; want acquire, renew or release", req.Op), http.StatusBadRequest)
		return
	}
	from, _, _ := net.SplitHostPort(r.RemoteAddr)
	writeJSON(rw, w.decide(req, from))
}

func (w *Witness) handleLease(rw http.ResponseWriter, _ *http.Request) {
	writeJSON(rw, w.Lease())
}

func writeJSON(rw http.ResponseWriter, v any) {
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(v)
}
