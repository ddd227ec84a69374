package alb

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"
)

// handler is the listener's request path: pick a target, proxy to it.
type handler struct {
	lb *LB
}

func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := h.lb.routes.Load().pick()
	if t == nil {
		writeError(w, http.StatusServiceUnavailable)
		return
	}
	t.inflight.Add(1)
	defer t.inflight.Add(-1)
	t.proxy.ServeHTTP(w, r)
}

// newProxy builds t's reverse proxy. Every target has its own, so the
// request path needs no per-request state to know where it goes; all share
// the load balancer's connection pool and copy buffers.
func (lb *LB) newProxy(t *target) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:    func(pr *httputil.ProxyRequest) { lb.rewrite(pr, t.addr) },
		Transport:  lb.transport,
		BufferPool: lb.bufs,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			code := statusFor(err)
			lb.log.Debug("proxy error", "target", t.id, "addr", t.addr, "status", code, "err", err)
			writeError(w, code)
		},
		ErrorLog: slog.NewLogLogger(lb.log.Handler(), slog.LevelDebug),
	}
}

var protoHTTP = []string{"http"}

// rewrite addresses the outbound request to addr and sets the headers an
// ALB adds. The path, query and Host header pass through unchanged.
func (lb *LB) rewrite(pr *httputil.ProxyRequest, addr string) {
	out := pr.Out
	out.URL.Scheme = "http"
	out.URL.Host = addr
	h := out.Header
	if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		if prior := pr.In.Header["X-Forwarded-For"]; len(prior) > 0 {
			h["X-Forwarded-For"] = []string{strings.Join(prior, ", ") + ", " + ip}
		} else {
			h["X-Forwarded-For"] = []string{ip}
		}
	}
	// The proxy strips these; an ALB passes them through.
	for _, k := range [...]string{"Forwarded", "X-Forwarded-Host"} {
		if v := pr.In.Header[k]; v != nil {
			h[k] = v
		}
	}
	// The shared slices below are only read by the transport.
	h["X-Forwarded-Proto"] = protoHTTP
	if port := lb.fwdPort.Load(); port != nil {
		h["X-Forwarded-Port"] = *port
	}
	if len(h["X-Request-Id"]) == 0 {
		h["X-Request-Id"] = []string{newRequestID(time.Now())}
	}
}

// statusFor is the status an ALB answers when proxying fails: 504 when the
// target timed out, 502 for anything else (refused, reset, bad response).
func statusFor(err error) int {
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

var textPlain = []string{"text/plain; charset=utf-8"}

// writeError answers a request the load balancer could not proxy.
func writeError(w http.ResponseWriter, code int) {
	w.Header()["Content-Type"] = textPlain
	w.WriteHeader(code)
	var body string
	switch code {
	case http.StatusBadGateway:
		body = "502 Bad Gateway\n"
	case http.StatusServiceUnavailable:
		body = "503 Service Temporarily Unavailable\n"
	case http.StatusGatewayTimeout:
		body = "504 Gateway Time-out\n"
	default:
		body = http.StatusText(code) + "\n"
	}
	_, _ = io.WriteString(w, body)
}

// newRequestID makes an X-Request-Id shaped like an X-Amzn-Trace-Id root:
// version 1, the time in hex seconds, 96 random bits.
func newRequestID(now time.Time) string {
	const digits = "0123456789abcdef"
	var b [35]byte
	put := func(dst []byte, v uint64) {
		for i := len(dst) - 1; i >= 0; i-- {
			dst[i] = digits[v&0xf]
			v >>= 4
		}
	}
	b[0], b[1], b[10] = '1', '-', '-'
	put(b[2:10], uint64(now.Unix()))
	put(b[11:19], uint64(rand.Uint32()))
	put(b[19:35], rand.Uint64())
	return string(b[:])
}

// bufferPool recycles the buffers responses are copied through.
type bufferPool struct {
	pool sync.Pool
}

var _ httputil.BufferPool = (*bufferPool)(nil)

func newBufferPool() *bufferPool {
	return &bufferPool{pool: sync.Pool{New: func() any {
		b := make([]byte, 32<<10)
		return &b
	}}}
}

func (p *bufferPool) Get() []byte { return *p.pool.Get().(*[]byte) }

func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }
