package alb

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"testing"
)

// The differential fuzz targets hold the load balancer's HTTP/1.1 readers
// to net/http's: whatever the load balancer accepts, net/http must read
// the same way — same method and target or status, same body, ending at
// the same byte — both as the client sent it and as the load balancer
// forwards it. The load balancer may refuse more than net/http does, never
// frame differently. Seeds: testdata/fuzz/<name>/, the known smuggling
// families.

func noFlush() error { return nil }

// consumed is how much of data a reader built on src and br has used.
func consumed(data []byte, src *bytes.Reader, br *bufio.Reader) int {
	return len(data) - src.Len() - br.Buffered()
}

// skipEmptyLines returns how many bytes of the empty lines before a
// request line readRequest skips (RFC 9112 2.2); net/http skips none.
func skipEmptyLines(data []byte) int {
	n := 0
	for range 4 {
		switch {
		case bytes.HasPrefix(data[n:], []byte("\r\n")):
			n += 2
		case bytes.HasPrefix(data[n:], []byte("\n")):
			n++
		default:
			return n
		}
	}
	return n
}

// withTarget returns a copy of msg with the n bytes at i replaced by t.
func withTarget(msg []byte, i, n int, t string) []byte {
	out := make([]byte, 0, len(msg)-n+len(t))
	out = append(append(append(out, msg[:i]...), t...), msg[i+n:]...)
	return out
}

// goRequest reads one request and its whole body with net/http, and
// reports how many bytes of data that took.
func goRequest(data []byte) (*http.Request, []byte, int, error) {
	src := bytes.NewReader(data)
	br := bufio.NewReaderSize(src, 1<<20) // trailers are bounded by the buffer
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, 0, err
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, nil, 0, err
	}
	return req, body, consumed(data, src, br), nil
}

func FuzzRequestFraming(f *testing.F) {
	copyBuf := make([]byte, 512)
	f.Fuzz(func(t *testing.T, data []byte) {
		src := bytes.NewReader(data)
		br := bufio.NewReaderSize(src, bufSize)
		var r request
		if err := readRequest(br, &r, []byte("192.0.2.1"), testListen, 1); err != nil {
			return // refused
		}
		var fwd bytes.Buffer
		w := bufio.NewWriter(&fwd)
		_, _ = w.Write(r.head)
		var err error
		if r.chunked {
			_, err = copyChunked(w, br, noFlush, copyBuf)
		} else {
			_, err = copyN(w, br, r.length, noFlush, copyBuf)
		}
		_ = w.Flush()
		if err != nil {
			return // a refused or cut-off body: the connection closes
		}
		used := consumed(data, src, br)
		method, target := string(r.method()), string(r.target())

		// As the client sent it. A request target net/http cannot parse
		// (a bad %-escape, say) the load balancer passes through for the
		// target to judge; net/http then reads the message with "/"
		// instead, as framing does not depend on it.
		skip := skipEmptyLines(data)
		client := data[skip:]
		req, body, n, err := goRequest(client)
		var ue *url.Error
		if errors.As(err, &ue) {
			client = withTarget(client, r.methodEnd+1, len(target), "/")
			req, body, n, err = goRequest(client)
			n += len(data) - skip - len(client)
			target = "/"
		}
		switch {
		case err != nil:
			t.Fatalf("load balancer accepts what net/http refuses (%v):\n%q", err, data)
		default:
			if req.Method != method || req.RequestURI != target {
				t.Fatalf("request line: load balancer %s %s, net/http %s %s:\n%q", method, target, req.Method, req.RequestURI, data)
			}
			if chunked := len(req.TransferEncoding) > 0; chunked != r.chunked {
				t.Fatalf("chunked: load balancer %v, net/http %v:\n%q", r.chunked, chunked, data)
			}
			if !r.chunked && req.ContentLength != r.length {
				t.Fatalf("length: load balancer %d, net/http %d:\n%q", r.length, req.ContentLength, data)
			}
			if skip+n != used {
				t.Fatalf("message end: load balancer after %d bytes, net/http after %d:\n%q", used, skip+n, data)
			}
		}

		// As the target gets it: exactly one request, the same one.
		out := fwd.Bytes()
		if target == "/" && string(r.target()) != "/" {
			out = withTarget(out, r.methodEnd+1, len(r.target()), "/")
		}
		freq, fbody, fn, err := goRequest(out)
		if err != nil {
			t.Fatalf("net/http refuses the forwarded request (%v):\n%q\nfrom\n%q", err, out, data)
		}
		if freq.Method != method || freq.RequestURI != target || fn != len(out) {
			t.Fatalf("forwarded %s %s ending after %d of %d bytes, want %s %s:\n%q", freq.Method, freq.RequestURI, fn, len(out), method, target, out)
		}
		if chunked := len(freq.TransferEncoding) > 0; chunked != r.chunked {
			t.Fatalf("forwarded chunked %v, want %v:\n%q", chunked, r.chunked, out)
		}
		if req != nil && !bytes.Equal(fbody, body) {
			t.Fatalf("forwarded body %q, net/http read %q from the client's:\n%q", fbody, body, data)
		}
		if req != nil && req.Host != "" && freq.Host != req.Host {
			t.Fatalf("forwarded Host %q, client's %q", freq.Host, req.Host)
		}
	})
}

// goResponse reads one response and its whole body with net/http, and
// reports how many bytes of data that took.
func goResponse(data []byte, method string) (*http.Response, []byte, int, error) {
	src := bytes.NewReader(data)
	br := bufio.NewReaderSize(src, 1<<20)
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return nil, nil, 0, err
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, 0, err
	}
	return resp, body, consumed(data, src, br), nil
}

func FuzzResponseFraming(f *testing.F) {
	copyBuf := make([]byte, 512)
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		src := bytes.NewReader(data)
		br := bufio.NewReaderSize(src, bufSize)
		var p response
		if err := readResponse(br, &p); err != nil {
			return // refused: the client gets a 502
		}
		// As relay sends it to a keep-alive HTTP/1.1 client.
		mode, _ := framing(head, 1, true, &p)
		if p.code < 200 {
			mode = bodyNone // interim, or the switch to a tunnel
		}
		var fwd bytes.Buffer
		w := bufio.NewWriter(&fwd)
		_, _ = w.Write(p.head)
		if mode == bodyEOFChunks {
			_, _ = w.WriteString("Transfer-Encoding: chunked\r\n")
		}
		_, _ = w.WriteString("\r\n")
		var err error
		switch mode {
		case bodyLength:
			_, err = copyN(w, br, p.length, noFlush, copyBuf)
		case bodyChunked:
			_, err = copyChunked(w, br, noFlush, copyBuf)
		case bodyEOFChunks:
			_, err = copyUntilEOF(w, br, true, noFlush, copyBuf)
		}
		_ = w.Flush()
		if err != nil {
			return // refused or cut off: the client's connection is cut
		}
		used := consumed(data, src, br)

		// As the target sent it.
		resp, body, n, err := goResponse(data, method)
		if err != nil {
			t.Fatalf("load balancer accepts what net/http refuses (%v):\n%q", err, data)
		}
		if resp.StatusCode != p.code {
			t.Fatalf("status: load balancer %d, net/http %d:\n%q", p.code, resp.StatusCode, data)
		}
		if chunked := len(resp.TransferEncoding) > 0; mode != bodyNone && chunked != p.chunked {
			t.Fatalf("chunked: load balancer %v, net/http %v:\n%q", p.chunked, chunked, data)
		}
		if n != used {
			t.Fatalf("message end: load balancer after %d bytes, net/http after %d:\n%q", used, n, data)
		}

		// As the client gets it: the same response, nothing after it.
		out := fwd.Bytes()
		fresp, fbody, fn, err := goResponse(out, method)
		if err != nil {
			t.Fatalf("net/http refuses the forwarded response (%v):\n%q\nfrom\n%q", err, out, data)
		}
		if fresp.StatusCode != p.code || fn != len(out) || !bytes.Equal(fbody, body) {
			t.Fatalf("forwarded %d with body %q ending after %d of %d bytes; want %d with %q:\n%q", fresp.StatusCode, fbody, fn, len(out), p.code, body, out)
		}
	})
}
