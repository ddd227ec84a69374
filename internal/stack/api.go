package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sys/unix"

	"github.com/hastack/hastack/internal/spec"
)

// listenControl binds the control socket. Only the owner may connect:
// whoever can talk to it can fail regions and stop the stack. The socket
// is created 0600 by the umask in force at bind, so there is no moment at
// which another user could connect; the umask is the process's, and the
// stack binds before it starts anything that creates files.
func listenControl(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing stale control socket: %w", err)
	}
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("binding control socket %s: %w", path, err)
	}
	return ln, nil
}

// peerKey holds the uid of the process at the other end of a control
// connection, or -1 when the kernel could not tell.
type peerKey struct{}

// peerUID asks the kernel who is at the other end of c (SO_PEERCRED).
func peerUID(c net.Conn) int64 {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return -1
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1
	}
	uid := int64(-1)
	_ = raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			uid = int64(cred.Uid)
		}
	})
	return uid
}

// peerAllowed decides who may use the control socket: the stack's owner
// and root, nobody else, and no one the kernel cannot name.
func peerAllowed(peer int64, owner int) bool {
	return peer >= 0 && (peer == int64(owner) || peer == 0)
}

// ownerOnly refuses every request from a process that is neither the
// stack's owner nor root, in case the socket's mode is ever loosened.
func ownerOnly(owner int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer, ok := r.Context().Value(peerKey{}).(int64)
		if !ok {
			peer = -1
		}
		if !peerAllowed(peer, owner) {
			writeJSON(w, http.StatusForbidden, apiError{Error: fmt.Sprintf(
				"the control socket only serves uid %d, the stack's owner, and root; this request came from uid %d", owner, peer)})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// maxApplyBody admits a stack file of spec.MaxFileSize even with every
// byte escaped in JSON, so an oversized file is refused by the parser with
// its own sentence rather than cut off.
const maxApplyBody = 6*spec.MaxFileSize + 4096

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
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxApplyBody)).Decode(&req); err != nil {
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
	mux.HandleFunc("POST /v1/promote", st.promoteHandler())
	mux.HandleFunc("POST /v1/switchover", st.switchoverHandler())
	mux.HandleFunc("POST /v1/fail", st.faultHandler(st.Fail))
	mux.HandleFunc("POST /v1/recover", st.faultHandler(st.Recover))
	mux.HandleFunc("POST /v1/drill", st.drillHandler)
	mux.HandleFunc("POST /v1/down", func(w http.ResponseWriter, r *http.Request) {
		st.events.Add("stack.stop", "stop requested through the control API")
		writeJSON(w, http.StatusAccepted, struct{}{})
		st.down()
	})
	return mux
}

// operationTimeout bounds a fault, recovery or promotion asked for over
// the control API; the caller's own deadline does not end it.
const operationTimeout = 5 * time.Minute

// faultHandler serves /v1/fail, /v1/recover and /v1/promote, whose body
// is a Fault (a promotion names its region).
func (st *Stack) faultHandler(do func(context.Context, Fault) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Fault
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "the request body is not a fault"})
			return
		}
		// The operation runs to its end even if the caller goes away (a
		// Ctrl-C): stopping it half-way would leave the stack half-failed.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), operationTimeout)
		defer cancel()
		if err := do(ctx, req); err != nil {
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
	srv := &http.Server{
		Handler:           ownerOnly(os.Geteuid(), st.handler()),
		ReadHeaderTimeout: 5 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, peerKey{}, peerUID(c))
		},
	}
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
