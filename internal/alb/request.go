package alb

import (
	"bufio"
	"bytes"
	"math/rand/v2"
)

// request is one client request: what the request path needs to know about
// it, and its head as it goes to the target. It is reused for every request
// of a connection.
type request struct {
	// head is the outbound head: the request line, the client's fields
	// less the hop-by-hop ones, the fields the load balancer adds, CRLF.
	head      []byte
	size      int64 // bytes of the head as the client sent it
	methodEnd int   // head[:methodEnd] is the method
	targetEnd int   // head[methodEnd+1:targetEnd] is the request target
	minor     int   // the client's HTTP/1.minor
	length    int64
	chunked   bool
	keepAlive bool // the client's connection may carry another request
	upgrade   bool // the client asks to switch protocols (WebSocket)
	expect    bool // Expect: 100-continue, with a body
	// bodyDone: the body, if any, has been read from the client.
	bodyDone bool
	// bodyBegun: reading the body from the client began, so what is left
	// of it is no longer its length from here.
	bodyBegun bool
	// idStart and idEnd locate the X-Request-Id value in head.
	idStart, idEnd int

	xff        []byte // the client's X-Forwarded-For values, joined
	upgradeVal []byte // the client's Upgrade value
	drop       []byte // field names the Connection field lists, NUL-separated
}

func (r *request) method() []byte { return r.head[:r.methodEnd] }
func (r *request) target() []byte { return r.head[r.methodEnd+1 : r.targetEnd] }
func (r *request) id() []byte     { return r.head[r.idStart:r.idEnd] }

// hasBody reports whether the request carries a body.
func (r *request) hasBody() bool { return r.chunked || r.length > 0 }

// replayable reports whether the request may be sent again after it
// reached a target that closed the connection without answering: an
// idempotent method, as HTTP clients retry, with no body or one wholly
// buffered (buffered is how many body bytes are at hand).
func (r *request) replayable(buffered int) bool {
	switch string(r.method()) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return !r.hasBody()
	case "PUT", "DELETE":
		// Idempotent too (RFC 9110 9.2.2), so sent again only when the
		// whole body is at hand to send again: a fixed length, buffered.
		return !r.hasBody() || (!r.chunked && r.length <= int64(buffered))
	}
	return false
}

func (r *request) isHead() bool { return string(r.method()) == "HEAD" }

// readRequest reads a request head from br into r, building the outbound
// head. clientIP is the address X-Forwarded-For gets; lh names the
// listener; now is the coarse clock, for a new request ID. A malformed
// request fails with an *httpError.
func readRequest(br *bufio.Reader, r *request, clientIP []byte, lh *listenHead, now int64) error {
	head := r.head[:0]
	*r = request{head: head, xff: r.xff[:0], upgradeVal: r.upgradeVal[:0], drop: r.drop[:0], length: -1}
	var err error

	// The request line; a few empty lines before it are ignored (RFC 9112 2.2).
	var line []byte
	for empty := 0; ; empty++ {
		head, err = readLine(br, head[:0], maxHeadBytes-int(r.size), errHeadTooLarge)
		if err != nil {
			r.head = head
			return err
		}
		r.size += int64(len(head))
		if line = trimEOL(head); len(line) > 0 {
			break
		}
		if empty == 4 {
			return errBadRequest
		}
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 || !isToken(line[:sp1]) {
		return errBadRequest
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 {
		return errBadRequest
	}
	if !validTarget(rest[:sp2]) {
		return errBadRequest
	}
	switch v := rest[sp2+1:]; string(v) {
	case "HTTP/1.1":
		r.minor = 1
	case "HTTP/1.0":
		r.minor = 0
	default:
		if bytes.HasPrefix(v, []byte("HTTP/")) {
			return errBadVersion
		}
		return errBadRequest
	}
	if string(line[:sp1]) == "CONNECT" {
		return &httpError{405, "CONNECT is not supported"}
	}
	r.methodEnd = sp1
	r.targetEnd = sp1 + 1 + sp2
	head = append(head[:r.targetEnd], " HTTP/1.1\r\n"...)

	var (
		hasHost, hasTE, connClose, connKeep, connUpgrade, teTrailers bool
		hasID                                                        bool
	)
	r.idStart, r.idEnd = 0, 0
	for {
		// The limit counts the head as the client sent it, fields the
		// load balancer drops included.
		start := len(head)
		head, err = readLine(br, head, start+maxHeadBytes-int(r.size), errHeadTooLarge)
		if err != nil {
			r.head = head
			return err
		}
		r.size += int64(len(head) - start)
		line := trimEOL(head[start:])
		if len(line) == 0 {
			head = head[:start]
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errBadRequest // obsolete line folding
		}
		name, value, ok := parseField(line)
		if !ok {
			return errBadRequest
		}
		keep := true
		switch len(name) {
		case 2:
			if equalFold(name, "te") {
				connTokens(value, func(tok []byte) {
					if equalFold(tok, "trailers") {
						teTrailers = true
					}
				})
				keep = false
			}
		case 4:
			if equalFold(name, "host") {
				if hasHost {
					return errBadRequest
				}
				hasHost = true
			}
		case 6:
			if equalFold(name, "expect") {
				if !equalFold(value, "100-continue") {
					return &httpError{417, "unsupported expectation"}
				}
				r.expect = true
				keep = false
			}
		case 7:
			if equalFold(name, "upgrade") {
				r.upgradeVal = append(r.upgradeVal[:0], value...)
				keep = false
			}
		case 10:
			if equalFold(name, "connection") {
				connTokens(value, func(tok []byte) {
					switch {
					case equalFold(tok, "close"):
						connClose = true
					case equalFold(tok, "keep-alive"):
						connKeep = true
					case equalFold(tok, "upgrade"):
						connUpgrade = true
					case framingField(tok):
						// Never hop-by-hop: see framingField.
					default:
						r.drop = append(append(r.drop, tok...), 0)
					}
				})
				keep = false
			} else if equalFold(name, "keep-alive") {
				keep = false
			}
		case 12:
			if equalFold(name, "x-request-id") && !hasID {
				hasID = true
				// value is a sub-slice of line, so their capacities tell where it starts.
				r.idStart = start + cap(line) - cap(value)
				r.idEnd = r.idStart + len(value)
			}
		case 14:
			if equalFold(name, "content-length") {
				n, ok := parseContentLength(value)
				if !ok || (r.length >= 0 && n != r.length) {
					return errBadFraming
				}
				if r.length >= 0 {
					keep = false // a repeated, equal value
				}
				r.length = n
			} else if framingLookalike(name) {
				return errBadFraming
			}
		case 15:
			if equalFold(name, "x-forwarded-for") {
				if len(r.xff) > 0 {
					r.xff = append(r.xff, ", "...)
				}
				r.xff = append(r.xff, value...)
				keep = false
			}
		case 16:
			if equalFold(name, "x-forwarded-port") || equalFold(name, "proxy-connection") {
				keep = false
			}
		case 17:
			if equalFold(name, "transfer-encoding") {
				if hasTE || !equalFold(value, "chunked") {
					return errUnsupportedTE
				}
				hasTE = true
				keep = false
			} else if equalFold(name, "x-forwarded-proto") {
				keep = false
			} else if framingLookalike(name) {
				return errBadFraming
			}
		case 19:
			if equalFold(name, "proxy-authorization") {
				keep = false
			}
		}
		if keep {
			head = append(head[:start+len(line)], '\r', '\n')
		} else {
			head = head[:start]
		}
	}

	if hasTE {
		if r.length >= 0 || r.minor == 0 {
			return errBadFraming
		}
		r.chunked = true
	}
	if r.length < 0 {
		r.length = 0
	}
	if r.minor == 1 {
		if !hasHost {
			return errNoHost
		}
		r.keepAlive = !connClose
	} else {
		r.keepAlive = connKeep && !connClose
	}
	r.upgrade = connUpgrade && len(r.upgradeVal) > 0 && r.minor == 1
	r.expect = r.expect && r.hasBody() && r.minor == 1
	r.bodyDone = !r.hasBody()
	if len(r.drop) > 0 {
		head = dropFields(head, r.targetEnd, r.drop, &hasID, &r.idStart, &r.idEnd)
	}

	if !hasHost && lh != nil {
		head = append(head, lh.host...)
	}
	if r.upgrade {
		head = append(head, "Connection: Upgrade\r\nUpgrade: "...)
		head = append(head, r.upgradeVal...)
		head = append(head, '\r', '\n')
	}
	if r.chunked {
		head = append(head, "Transfer-Encoding: chunked\r\n"...)
	}
	if teTrailers {
		head = append(head, "Te: trailers\r\n"...)
	}
	head = append(head, "X-Forwarded-For: "...)
	if len(r.xff) > 0 {
		head = append(append(head, r.xff...), ", "...)
	}
	head = append(head, clientIP...)
	head = append(head, "\r\nX-Forwarded-Proto: http\r\n"...)
	if lh != nil {
		head = append(head, lh.port...)
	}
	if !hasID {
		head = append(head, "X-Request-Id: "...)
		r.idStart = len(head)
		head = appendRequestID(head, now)
		r.idEnd = len(head)
		head = append(head, '\r', '\n')
	}
	r.head = append(head, '\r', '\n')
	return nil
}

// validTarget reports whether a request target has one of the forms a
// proxy takes (RFC 9112 3.2): a path ("/..."), an absolute URI
// ("scheme:..."), or "*"; and no white space or control bytes.
func validTarget(t []byte) bool {
	for _, c := range t {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	switch {
	case len(t) == 0:
		return false
	case t[0] == '/' || (len(t) == 1 && t[0] == '*'):
		return true
	}
	// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":".
	for i, c := range t {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return true
		default:
			return false
		}
	}
	return false
}

// dropFields removes from head (fields from offset from on, each ending in
// CRLF) the fields named in names (NUL-separated), keeping the request ID
// offsets right.
func dropFields(head []byte, from int, names []byte, hasID *bool, idStart, idEnd *int) []byte {
	// Skip the request line or status line.
	if i := bytes.Index(head[from:], []byte("\r\n")); i >= 0 {
		from += i + 2
	}
	out := from
	for pos := from; pos < len(head); {
		end := bytes.Index(head[pos:], []byte("\r\n"))
		if end < 0 {
			break
		}
		field := head[pos : pos+end+2]
		name := field[:max(bytes.IndexByte(field, ':'), 0)]
		if listed(names, name) {
			if *hasID && *idStart >= pos && *idStart < pos+len(field) {
				*hasID = false
			}
		} else {
			if *hasID && *idStart >= pos && *idStart < pos+len(field) {
				*idStart -= pos - out
				*idEnd -= pos - out
			}
			out += copy(head[out:], field)
		}
		pos += len(field)
	}
	return head[:out]
}

// listed reports whether name is one of the NUL-separated names.
func listed(names, name []byte) bool {
	for len(names) > 0 {
		i := bytes.IndexByte(names, 0)
		if bytes.EqualFold(names[:i], name) {
			return true
		}
		names = names[i+1:]
	}
	return false
}

// appendRequestID appends a request ID shaped like an X-Amzn-Trace-Id
// root: version 1, the time in hex seconds, 96 random bits.
func appendRequestID(b []byte, unixSec int64) []byte {
	b = append(b, '1', '-')
	b = appendHex(b, uint64(unixSec), 8)
	b = append(b, '-')
	b = appendHex(b, uint64(rand.Uint32()), 8)
	return appendHex(b, rand.Uint64(), 16)
}

func appendHex(b []byte, v uint64, digits int) []byte {
	const hex = "0123456789abcdef"
	n := len(b)
	for range digits {
		b = append(b, 0)
	}
	for i := len(b) - 1; i >= n; i-- {
		b[i] = hex[v&0xf]
		v >>= 4
	}
	return b
}
