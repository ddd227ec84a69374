package alb

import (
	"bufio"
)

// response is a target's response head as it goes to the client: the
// status line and the target's fields less the hop-by-hop ones. The
// request path adds the fields for the client's connection and the blank
// line. It is reused for every response of a connection.
type response struct {
	head    []byte
	code    int
	minor   int
	length  int64 // -1 when absent
	chunked bool
	// teStart and teEnd locate the Transfer-Encoding field in head.
	teStart, teEnd int
	// reusable: the target keeps the connection open after this response.
	reusable bool
	upgrade  bool // a 101 with an Upgrade field
	drop     []byte
	// got reports whether any byte of the head arrived.
	got bool
}

// readResponse reads a response head from br into r.
func readResponse(br *bufio.Reader, r *response) error {
	*r = response{head: r.head[:0], drop: r.drop[:0], length: -1}
	head, err := readLine(br, r.head, maxHeadBytes, errResponseTooBig)
	size := len(head) // the head as the target sent it
	r.got = len(head) > 0
	if err != nil {
		r.head = head
		return err
	}
	line := trimEOL(head)
	code, minor, _, ok := parseStatusLine(line)
	if !ok {
		return errBadResponse
	}
	r.code, r.minor = code, minor
	copy(head[5:8], "1.1") // the client gets our version
	head = append(head[:len(line)], '\r', '\n')

	connClose, connKeep, hasTE := false, false, false
	for {
		start := len(head)
		head, err = readLine(br, head, start+maxHeadBytes-size, errResponseTooBig)
		if err != nil {
			r.head = head
			return eofIsUnexpected(err)
		}
		size += len(head) - start
		line := trimEOL(head[start:])
		if len(line) == 0 {
			head = head[:start]
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return errBadResponse
		}
		name, value, ok := parseField(line)
		if !ok {
			return errBadResponse
		}
		keep := true
		switch len(name) {
		case 2:
			keep = !equalFold(name, "te")
		case 7:
			if equalFold(name, "upgrade") {
				r.upgrade = code == 101
				keep = r.upgrade
			}
		case 10:
			if equalFold(name, "connection") {
				connTokens(value, func(tok []byte) {
					switch {
					case equalFold(tok, "close"):
						connClose = true
					case equalFold(tok, "keep-alive"):
						connKeep = true
					case equalFold(tok, "upgrade"), framingField(tok):
						// Kept: the upgrade is handled apart; framing
						// fields are never hop-by-hop (framingField).
					default:
						r.drop = append(append(r.drop, tok...), 0)
					}
				})
				keep = false
			} else if equalFold(name, "keep-alive") {
				keep = false
			}
		case 14:
			if equalFold(name, "content-length") {
				n, ok := parseContentLength(value)
				if !ok || (r.length >= 0 && n != r.length) {
					return errBadResponse
				}
				if r.length >= 0 {
					keep = false
				}
				r.length = n
			}
		case 16:
			keep = !equalFold(name, "proxy-connection")
		case 17:
			if equalFold(name, "transfer-encoding") {
				// Only chunked, alone, and only from HTTP/1.1, as net/http
				// reads it: a coding list or an HTTP/1.0 message with
				// Transfer-Encoding is framed differently by different
				// clients.
				if hasTE || !equalFold(value, "chunked") || minor == 0 {
					return errBadResponse
				}
				hasTE, r.chunked = true, true
				r.teStart = start
				r.teEnd = start + len(line) + 2
			}
		}
		if keep {
			head = append(head[:start+len(line)], '\r', '\n')
		} else {
			head = head[:start]
		}
	}
	if hasTE && r.length >= 0 {
		return errBadResponse
	}
	if len(r.drop) > 0 {
		keptTE := r.chunked // never dropped: framingField
		head = dropFields(head, 0, r.drop, &keptTE, &r.teStart, &r.teEnd)
	}
	r.head = head
	if minor == 1 {
		r.reusable = !connClose
	} else {
		r.reusable = connKeep && !connClose
	}
	return nil
}

// withoutTE returns head less its Transfer-Encoding field, for a client
// that gets the body decoded.
func (r *response) withoutTE() []byte {
	if !r.chunked || r.teEnd <= r.teStart {
		return r.head
	}
	n := copy(r.head[r.teStart:], r.head[r.teEnd:])
	r.head = r.head[:r.teStart+n]
	r.teStart, r.teEnd = 0, 0
	return r.head
}
