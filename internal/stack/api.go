package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hastack/hastack/internal/spec"
)

// listenControl binds the control socket. Only the owner may connect:
// whoever can talk to it can fail regions and stop the stack.
func listenControl(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing stale control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("binding control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("securing control socket: %w", err)
	}
	return ln, nil
}

// faultRequest is the body of /v1/fail and /v1/recover.
type faultRequest struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// applyRequest carries a stack file to apply (or plan, with DryRun).
type applyRequest struct {
	Filename string `json:"filename"`
	Source   string `json:"source"`
	DryRun   bool   `json:"dry_run"`
}

type applyResponse struct {
	Changes []Change `json:"changes"`
	Error   string   `json:"error,omitempty"`
}

// dbURL carries a database URL with credentials; the socket is 0600.
type dbURL struct {
	URL string `json:"url"`
}

type apiError struct {
	Error string `json:"error"`
}

func (st *Stack) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, st.Status())
	})
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		events, err := ReadEvents(st.paths)
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, events)
	})
	mux.HandleFunc("GET /v1/db-url", func(w http.ResponseWriter, r *http.Request) {
		u, err := st.DatabaseURL(r.URL.Query().Get("reader") == "true", r.URL.Query().Get("region"))
		if err != nil {
			writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, dbURL{URL: u})
	})
	mux.HandleFunc("POST /v1/apply", func(w http.ResponseWriter, r *http.Request) {
		var req applyRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "the request body is not a stack file"})
			return
		}
		n, diags := spec.Parse(req.Filename, []byte(req.Source))
		if diags.HasErrors() {
			writeJSON(w, http.StatusBadRequest, apiError{Error: spec.FormatDiagnostics(diags)})
			return
		}
		changes, err := st.Apply(n, req.DryRun)
		if err != nil {
			writeJSON(w, http.StatusConflict, applyResponse{Changes: changes, Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, applyResponse{Changes: changes})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(st.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /v1/promote", st.faultHandler(func(ctx context.Context, _, region string) error { return st.Promote(ctx, region) }))
	mux.HandleFunc("POST /v1/fail", st.faultHandler(st.Fail))
	mux.HandleFunc("POST /v1/recover", st.faultHandler(st.Recover))
	mux.HandleFunc("POST /v1/down", func(w http.ResponseWriter, r *http.Request) {
		st.events.Add("stack.stop", "stop requested through the control API")
		writeJSON(w, http.StatusAccepted, struct{}{})
		st.down()
	})
	return mux
}

func (st *Stack) faultHandler(do func(context.Context, string, string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req faultRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "the request body is not a fault"})
			return
		}
		if err := do(r.Context(), req.Kind, req.Name); err != nil {
			writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// serveAPI serves the control API until ctx is done; the channel closes
// once the server has stopped.
func (st *Stack) serveAPI(ctx context.Context, ln net.Listener) (<-chan struct{}, error) {
	srv := &http.Server{Handler: st.handler(), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return done, nil
}
