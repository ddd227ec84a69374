package dashboard

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed assets
var assets embed.FS

var page = template.Must(template.ParseFS(assets, "assets/index.html"))

// actionTimeout bounds an action from the page, as the control API bounds
// its operations; the page going away does not end it.
const actionTimeout = 5 * time.Minute

// Handler serves the page, its assets, the event stream, the history,
// the actions and /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /api/events", s.events)
	mux.HandleFunc("GET /api/history", s.history)
	mux.HandleFunc("POST /api/action", s.action)
	if s.cfg.Metrics != nil {
		mux.Handle("GET /metrics", s.cfg.Metrics)
	}
	return loopbackHost(mux)
}

// loopbackHost refuses requests whose Host is not a loopback IP or
// localhost: a page from another site that rebinds its own name to
// 127.0.0.1 would otherwise count as this page's origin.
func loopbackHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopbackHost(r.Host) {
			http.Error(w, "the dashboard answers only to a loopback address or localhost", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isLoopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	err := page.Execute(&buf, struct {
		Token    string
		ReadOnly bool
	}{s.token, s.cfg.ReadOnly})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// Everything the page needs is served from here: no CDN, no inline
	// script, and no other site may frame it.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	_, _ = w.Write(buf.Bytes())
}

// events streams Server-Sent Events: the status at once and on every
// change, events as they happen, and a chart sample every step.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch, status := s.subscribe()
	defer s.unsubscribe(ch)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if status != nil {
		writeEvent(w, message{"status", status})
	}
	flusher.Flush()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case m, ok := <-ch:
			if !ok {
				return
			}
			writeEvent(w, m)
		}
		flusher.Flush()
	}
}

func writeEvent(w http.ResponseWriter, m message) {
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", m.event, m.data)
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	c := s.hist.columns()
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(c)
}

// action carries out an operator's action, once the request has shown it
// comes from this dashboard's own page.
func (s *Server) action(w http.ResponseWriter, r *http.Request) {
	if problem := s.authorize(r); problem != "" {
		writeError(w, http.StatusForbidden, problem)
		return
	}
	if s.cfg.ReadOnly {
		writeError(w, http.StatusForbidden, "the dashboard is read-only (dashboard { read_only = true })")
		return
	}
	var a Action
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&a); err != nil {
		writeError(w, http.StatusBadRequest, "the request body is not an action")
		return
	}
	if problem := a.check(); problem != "" {
		writeError(w, http.StatusBadRequest, problem)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), actionTimeout)
	defer cancel()
	if err := s.cfg.Actor.Act(ctx, a); err != nil {
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}\n"))
}

// authorize checks that a state-changing request carries the page's token
// and, when a browser sent it, comes from the page's own origin; it
// returns why not, or "".
func (s *Server) authorize(r *http.Request) string {
	got := r.Header.Get("X-Hastack-Token")
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
		return "this request does not carry the dashboard's token"
	}
	return sameOrigin(r)
}

// sameOrigin refuses a request a browser sent from another origin: its
// Origin (or Sec-Fetch-Site) must name this very host.
func sameOrigin(r *http.Request) string {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return "this request comes from another site (Sec-Fetch-Site: " + site + ")"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return ""
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host != r.Host || (u.Scheme != "http" && u.Scheme != "https") {
		return "this request comes from another origin (" + origin + ")"
	}
	return ""
}

// check refuses actions the page does not offer.
func (a Action) check() string {
	switch a.Verb {
	case "fail", "recover":
		switch a.Kind {
		case "region", "az", "instance":
			if a.Name == "" {
				return a.Verb + " " + a.Kind + " needs a name"
			}
		case "db-primary":
		default:
			return fmt.Sprintf("unknown kind %q (region, az, instance or db-primary)", a.Kind)
		}
	case "promote":
		if a.Name == "" {
			return "promote needs a region"
		}
	default:
		return fmt.Sprintf("unknown action %q (fail, recover or promote)", a.Verb)
	}
	return ""
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}
