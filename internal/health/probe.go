package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// Result is the outcome of one check.
type Result struct {
	At      time.Time
	Passed  bool
	Status  int // 0 when no response arrived
	Err     error
	Latency time.Duration
}

// Reason is a short explanation for status output, like ALB's reason codes.
func (r Result) Reason() string {
	switch {
	case r.Err != nil:
		return r.Err.Error()
	case !r.Passed:
		return fmt.Sprintf("health checks failed with code %d", r.Status)
	default:
		return ""
	}
}

// HTTPProbe is an HTTP GET health check. Each check opens a new connection,
// as both ALB and Route53 checkers do, so a dead listener is seen at once.
type HTTPProbe struct {
	URL string
	// ConnectTimeout bounds the TCP connection.
	ConnectTimeout time.Duration
	// Timeout bounds the whole check, connection included.
	Timeout time.Duration
	Matcher Matcher
	// Host overrides the Host header (Route53 sends the record's name).
	Host string
	// Source is the address checks connect from; invalid: the kernel's
	// choice. Set it with From.
	Source netip.Addr

	client *http.Client
}

// ProbeOption changes how NewHTTPProbe builds a probe.
type ProbeOption func(*HTTPProbe)

// From makes every check connect from addr, so the check leaves from an
// address of the checker's own failure domain and a packet filter between
// domains cuts it as it would cut a real checker.
func From(addr netip.Addr) ProbeOption {
	return func(p *HTTPProbe) { p.Source = addr }
}

// NewHTTPProbe builds a probe; a zero ConnectTimeout means Timeout.
func NewHTTPProbe(url string, connectTimeout, timeout time.Duration, m Matcher, opts ...ProbeOption) *HTTPProbe {
	if connectTimeout <= 0 || connectTimeout > timeout {
		connectTimeout = timeout
	}
	p := &HTTPProbe{
		URL:            url,
		ConnectTimeout: connectTimeout,
		Timeout:        timeout,
		Matcher:        m,
	}
	for _, o := range opts {
		o(p)
	}
	dialer := &net.Dialer{Timeout: connectTimeout}
	if p.Source.IsValid() {
		dialer.LocalAddr = &net.TCPAddr{IP: p.Source.AsSlice()}
	}
	p.client = &http.Client{
		Transport: &http.Transport{
			DialContext:       dialer.DialContext,
			DisableKeepAlives: true,
			Proxy:             nil,
		},
		// Checkers judge the first answer; they do not follow redirects.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p
}

// Check runs one GET and judges it.
func (p *HTTPProbe) Check(ctx context.Context) Result {
	start := time.Now()
	res := Result{At: start}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		res.Err = err
		return res
	}
	if p.Host != "" {
		req.Host = p.Host
	}
	req.Header.Set("User-Agent", "hastack-health-check")
	resp, err := p.client.Do(req)
	res.Latency = time.Since(start)
	if err != nil {
		res.Err = simplify(err)
		return res
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 8<<10))
	resp.Body.Close()
	res.Status = resp.StatusCode
	res.Passed = p.Matcher.Match(resp.StatusCode)
	return res
}

// simplify keeps the part of a transport error worth showing, so reasons
// read "dial tcp ...: connection refused" rather than a full URL error chain.
func simplify(err error) error {
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return errors.New("request timed out")
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return opErr
	}
	return err
}
