package alb

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"time"
)

// failKind is how an attempt to proxy a request to a target failed.
type failKind int

const (
	failNone failKind = iota
	// failConnect: no connection to the target; nothing was sent.
	failConnect
	// failNotSent: the connection failed before any byte of the request
	// was written, and no byte of the client's body was consumed.
	failNotSent
	// failNoResponse: the request (or part of it) was written, and the
	// target closed or reset the connection before any byte of a response.
	failNoResponse
	// failTimeout: the target did not answer within the idle timeout.
	failTimeout
	// failBad: a malformed or cut-off response head, or the target failed
	// after answering began.
	failBad
	// failCut: the load balancer closed the target connection (the
	// deregistration delay ran out, or shutdown).
	failCut
	// failClient: the client's side failed while its body was being read.
	failClient
	// failClientBody: the client's chunked body is malformed.
	failClientBody
)

var failText = [...]string{
	failConnect:    "target connection failed",
	failNotSent:    "target connection failed",
	failNoResponse: "target closed the connection without a response",
	failTimeout:    "target did not answer within the idle timeout",
	failBad:        "malformed or incomplete response from target",
	failCut:        "request cut: deregistration delay over or shutting down",
	failClient:     "client connection failed",
	failClientBody: "malformed request body",
}

// handle reads and answers one request. It reports whether the connection
// may carry another.
func (c *conn) handle() bool {
	lb := c.lb
	rs := lb.routes.Load()
	e := &c.entry
	*e = logEntry{}
	sentBefore := c.out.n
	err := readRequest(c.br, &c.req, c.ip, lb.listenHead.Load(), lb.clock.Load())
	if lb.timed {
		e.start = time.Now()
	}
	var keep bool
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			return false // the client closed, or went silent mid-head
		}
		c.req.keepAlive = false
		c.req.methodEnd, c.req.targetEnd = 0, 0
		c.linger = true // the rest of the head may still be coming
		c.answer(he.status, he.msg, rs)
	} else {
		keep = c.proxy(rs)
	}
	if lb.timed {
		e.sentBytes = c.out.n - sentBefore
		c.record()
	}
	return keep
}

// proxy sends the request to a target, with the retries described in
// README.md, and relays the response.
func (c *conn) proxy(rs *routeSet) bool {
	r, e := &c.req, &c.entry
	t := c.pick(rs)
	if t == nil {
		return c.answer(http.StatusServiceUnavailable, "no target available", rs)
	}
	replayable := r.replayable(c.br.Buffered())
	fresh, redone := false, false
	for {
		e.target = t
		u, dialed, err := t.pool.get(fresh)
		var f failKind
		if err != nil {
			c.lb.metrics.connError()
			f = failConnect
		} else {
			f = c.exchange(u, rs)
			if f == failNone {
				c.consumeSentBody()
				keep := c.relay(u, t, rs)
				t.release()
				return keep
			}
			c.cur.Store(nil)
			if u.cut.Load() {
				f = failCut
			}
			t.pool.discard(u)
		}
		safe := f == failConnect || f == failNotSent || (f == failNoResponse && replayable)
		if safe && !dialed && !redone {
			// A kept-alive connection the target had closed: once more on
			// a new connection to the same target, as HTTP clients do.
			redone, fresh = true, true
			continue
		}
		if safe && rs.retry && !e.retried {
			if t2 := c.lb.routes.Load().pickOther(t); t2 != nil && t2.acquire() {
				c.lb.log.Debug("retrying on another target", "target", t.id, "retry_target", t2.id, "why", failText[f], "err", err)
				c.lb.metrics.retry()
				t.release()
				t, e.retried = t2, true
				fresh, redone = false, false
				continue
			}
		}
		t.release()
		c.lb.log.Debug("proxy error", "target", t.id, "addr", t.addr, "why", failText[f], "err", err)
		return c.fail(f, err, rs)
	}
}

// pick chooses and counts a target, or returns nil when there is none.
func (c *conn) pick(rs *routeSet) *target {
	for range 4 {
		t := rs.pick()
		if t == nil {
			return nil
		}
		if t.acquire() {
			return t
		}
		rs = c.lb.routes.Load() // t began draining: pick again
	}
	return nil
}

// fail answers a request that could not be proxied.
func (c *conn) fail(f failKind, err error, rs *routeSet) bool {
	switch f {
	case failClient:
		return false
	case failClientBody:
		c.req.keepAlive = false
		return c.answer(http.StatusBadRequest, failText[f], rs)
	case failTimeout:
		return c.answer(http.StatusGatewayTimeout, failText[f], rs)
	case failConnect:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return c.answer(http.StatusGatewayTimeout, "target connection timed out", rs)
		}
	}
	return c.answer(http.StatusBadGateway, failText[f], rs)
}

// exchange sends the request on u and reads the response head into c.resp.
func (c *conn) exchange(u *upstream, rs *routeSet) failKind {
	r, e := &c.req, &c.entry
	c.cur.Store(u)
	if c.killed.Load() {
		return failClient
	}
	u.written, u.werr = 0, nil
	switch {
	case !r.hasBody():
		// The head alone never fills the socket buffer of a connection the
		// target has read everything from: no write deadline needed.
		_ = u.nc.SetReadDeadline(time.Now().Add(rs.idle))
		if _, err := u.Write(r.head); err != nil {
			return notSent(u)
		}
	case !r.chunked && r.length <= int64(c.br.Buffered()):
		// The whole body is here: send it with the head, and consume it
		// only once the target has answered (consumeSentBody), so an
		// idempotent request can be sent again after a lost connection.
		body, _ := c.br.Peek(int(r.length))
		_ = u.nc.SetDeadline(time.Now().Add(rs.idle))
		c.ubw.Reset(u)
		_, _ = c.ubw.Write(r.head)
		_, _ = c.ubw.Write(body)
		if err := c.ubw.Flush(); err != nil {
			return notSent(u)
		}
	default:
		r.bodyBegun = true
		_ = u.nc.SetDeadline(time.Now().Add(rs.idle))
		c.ubw.Reset(u)
		_, _ = c.ubw.Write(r.head)
		if r.expect {
			_, _ = c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if err := c.bw.Flush(); err != nil {
				return failClient
			}
		}
		idle := rs.idle
		flush := func() error {
			now := time.Now()
			_ = c.nc.SetReadDeadline(now.Add(idle))
			_ = u.nc.SetWriteDeadline(now.Add(idle))
			return c.ubw.Flush()
		}
		var n int64
		var err error
		if r.chunked {
			n, err = copyChunked(c.ubw, c.br, flush, c.copyBuf())
		} else {
			n, err = copyN(c.ubw, c.br, r.length, flush, c.copyBuf())
		}
		e.received += n
		if err == nil {
			err = c.ubw.Flush()
		}
		if err != nil {
			switch {
			case u.cut.Load():
				return failCut
			case u.werr != nil:
				return failNoResponse // the target went away while taking the body
			case err == errBadChunk:
				return failClientBody
			default:
				return failClient
			}
		}
		r.bodyDone = true
		// The target's answer may take up to the idle timeout from now.
		_ = u.nc.SetReadDeadline(time.Now().Add(rs.idle))
	}
	if c.lb.access != nil {
		e.sent = time.Now()
	}
	c.ubr.Reset(u.nc)
	for {
		err := readResponse(c.ubr, &c.resp)
		if err != nil {
			var ne net.Error
			switch {
			case u.cut.Load():
				return failCut
			case errors.As(err, &ne) && ne.Timeout():
				return failTimeout
			case !c.resp.got:
				return failNoResponse
			default:
				return failBad
			}
		}
		code := c.resp.code
		if code >= 200 || code == 101 {
			break
		}
		// An interim response: 100 Continue was the load balancer's to
		// send; others (103 Early Hints) go to an HTTP/1.1 client.
		if code != 100 && r.minor == 1 {
			_, _ = c.bw.Write(c.resp.head)
			_, _ = c.bw.WriteString("\r\n")
			if err := c.bw.Flush(); err != nil {
				return failClient
			}
		}
	}
	if c.resp.code == 101 && !(r.upgrade && c.resp.upgrade) {
		return failBad
	}
	return failNone
}

// notSent classifies a failed first write of a request.
func notSent(u *upstream) failKind {
	if u.cut.Load() {
		return failCut
	}
	if u.written == 0 {
		return failNotSent
	}
	return failNoResponse
}

// Response body framings, as relayed to the client.
const (
	bodyNone      = iota
	bodyLength    // Content-Length
	bodyChunked   // chunked, passed through
	bodyDechunk   // chunked from the target, decoded for an HTTP/1.0 client
	bodyEOF       // until the target closes, passed through; the client's connection closes too
	bodyEOFChunks // until the target closes, sent chunked to an HTTP/1.1 client
)

// framing decides how the body of response p goes to the client: head
// tells a response to HEAD, minor is the client's HTTP/1.minor and keep
// whether its connection may stay open so far. It returns the body mode
// and whether the connection stays open after this response.
func framing(head bool, minor int, keep bool, p *response) (mode int, keepAfter bool) {
	switch {
	case head || bodyless(p.code):
		return bodyNone, keep
	case p.chunked && minor == 0:
		return bodyDechunk, false
	case p.chunked:
		return bodyChunked, keep
	case p.length >= 0:
		return bodyLength, keep
	case minor == 1 && keep:
		return bodyEOFChunks, true
	}
	return bodyEOF, false
}

// relay writes the response whose head is in c.resp to the client,
// followed by its body from u, then returns u to the pool when it can
// carry another request. It reports whether the client's connection may
// carry another request.
func (c *conn) relay(u *upstream, t *target, rs *routeSet) bool {
	r, p, e := &c.req, &c.resp, &c.entry
	if c.lb.access != nil {
		e.answered = time.Now()
	}
	e.status = p.code
	if p.code == 101 {
		return c.tunnel(u, t, rs)
	}
	mode, keep := framing(r.isHead(), r.minor, r.keepAlive && !c.closeAfter && !c.srv.shutting.Load(), p)
	switch mode {
	case bodyDechunk:
		p.withoutTE()
	case bodyEOFChunks:
		p.head = append(p.head, "Transfer-Encoding: chunked\r\n"...)
	}
	switch {
	case !keep:
		p.head = append(p.head, "Connection: close\r\n"...)
	case r.minor == 0:
		p.head = append(p.head, "Connection: keep-alive\r\n"...)
	}
	p.head = append(p.head, '\r', '\n')

	idle := rs.idle
	_ = c.nc.SetWriteDeadline(time.Now().Add(idle))
	sentBefore := c.out.n
	_, _ = c.bw.Write(p.head)
	flush := func() error {
		_ = c.nc.SetWriteDeadline(time.Now().Add(idle))
		err := c.bw.Flush()
		_ = u.nc.SetReadDeadline(time.Now().Add(idle))
		return err
	}
	var err error
	switch mode {
	case bodyLength:
		_, err = copyN(c.bw, c.ubr, p.length, flush, c.copyBuf())
	case bodyChunked:
		_, err = copyChunked(c.bw, c.ubr, flush, c.copyBuf())
	case bodyDechunk:
		_, err = io.CopyBuffer(c.bw, httputil.NewChunkedReader(c.ubr), c.copyBuf())
	case bodyEOF, bodyEOFChunks:
		_, err = copyUntilEOF(c.bw, c.ubr, mode == bodyEOFChunks, flush, c.copyBuf())
	}
	if err == nil {
		err = c.bw.Flush()
	}
	c.cur.Store(nil)
	if err != nil {
		cut := u.cut.Load()
		t.pool.discard(u)
		if c.out.err == nil && c.out.n == sentBefore {
			// Nothing reached the client yet: it gets an error instead.
			c.bw.Reset(&c.out)
			var ne net.Error
			switch {
			case cut:
				return c.fail(failCut, err, rs)
			case errors.As(err, &ne) && ne.Timeout():
				return c.fail(failTimeout, err, rs)
			}
			return c.fail(failBad, err, rs)
		}
		if c.out.err == nil {
			e.err = "target failed mid-response: " + err.Error()
		} else {
			e.err = "client connection failed mid-response"
		}
		return false
	}
	if p.reusable && mode != bodyEOF && mode != bodyEOFChunks && mode != bodyDechunk && c.ubr.Buffered() == 0 {
		t.pool.put(u, c.lb.clock.Load())
	} else {
		t.pool.discard(u)
	}
	return keep
}

// answer sends a response of the load balancer's own. It reports whether
// the connection may carry another request.
func (c *conn) answer(code int, why string, rs *routeSet) bool {
	r, e := &c.req, &c.entry
	e.status, e.err = code, why
	skipped := c.skipBody()
	if !skipped {
		c.linger = true // the body may still be coming
	}
	keep := r.keepAlive && !c.closeAfter && !c.srv.shutting.Load() && skipped
	body := errorBody(code)
	b := c.resp.head[:0]
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	b = append(b, "\r\nServer: hastack-alb\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	if !keep {
		b = append(b, "\r\nConnection: close"...)
	}
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	c.resp.head = b
	_ = c.nc.SetWriteDeadline(time.Now().Add(rs.idle))
	_, _ = c.bw.Write(b)
	if err := c.bw.Flush(); err != nil {
		return false
	}
	return keep
}

// consumeSentBody takes a body that exchange sent from the buffer (and
// left there, for a retry) off the client's stream, once answered.
func (c *conn) consumeSentBody() {
	r := &c.req
	if r.bodyDone || r.chunked || r.length > int64(c.br.Buffered()) {
		return
	}
	_, _ = c.br.Discard(int(r.length))
	c.entry.received += r.length
	r.bodyDone = true
}

// skipBody makes sure the request body is no longer in the way of the
// next request: read already, or buffered whole and discarded.
func (c *conn) skipBody() bool {
	r := &c.req
	if r.bodyDone {
		return true
	}
	if !r.chunked && !r.bodyBegun && r.length <= int64(c.br.Buffered()) {
		_, _ = c.br.Discard(int(r.length))
		r.bodyDone = true
		return true
	}
	return false
}

func errorBody(code int) string {
	switch code {
	case http.StatusBadGateway:
		return "502 Bad Gateway\n"
	case http.StatusServiceUnavailable:
		return "503 Service Temporarily Unavailable\n"
	case http.StatusGatewayTimeout:
		return "504 Gateway Time-out\n"
	}
	return strconv.Itoa(code) + " " + http.StatusText(code) + "\n"
}

// record counts the request in the metrics and the access log.
func (c *conn) record() {
	e := &c.entry
	e.end = time.Now()
	c.lb.metrics.request(e.status, e.end.Sub(e.start))
	if a := c.lb.access; a != nil {
		r := &c.req
		e.client = c.remote
		e.received += r.size
		if r.targetEnd > 0 {
			e.method, e.path, e.id = r.method(), r.target(), r.id()
		}
		c.line = e.appendJSON(c.line[:0])
		a.add(c.line)
	}
}
