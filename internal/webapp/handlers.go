package webapp

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"time"
)

const (
	// healthTimeout bounds the database round trip of /health.
	healthTimeout = time.Second
	defaultCPU    = 100 * time.Millisecond
	maxCPUMillis  = 10000
)

func (a *app) hello(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "hello from %s (%s) instance %s\n", a.region, a.az, a.instance)
}

// health answers 200 while the region's reader database answers SELECT 1
// within healthTimeout (or when no database is configured), else 503.
//
// The reader, not the writer: a region that can serve reads is worth
// routing users to. After the primary region is lost, the secondary stays
// healthy on its replica, so DNS fails over at once; writes fail there
// until the replica is promoted (by hand, as in the seed, or by hastack's
// automatic cross-region failover).
func (a *app) health(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if a.reader != nil {
		ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
		defer cancel()
		if err := a.reader.ping(ctx); err != nil {
			a.log.Warn("health check failed: database unreachable", "err", a.reader.redact(err))
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "unhealthy: database unreachable (%s)\n", a.reader.cause(err))
			return
		}
	}
	fmt.Fprintf(w, "ok region=%s az=%s instance=%s\n", a.region, a.az, a.instance)
}

// cpu burns one core for ?ms=N milliseconds (default 100, at most 10000).
func (a *app) cpu(w http.ResponseWriter, r *http.Request) {
	d := defaultCPU
	if s := r.URL.Query().Get("ms"); s != "" {
		ms, err := strconv.Atoi(s)
		if err != nil || ms < 0 || ms > maxCPUMillis {
			http.Error(w, fmt.Sprintf("ms must be a whole number from 0 to %d", maxCPUMillis), http.StatusBadRequest)
			return
		}
		d = time.Duration(ms) * time.Millisecond
	}
	start := time.Now()
	burn(r.Context(), d)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "burned CPU for %s\n", time.Since(start).Round(time.Microsecond))
}

// burn spins for d, or until ctx is done.
func burn(ctx context.Context, d time.Duration) {
	deadline := time.Now().Add(d)
	x := uint64(1)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for range 10000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	runtime.KeepAlive(x)
}
