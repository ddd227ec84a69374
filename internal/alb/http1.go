package alb

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// This file reads and writes HTTP/1.x message heads and bodies on buffered
// connections, without building header maps: a request head is copied into
// the outbound head as it is parsed, dropping the hop-by-hop fields, so the
// request path allocates nothing per request.

const (
	// maxHeadBytes bounds a request or response head, as an ALB's 64 KB.
	maxHeadBytes = 64 << 10
	// maxChunkLine bounds a chunk-size line, extensions included.
	maxChunkLine = 4 << 10
)

// httpError is a request the load balancer answers itself with status.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

var (
	errHeadTooLarge   = &httpError{431, "request head too large"}
	errBadRequest     = &httpError{400, "malformed request"}
	errBadFraming     = &httpError{400, "conflicting or invalid message framing"}
	errBadVersion     = &httpError{505, "unsupported HTTP version"}
	errUnsupportedTE  = &httpError{501, "unsupported transfer encoding"}
	errNoHost         = &httpError{400, "missing Host header"}
	errBadResponse    = errors.New("malformed response from target")
	errResponseTooBig = errors.New("response head from target too large")
	errBadChunk       = errors.New("malformed chunked body")
)

// readLine appends one line, terminator included, to dst. It fails with
// tooLarge once dst would exceed limit.
func readLine(br *bufio.Reader, dst []byte, limit int, tooLarge error) ([]byte, error) {
	for {
		frag, err := br.ReadSlice('\n')
		if len(dst)+len(frag) > limit {
			return dst, tooLarge
		}
		dst = append(dst, frag...)
		if err == nil {
			return dst, nil
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF && len(dst) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return dst, err
		}
	}
}

// trimEOL removes the line terminator, CRLF or a bare LF.
func trimEOL(line []byte) []byte {
	line = line[:len(line)-1] // '\n'
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}

// tcharTable tells the bytes that may appear in a token (method, field name).
var tcharTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tcharTable[c] {
			return false
		}
	}
	return true
}

// validValue reports whether b is a field value without control bytes
// other than tab (CR, LF and NUL included).
func validValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// trimOWS removes optional white space around a field value.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares b with the lower-case ASCII string s, ignoring case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// parseField splits a header line (terminator removed) into name and value.
// A name must be a token directly followed by a colon.
func parseField(line []byte) (name, value []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return nil, nil, false
	}
	name = line[:i]
	if !isToken(name) {
		return nil, nil, false
	}
	value = trimOWS(line[i+1:])
	if !validValue(value) {
		return nil, nil, false
	}
	return name, value, true
}

// parseContentLength parses a Content-Length value: digits only.
func parseContentLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// framingField reports whether a field name is one that says where a
// message ends or where it goes: Content-Length, Transfer-Encoding, Host.
// These are never hop-by-hop, whatever a Connection field names: dropping
// one while the body it frames is still forwarded would make the next hop
// read the body as another message.
func framingField(name []byte) bool {
	return equalFold(name, "content-length") || equalFold(name, "transfer-encoding") || equalFold(name, "host")
}

// framingLookalike reports whether name has an underscore and reads as Content-Length or Transfer-Encoding once underscores become
// dashes, as CGI-style servers map them.
func framingLookalike(name []byte) bool {
	var buf [17]byte
	if (len(name) != 14 && len(name) != 17) || bytes.IndexByte(name, '_') < 0 {
		return false
	}
	for i, c := range name {
		if c == '_' {
			c = '-'
		}
		buf[i] = c
	}
	return framingField(buf[:len(name)])
}

// connTokens calls f with each comma-separated token of a Connection value.
func connTokens(v []byte, f func(tok []byte)) {
	for len(v) > 0 {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			tok, v = v, nil
		}
		if tok = trimOWS(tok); len(tok) > 0 {
			f(tok)
		}
	}
}

// parseStatusLine parses "HTTP/1.x SP code [SP reason]" and returns the
// code, the minor version and the reason phrase.
func parseStatusLine(line []byte) (code int, minor int, reason []byte, ok bool) {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, 0, nil, false
	}
	switch line[7] {
	case '0':
		minor = 0
	case '1':
		minor = 1
	default:
		return 0, 0, nil, false
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return 0, 0, nil, false
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 {
		return 0, 0, nil, false
	}
	rest := line[12:]
	if len(rest) > 0 {
		if rest[0] != ' ' {
			return 0, 0, nil, false
		}
		reason = rest[1:]
		if !validValue(reason) {
			return 0, 0, nil, false
		}
	}
	return code, minor, reason, true
}

// bodyless reports whether a response with this status has no body.
func bodyless(code int) bool {
	return code < 200 || code == 204 || code == 304
}

// copyN copies exactly n bytes from src to dst. Before a read that would
// wait for the network, it calls flush, so a streamed body reaches the
// other side as it arrives. It counts the bytes it wrote.
func copyN(dst *bufio.Writer, src *bufio.Reader, n int64, flush func() error, buf []byte) (int64, error) {
	var done int64
	for done < n {
		if src.Buffered() == 0 {
			if err := flush(); err != nil {
				return done, err
			}
			if n-done >= int64(len(buf)) {
				// Large remainder: read straight into the copy buffer.
				m, err := src.Read(buf)
				if m > 0 {
					if _, werr := dst.Write(buf[:m]); werr != nil {
						return done, werr
					}
					done += int64(m)
				}
				if err != nil {
					return done, eofIsUnexpected(err)
				}
				continue
			}
			if _, err := src.Peek(1); err != nil {
				return done, eofIsUnexpected(err)
			}
		}
		chunk := src.Buffered()
		if rem := n - done; int64(chunk) > rem {
			chunk = int(rem)
		}
		p, _ := src.Peek(chunk)
		if _, err := dst.Write(p); err != nil {
			return done, err
		}
		_, _ = src.Discard(chunk)
		done += int64(chunk)
	}
	return done, nil
}

// copyUntilEOF copies src to dst until src ends. With chunk set, it writes
// the body with the chunked coding, the last chunk included.
func copyUntilEOF(dst *bufio.Writer, src *bufio.Reader, chunk bool, flush func() error, buf []byte) (int64, error) {
	var done int64
	for {
		if src.Buffered() == 0 {
			if err := flush(); err != nil {
				return done, err
			}
		}
		m, err := src.Read(buf)
		if m > 0 {
			var werr error
			if chunk {
				werr = writeChunk(dst, buf[:m])
			} else {
				_, werr = dst.Write(buf[:m])
			}
			if werr != nil {
				return done, werr
			}
			done += int64(m)
		}
		if err == io.EOF {
			if chunk {
				_, err := dst.WriteString("0\r\n\r\n")
				return done, err
			}
			return done, nil
		}
		if err != nil {
			return done, err
		}
	}
}

func writeChunk(w *bufio.Writer, p []byte) error {
	writeChunkSize(w, int64(len(p)))
	_, _ = w.Write(p)
	_, err := w.WriteString("\r\n")
	return err
}

// copyChunked copies a chunked body from src to dst, checking its framing
// so that the message ends exactly where the sender's does. What it writes
// is the canonical form of what it read: each chunk-size line becomes the
// size in hex and CRLF (chunk extensions, which belong to one hop, are
// dropped), trailer fields pass through but for the framing ones. Every
// line of the coding must end in CRLF (RFC 9112 7.1; a bare LF is how
// parsers that tolerate it are made to disagree). It returns the bytes it
// read.
func copyChunked(dst *bufio.Writer, src *bufio.Reader, flush func() error, buf []byte) (int64, error) {
	var done, excess int64
	// Lines are read into buf, which holds no data between copyN calls.
	for {
		if src.Buffered() == 0 {
			if err := flush(); err != nil {
				return done, err
			}
		}
		line, err := readLine(src, buf[:0], maxChunkLine, errBadChunk)
		if err != nil {
			return done, eofIsUnexpected(err)
		}
		done += int64(len(line))
		size, ok := parseChunkSize(line)
		if !ok {
			return done, errBadChunk
		}
		// As net/http's reader: chunk-size lines and CRLFs may cost 16
		// bytes per chunk plus twice the data, with 16 KB of slack, so
		// that extensions cannot make a body mostly overhead.
		excess = max(excess+int64(len(line))-16-2*size, 0)
		if excess > 16<<10 {
			return done, errBadChunk
		}
		writeChunkSize(dst, size)
		if size == 0 {
			break
		}
		n, err := copyN(dst, src, size, flush, buf)
		done += n
		if err != nil {
			return done, err
		}
		if src.Buffered() < 2 {
			if err := flush(); err != nil {
				return done, err
			}
		}
		crlf, err := src.Peek(2)
		if err != nil {
			return done, eofIsUnexpected(err)
		}
		if crlf[0] != '\r' || crlf[1] != '\n' {
			return done, errBadChunk
		}
		_, _ = dst.Write(crlf)
		_, _ = src.Discard(2)
		done += 2
	}
	// Trailer fields, then the empty line.
	total := 0
	for {
		if src.Buffered() == 0 {
			if err := flush(); err != nil {
				return done, err
			}
		}
		line, err := readLine(src, buf[:0], maxHeadBytes-total, errBadChunk)
		if err != nil {
			return done, eofIsUnexpected(err)
		}
		total += len(line)
		done += int64(len(line))
		if !endsCRLF(line) {
			return done, errBadChunk
		}
		field := line[:len(line)-2]
		if len(field) == 0 {
			_, err := dst.Write(line)
			return done, err
		}
		name, _, ok := parseField(field)
		if !ok {
			return done, errBadChunk // obsolete line folding included
		}
		if !framingField(name) {
			_, _ = dst.Write(line)
		}
	}
}

// endsCRLF reports whether line ends in CRLF and has no other CR.
func endsCRLF(line []byte) bool {
	n := len(line)
	return n >= 2 && line[n-2] == '\r' && line[n-1] == '\n' && bytes.IndexByte(line[:n-2], '\r') < 0
}

// parseChunkSize parses a chunk-size line, CRLF included: hex digits from
// the start, then either optional white space or a chunk extension right
// after them (";..."). It accepts no more than net/http's reader does.
func parseChunkSize(line []byte) (int64, bool) {
	if !endsCRLF(line) {
		return 0, false
	}
	line = line[:len(line)-2]
	var n int64
	i := 0
	for ; i < len(line); i++ {
		d, ok := hexDigit(line[i])
		if !ok {
			break
		}
		if i == 15 {
			return 0, false // past 2^60: no body is that long
		}
		n = n<<4 | int64(d)
	}
	if i == 0 {
		return 0, false
	}
	switch ext := line[i:]; {
	case len(ext) == 0:
	case ext[0] == ';':
		if !validValue(ext) {
			return 0, false
		}
	default:
		if len(trimOWS(ext)) != 0 {
			return 0, false
		}
	}
	return n, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// writeChunkSize writes a chunk-size line: the size in hex, CRLF.
func writeChunkSize(w *bufio.Writer, size int64) {
	shift := 0
	for s := size >> 4; s > 0; s >>= 4 {
		shift += 4
	}
	for ; shift >= 0; shift -= 4 {
		_ = w.WriteByte("0123456789abcdef"[size>>shift&0xf])
	}
	_, _ = w.WriteString("\r\n")
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
