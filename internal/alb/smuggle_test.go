package alb

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// echoBackend answers every request with its own request target, so a
// response that went to the wrong request shows. /cpu?ms=N takes N ms, as
// the demo app's CPU burner, and counts as smuggled: no test here sends it
// other than inside a body.
type echoBackend struct {
	srv      *httptest.Server
	smuggled atomic.Int64
}

func newEchoBackend(t *testing.T) *echoBackend {
	t.Helper()
	eb := &echoBackend{}
	eb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/cpu" {
			eb.smuggled.Add(1)
			ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
			case <-r.Context().Done():
			}
		}
		_, _ = io.WriteString(w, "path="+r.URL.RequestURI())
	}))
	t.Cleanup(eb.srv.Close)
	return eb
}

// smuggled is the request hidden in the payloads' bodies.
const smuggled = "GET /cpu?ms=400 HTTP/1.1\r\nHost: h\r\n\r\n"

// chunk is data as one chunk, CRLF after it.
func chunk(data string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(data), data) }

// TestDesyncPayloads sends each known smuggling family once on a keep-alive
// connection, with a request hidden in what the load balancer takes for the
// body, and checks that the payload gets an error or its own answer, that
// no hidden request reaches the target, and that the next eight requests,
// each from a new client, get their own responses.
func TestDesyncPayloads(t *testing.T) {
	cl := strconv.Itoa(len(smuggled))
	tests := []struct {
		name string
		raw  string
		// code is the status the payload gets: 200 with its own answer, or
		// the load balancer's refusal.
		code int
	}{
		{"connection names content-length", "POST / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Content-Length\r\nContent-Length: " + cl + "\r\n\r\n" + smuggled, 200},
		{"connection names transfer-encoding", "POST / HTTP/1.1\r\nHost: h\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(smuggled) + "0\r\n\r\n", 200},
		{"connection names host", "POST / HTTP/1.1\r\nHost: h\r\nConnection: host\r\nContent-Length: " + cl + "\r\n\r\n" + smuggled, 200},
		{"CL.TE", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: " + strconv.Itoa(5+len(smuggled)) + "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE.CL", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + chunk(smuggled) + "0\r\n\r\n", 400},
		{"TE chunked, identity", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + smuggled, 501},
		{"TE identity, chunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n" + smuggled, 501},
		{"TE xchunked", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smuggled, 501},
		{"TE twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n" + smuggled, 501},
		{"TE space before colon", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE folded", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE leading space", "POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: h\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE with tab", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\tchunked\r\n\r\n" + chunk(smuggled) + "0\r\n\r\n", 200},
		{"TE underscore", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer_Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"CL underscore", "POST / HTTP/1.1\r\nHost: h\r\nContent_Length: " + cl + "\r\n\r\n" + smuggled, 400},
		{"TE in HTTP/1.0", "POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"CL differing", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: " + cl + "\r\n\r\n" + smuggled, 400},
		{"CL comma list", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0, " + cl + "\r\n\r\n" + smuggled, 400},
		{"CL sign", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +" + cl + "\r\n\r\n" + smuggled, 400},
		{"CL same twice", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: " + cl + "\r\nContent-Length: " + cl + "\r\n\r\n" + smuggled, 200},
		{"bare LF head", "POST / HTTP/1.1\nHost: h\nContent-Length: " + cl + "\n\n" + smuggled, 200},
		{"bare CR in field", "POST / HTTP/1.1\r\nHost: h\r\nX: a\rContent-Length: 0\r\nContent-Length: " + cl + "\r\n\r\n" + smuggled, 400},
		{"chunk size overflow", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n" + smuggled + "\r\n0\r\n\r\n", 400},
		{"chunk size bare LF", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\n\n" + smuggled, 400},
		{"chunk extension bare LF", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2;a\nxx\r\n" + chunk(smuggled) + "0\r\n\r\n", 400},
		{"chunk extension", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x;name=\"0\r\"\r\n", len(smuggled)) + smuggled + "\r\n0\r\n\r\n", 400},
		{"chunk extension quoted", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x;name=\"0; x\"\r\n", len(smuggled)) + smuggled + "\r\n0\r\n\r\n", 200},
		{"chunk size space", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf(" %x\r\n", len(smuggled)) + smuggled + "\r\n0\r\n\r\n", 400},
		{"chunk data longer", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxx\r\n0\r\n\r\n" + smuggled, 400},
		{"trailer with content-length", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(smuggled) + "0\r\nContent-Length: " + cl + "\r\nX-T: 1\r\n\r\n", 200},
		{"trailer folded", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n Content-Length: 5\r\n\r\n" + smuggled, 400},
		{"trailer bare LF", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\n\r\n" + smuggled, 400},
	}
	eb := newEchoBackend(t)
	_, url := lbWith(t, nil, eb.srv)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eb.smuggled.Store(0)
			c, br := dialLB(t, url)
			resp, body := roundTrip(t, c, br, tt.raw, "POST")
			if resp.StatusCode != tt.code || (tt.code == 200 && body != "path=/") {
				t.Fatalf("payload answered %d %q, want %d", resp.StatusCode, body, tt.code)
			}
			c.Close()
			for i := range 8 {
				path := fmt.Sprintf("/after/%d", i)
				fresh, fbr := dialLB(t, url)
				resp, body := roundTrip(t, fresh, fbr, "GET "+path+" HTTP/1.1\r\nHost: h\r\n\r\n", "GET")
				if resp.StatusCode != 200 || body != "path="+path {
					t.Fatalf("request %d after the payload: %d %q, want its own answer", i+1, resp.StatusCode, body)
				}
				fresh.Close()
			}
			if n := eb.smuggled.Load(); n != 0 {
				t.Fatalf("the hidden request reached the target %d times", n)
			}
		})
	}
}

// rawBackend is a target that answers with its own request target. After
// the response to /extra, once told on sendExtra (when the load balancer
// has relayed the response), it sends a second, unasked response, then
// signals extraSent.
type rawBackend struct {
	ln        net.Listener
	sendExtra chan struct{}
	extraSent chan struct{}
	closed    chan struct{}
}

func newRawBackend(t *testing.T) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rb := &rawBackend{ln: ln, sendExtra: make(chan struct{}), extraSent: make(chan struct{}), closed: make(chan struct{})}
	var conns sync.WaitGroup
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { rb.serveConn(c) })
		}
	}()
	t.Cleanup(func() {
		close(rb.closed)
		ln.Close()
		<-done
		conns.Wait()
	})
	return rb
}

func (rb *rawBackend) serveConn(c net.Conn) {
	defer c.Close()
	go func() {
		<-rb.closed
		c.Close()
	}()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		body := "path=" + req.URL.RequestURI()
		if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body); err != nil {
			return
		}
		if req.URL.Path == "/extra" {
			select {
			case <-rb.sendExtra:
			case <-rb.closed:
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\npath=/stale")
			rb.extraSent <- struct{}{}
		}
	}
}

// TestConnectionWithUnreadBytesNotReused checks that a target connection on
// which the target sent more than the response is not used again: the
// next request must not get the unasked response.
func TestConnectionWithUnreadBytesNotReused(t *testing.T) {
	rb := newRawBackend(t)
	lb := newLB(t, fastLB(), nil)
	url := serve(t, lb)
	lb.Register("raw", rb.ln.Addr().String())
	waitFor(t, "raw healthy", func() bool { return lb.HealthyCount() == 1 })
	c, br := dialLB(t, url)
	for i := range 4 {
		resp, body := roundTrip(t, c, br, "GET /extra HTTP/1.1\r\nHost: h\r\n\r\n", "GET")
		if resp.StatusCode != 200 || body != "path=/extra" {
			t.Fatalf("/extra: %d %q", resp.StatusCode, body)
		}
		rb.sendExtra <- struct{}{}
		<-rb.extraSent
		path := fmt.Sprintf("/next/%d", i)
		resp, body = roundTrip(t, c, br, "GET "+path+" HTTP/1.1\r\nHost: h\r\n\r\n", "GET")
		if resp.StatusCode != 200 || body != "path="+path {
			t.Fatalf("%s after a target sent an unasked response: %d %q", path, resp.StatusCode, body)
		}
	}
}
