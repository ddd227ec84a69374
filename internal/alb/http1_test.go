package alb

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

var testListen = newListenHead(fakeAddr("127.0.0.1:80"))

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

func parseReq(t *testing.T, raw string) (*request, error) {
	t.Helper()
	var r request
	err := readRequest(bufio.NewReader(strings.NewReader(raw)), &r, []byte("10.0.0.9"), testListen, 0x5759e988)
	return &r, err
}

func TestReadRequestBuildsOutboundHead(t *testing.T) {
	raw := "GET /a/b?c=d HTTP/1.1\r\n" +
		"Host: app.example.com\r\n" +
		"Connection: keep-alive, X-Hop\r\n" +
		"X-Hop: secret\r\n" +
		"Keep-Alive: timeout=5\r\n" +
		"Proxy-Connection: keep-alive\r\n" +
		"X-Forwarded-For: 203.0.113.7\r\n" +
		"X-Forwarded-For: 198.51.100.1\r\n" +
		"X-Forwarded-Proto: https\r\n" +
		"X-Forwarded-Port: 9999\r\n" +
		"X-Request-Id:  client-id \r\n" +
		"Accept: */*\r\n" +
		"TE: trailers, deflate\r\n" +
		"\r\n"
	r, err := parseReq(t, raw)
	if err != nil {
		t.Fatal(err)
	}
	want := "GET /a/b?c=d HTTP/1.1\r\n" +
		"Host: app.example.com\r\n" +
		"X-Request-Id:  client-id \r\n" +
		"Accept: */*\r\n" +
		"Te: trailers\r\n" +
		"X-Forwarded-For: 203.0.113.7, 198.51.100.1, 10.0.0.9\r\n" +
		"X-Forwarded-Proto: http\r\n" +
		"X-Forwarded-Port: 80\r\n" +
		"\r\n"
	if got := string(r.head); got != want {
		t.Fatalf("outbound head\n%q\nwant\n%q", got, want)
	}
	if string(r.method()) != "GET" || string(r.target()) != "/a/b?c=d" || string(r.id()) != "client-id" {
		t.Fatalf("method %q target %q id %q", r.method(), r.target(), r.id())
	}
	if !r.keepAlive || r.hasBody() || !r.replayable(0) || r.size != int64(len(raw)) {
		t.Fatalf("keepAlive %v body %v replayable %v size %d", r.keepAlive, r.hasBody(), r.replayable(0), r.size)
	}
}

func TestReadRequestFraming(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		status    int // 0: accepted
		keepAlive bool
		length    int64
		chunked   bool
		upgrade   bool
		contains  []string
		absent    []string
	}{
		{name: "content length", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n", keepAlive: true, length: 5, contains: []string{"Content-Length: 5\r\n"}},
		{name: "repeated equal lengths", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", keepAlive: true, length: 5},
		{name: "conflicting lengths", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", status: 400},
		{name: "bad length", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", status: 400},
		{name: "chunked", raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n", keepAlive: true, chunked: true, contains: []string{"Transfer-Encoding: chunked\r\n"}},
		{name: "length and chunked", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400},
		{name: "other coding", raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", status: 501},
		{name: "two codings fields", raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", status: 501},
		{name: "no host", raw: "GET / HTTP/1.1\r\n\r\n", status: 400},
		{name: "two hosts", raw: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: 400},
		{name: "space before colon", raw: "GET / HTTP/1.1\r\nHost : h\r\n\r\n", status: 400},
		{name: "folded line", raw: "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n  2\r\n\r\n", status: 400},
		{name: "control byte in value", raw: "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x00b\r\n\r\n", status: 400},
		{name: "bad method", raw: "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "http/2", raw: "GET / HTTP/2.0\r\nHost: h\r\n\r\n", status: 505},
		{name: "garbage", raw: "hello\r\n\r\n", status: 400},
		{name: "connect", raw: "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", status: 405},
		{name: "unknown expectation", raw: "PUT / HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n", status: 417},
		{name: "close", raw: "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", keepAlive: false},
		{name: "http/1.0 closes", raw: "GET / HTTP/1.0\r\n\r\n", keepAlive: false, contains: []string{"GET / HTTP/1.1\r\n", "Host: 127.0.0.1:80\r\n"}},
		{name: "http/1.0 keep-alive", raw: "GET / HTTP/1.0\r\nConnection: keep-alive\r\nHost: h\r\n\r\n", keepAlive: true, absent: []string{"127.0.0.1:80"}},
		{name: "leading empty line", raw: "\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", keepAlive: true},
		{name: "bare LF", raw: "GET / HTTP/1.1\nHost: h\n\n", keepAlive: true, contains: []string{"Host: h\r\n"}},
		{name: "websocket", raw: "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n",
			keepAlive: true, upgrade: true, contains: []string{"Connection: Upgrade\r\nUpgrade: websocket\r\n", "Sec-WebSocket-Key: k\r\n"}},
		{name: "upgrade without connection token", raw: "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", keepAlive: true, absent: []string{"Upgrade"}},
		{name: "expect continue", raw: "PUT / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", keepAlive: true, length: 1, absent: []string{"Expect"}},
		{name: "proxy authorization dropped", raw: "GET / HTTP/1.1\r\nHost: h\r\nProxy-Authorization: x\r\n\r\n", keepAlive: true, absent: []string{"Proxy-Authorization"}},
		{name: "connection names content-length", raw: "POST / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Content-Length, Host, Transfer-Encoding\r\nContent-Length: 5\r\n\r\n",
			keepAlive: true, length: 5, contains: []string{"Content-Length: 5\r\n", "Host: h\r\n"}},
		{name: "connection names transfer-encoding", raw: "POST / HTTP/1.1\r\nHost: h\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n",
			keepAlive: true, chunked: true, contains: []string{"Transfer-Encoding: chunked\r\n"}},
		{name: "content-length lookalike", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent_Length: 5\r\n\r\n", status: 400},
		{name: "transfer-encoding lookalike", raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer_encoding: chunked\r\n\r\n", status: 400},
		{name: "other underscores", raw: "GET / HTTP/1.1\r\nHost: h\r\nX_Custom_Field: 1\r\n\r\n", keepAlive: true, contains: []string{"X_Custom_Field: 1\r\n"}},
		{name: "chunked, identity", raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n", status: 501},
		{name: "xchunked", raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", status: 501},
		{name: "chunked with white space", raw: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \tchunked \r\n\r\n", keepAlive: true, chunked: true},
		{name: "chunked in http/1.0", raw: "POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", status: 400},
		{name: "comma-separated lengths", raw: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n", status: 400},
		{name: "bare CR", raw: "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", status: 400},
		{name: "absolute target", raw: "GET http://h/x HTTP/1.1\r\nHost: h\r\n\r\n", keepAlive: true, contains: []string{"GET http://h/x HTTP/1.1\r\n"}},
		{name: "asterisk target", raw: "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", keepAlive: true},
		{name: "target not a path", raw: "GET x HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "target without scheme", raw: "GET :x HTTP/1.1\r\nHost: h\r\n\r\n", status: 400},
		{name: "connection names request id", raw: "GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: mine\r\nConnection: x-request-id\r\n\r\n", keepAlive: true, absent: []string{"mine"}, contains: []string{"X-Request-Id: 1-5759e988-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseReq(t, tt.raw)
			var he *httpError
			switch {
			case tt.status != 0:
				if !errors.As(err, &he) || he.status != tt.status {
					t.Fatalf("error %v, want status %d", err, tt.status)
				}
				return
			case err != nil:
				t.Fatalf("readRequest: %v", err)
			}
			if r.keepAlive != tt.keepAlive || r.length != tt.length || r.chunked != tt.chunked || r.upgrade != tt.upgrade {
				t.Fatalf("keepAlive %v length %d chunked %v upgrade %v", r.keepAlive, r.length, r.chunked, r.upgrade)
			}
			head := string(r.head)
			for _, s := range tt.contains {
				if !strings.Contains(head, s) {
					t.Errorf("head lacks %q:\n%s", s, head)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(head, s) {
					t.Errorf("head has %q:\n%s", s, head)
				}
			}
			if !strings.HasSuffix(head, "\r\n\r\n") || strings.Count(head, "\r\n\r\n") != 1 {
				t.Errorf("head does not end with exactly one blank line:\n%q", head)
			}
			if id := string(r.id()); !strings.HasPrefix(head, "GET") && id == "" {
				t.Errorf("no request ID")
			}
		})
	}
}

func TestReadRequestLimits(t *testing.T) {
	huge := "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("a", maxHeadBytes) + "\r\n\r\n"
	if _, err := parseReq(t, huge); err != errHeadTooLarge {
		t.Fatalf("huge head: %v, want %v", err, errHeadTooLarge)
	}
	// Fields the load balancer drops count too: they must not grow a
	// head, or memory, without bound.
	for _, field := range []string{"X-Forwarded-For: 203.0.113.7", "Keep-Alive: 5", "Connection: x-a", "Proxy-Connection: keep-alive"} {
		dropped := "GET / HTTP/1.1\r\nHost: h\r\n" + strings.Repeat(field+"\r\n", maxHeadBytes/len(field)+1) + "\r\n"
		if _, err := parseReq(t, dropped); err != errHeadTooLarge {
			t.Fatalf("64 KB of %q fields: %v, want %v", field, err, errHeadTooLarge)
		}
	}
	if _, err := parseReq(t, strings.Repeat("\r\n", 4)+"GET /"+strings.Repeat("a", maxHeadBytes)+" HTTP/1.1\r\n\r\n"); err != errHeadTooLarge {
		t.Fatalf("huge request line: %v, want %v", err, errHeadTooLarge)
	}
	long := "GET / HTTP/1.1\r\nHost: h\r\nCookie: " + strings.Repeat("c", 20000) + "\r\n\r\n"
	r, err := parseReq(t, long)
	if err != nil || !strings.Contains(string(r.head), strings.Repeat("c", 20000)) {
		t.Fatalf("a 20 KB field: %v", err)
	}
	if _, err := parseReq(t, "GET / HTTP/1.1\r\nHost: h\r\n"); !errors.Is(err, io.ErrUnexpectedEOF) && err != io.EOF {
		t.Fatalf("truncated head: %v", err)
	}
}

func TestReadResponse(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		bad      bool
		code     int
		length   int64
		chunked  bool
		reusable bool
		head     string
	}{
		{name: "plain", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n\r\n", code: 200, length: 2, reusable: true,
			head: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n"},
		{name: "hop-by-hop dropped", raw: "HTTP/1.1 200 OK\r\nConnection: X-B\r\nX-B: 2\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n", code: 200, length: 0, reusable: true,
			head: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"},
		{name: "close", raw: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", code: 200, length: 0,
			head: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"},
		{name: "http/1.0 becomes 1.1", raw: "HTTP/1.0 404 Not Found\r\n\r\n", code: 404, length: -1, head: "HTTP/1.1 404 Not Found\r\n"},
		{name: "http/1.0 keep-alive", raw: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", code: 200, length: 1, reusable: true,
			head: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"},
		{name: "no reason", raw: "HTTP/1.1 204\r\n\r\n", code: 204, length: -1, reusable: true, head: "HTTP/1.1 204\r\n"},
		{name: "chunked", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", code: 200, length: -1, chunked: true, reusable: true,
			head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"},
		{name: "length and chunked", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", bad: true},
		{name: "connection names framing", raw: "HTTP/1.1 200 OK\r\nConnection: Content-Length, X-B\r\nX-B: 1\r\nContent-Length: 5\r\n\r\n", code: 200, length: 5, reusable: true,
			head: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"},
		{name: "connection names transfer-encoding", raw: "HTTP/1.1 200 OK\r\nX-A: 1\r\nConnection: transfer-encoding, x-a\r\nTransfer-Encoding: chunked\r\n\r\n", code: 200, length: -1, chunked: true, reusable: true,
			head: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"},
		{name: "coding list", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", bad: true},
		{name: "identity", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n", bad: true},
		{name: "two codings fields", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", bad: true},
		{name: "chunked from http/1.0", raw: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", bad: true},
		{name: "conflicting lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", bad: true},
		{name: "folded", raw: "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\n\r\n", bad: true},
		{name: "huge head of dropped fields", raw: "HTTP/1.1 200 OK\r\n" + strings.Repeat("Keep-Alive: 5\r\n", maxHeadBytes/15+1) + "\r\n", bad: true},
		{name: "bad status", raw: "HTTP/1.1 2000 OK\r\n\r\n", bad: true},
		{name: "not http", raw: "SSH-2.0-OpenSSH\r\n\r\n", bad: true},
		{name: "bad field", raw: "HTTP/1.1 200 OK\r\nX A: 1\r\n\r\n", bad: true},
		{name: "truncated", raw: "HTTP/1.1 200 OK\r\nX-A: 1\r\n", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p response
			err := readResponse(bufio.NewReader(strings.NewReader(tt.raw)), &p)
			if tt.bad {
				if err == nil {
					t.Fatalf("accepted %q", tt.raw)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.code != tt.code || p.length != tt.length || p.chunked != tt.chunked || p.reusable != tt.reusable || string(p.head) != tt.head {
				t.Fatalf("got code %d length %d chunked %v reusable %v head %q", p.code, p.length, p.chunked, p.reusable, p.head)
			}
		})
	}
	var p response
	if err := readResponse(bufio.NewReader(strings.NewReader("")), &p); err == nil || p.got {
		t.Fatalf("empty response: %v, got %v", err, p.got)
	}
}

func TestCopyChunked(t *testing.T) {
	noFlush := func() error { return nil }
	tests := []struct {
		name, in string
		out      string // "" when the body must be refused
	}{
		{"extensions dropped, sizes canonical", "5;ext=1\r\nhello\r\n1A\r\n" + strings.Repeat("x", 26) + "\r\n0\r\nX-Trailer: t\r\n\r\n",
			"5\r\nhello\r\n1a\r\n" + strings.Repeat("x", 26) + "\r\n0\r\nX-Trailer: t\r\n\r\n"},
		{"leading zeros", "0005\r\nhello\r\n000\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n"},
		{"white space after the size", "5 \t\r\nhello\r\n0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n"},
		{"quoted extension", "5;a=\"b; c\"\r\nhello\r\n0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\n"},
		{"framing trailers dropped", "0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nHost: x\r\nX-T: 1\r\n\r\n", "0\r\nX-T: 1\r\n\r\n"},
		{"bad digit", "zz\r\n", ""},
		{"no digits", ";x\r\n0\r\n\r\n", ""},
		{"sign", "-1\r\n", ""},
		{"white space before the size", " 5\r\nhello\r\n0\r\n\r\n", ""},
		{"white space before an extension", "5 ;x\r\nhello\r\n0\r\n\r\n", ""},
		{"16 digits", "1234567890123456\r\n", ""},
		{"16 digits, leading zeros", "0000000000000005\r\nhello\r\n0\r\n\r\n", ""},
		{"data longer than the size", "5\r\nhelloXX0\r\n\r\n", ""},
		{"truncated", "5\r\nhel", ""},
		{"bare LF size line", "5\nhello\r\n0\r\n\r\n", ""},
		{"bare LF last chunk", "0\n\r\n", ""},
		{"bare CR in extension", "5;a\rb\r\nhello\r\n0\r\n\r\n", ""},
		{"bare LF in trailers", "0\r\nX-T: 1\n\r\n", ""},
		{"bare LF ending trailers", "0\r\n\n", ""},
		{"folded trailer", "0\r\nX-T: 1\r\n 2\r\n\r\n", ""},
		{"malformed trailer", "0\r\nX T: 1\r\n\r\n", ""},
		{"extensions outweigh data", strings.Repeat("1;"+strings.Repeat("e", 1000)+"\r\nx\r\n", 20) + "0\r\n\r\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			w := bufio.NewWriter(&out)
			src := bufio.NewReaderSize(strings.NewReader(tt.in+"NEXT"), 16)
			n, err := copyChunked(w, src, noFlush, make([]byte, 8))
			_ = w.Flush()
			if tt.out == "" {
				if err == nil {
					t.Fatalf("accepted, wrote %q", out.String())
				}
				return
			}
			if err != nil || out.String() != tt.out || n != int64(len(tt.in)) {
				t.Fatalf("copyChunked = %d, %v, %q; want %d, nil, %q", n, err, out.String(), len(tt.in), tt.out)
			}
			if rest, _ := io.ReadAll(src); string(rest) != "NEXT" {
				t.Fatalf("left %q after the body, want NEXT", rest)
			}
		})
	}
}

// TestParsingAllocatesNothing guards the request path: parsing a request
// and a response head into reused buffers allocates nothing.
func TestParsingAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	const rawReq = "GET /api/items?id=7 HTTP/1.1\r\nHost: app.example.com\r\nUser-Agent: bench\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"
	const rawResp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Wed, 25 Nov 2026 10:00:00 GMT\r\nContent-Length: 5\r\n\r\nhello"
	reqSrc, respSrc := strings.NewReader(rawReq), strings.NewReader(rawResp)
	br, ubr := bufio.NewReader(reqSrc), bufio.NewReader(respSrc)
	var r request
	var p response
	ip := []byte("127.0.0.1")
	run := func() {
		reqSrc.Reset(rawReq)
		respSrc.Reset(rawResp)
		br.Reset(reqSrc)
		ubr.Reset(respSrc)
		if err := readRequest(br, &r, ip, testListen, 1); err != nil {
			t.Fatal(err)
		}
		if err := readResponse(ubr, &p); err != nil {
			t.Fatal(err)
		}
	}
	run() // sizes the reused buffers
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("%v allocations per request and response parsed, want 0", n)
	}
}

func BenchmarkParse(b *testing.B) {
	const rawReq = "GET /api/items?id=7 HTTP/1.1\r\nHost: app.example.com\r\nUser-Agent: bench\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n"
	const rawResp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: Wed, 25 Nov 2026 10:00:00 GMT\r\nContent-Length: 5\r\n\r\nhello"
	reqSrc, respSrc := strings.NewReader(rawReq), strings.NewReader(rawResp)
	br, ubr := bufio.NewReader(reqSrc), bufio.NewReader(respSrc)
	var r request
	var p response
	ip := []byte("127.0.0.1")
	b.ReportAllocs()
	for b.Loop() {
		reqSrc.Reset(rawReq)
		respSrc.Reset(rawResp)
		br.Reset(reqSrc)
		ubr.Reset(respSrc)
		_ = readRequest(br, &r, ip, testListen, 1)
		_ = readResponse(ubr, &p)
	}
}

func TestReplayable(t *testing.T) {
	tests := []struct {
		raw      string
		buffered int
		want     bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, true},
		{"DELETE /kv/a HTTP/1.1\r\nHost: a\r\n\r\n", 0, true},
		{"PUT /kv/a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", 5, true},
		{"PUT /kv/a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", 4, false},
		{"PUT /kv/a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 100, false},
		{"POST /kv/a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", 5, false},
		{"POST /kv/a HTTP/1.1\r\nHost: a\r\n\r\n", 0, false},
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", 5, false},
	}
	for _, tt := range tests {
		r, err := parseReq(t, tt.raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.replayable(tt.buffered); got != tt.want {
			t.Errorf("replayable(%d) of %q = %v, want %v", tt.buffered, strings.SplitN(tt.raw, "\r\n", 2)[0], got, tt.want)
		}
	}
}
