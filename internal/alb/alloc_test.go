package alb

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// The request path allocates nothing per request; these tests hold it to
// that. Run them without -race: go test -run AllocatesNothing ./internal/alb

// skipUnderRace skips an allocation test in a -race build, where sync.Pool
// drops items on purpose and allocation counts mean nothing.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("allocation counts mean nothing under -race (sync.Pool drops items); run without -race")
	}
}

// rawBackendResponse is what rawTarget answers every request with.
const rawBackendResponse = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"

// rawTarget is a target that allocates nothing per request: it reads
// request heads (no bodies) and answers each with rawBackendResponse.
func rawTarget(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	conns.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			conns.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				resp := []byte(rawBackendResponse)
				for {
					if err := skipHead(br); err != nil {
						return
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		conns.Wait()
	})
	return ln.Addr().String()
}

// skipHead reads a message head up to its empty line.
func skipHead(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			return nil
		}
	}
}

// rawClient sends keep-alive GETs to the load balancer at url and reads
// each response without allocating.
type rawClient struct {
	c    net.Conn
	br   *bufio.Reader
	req  []byte
	body [5]byte
}

func newRawClient(t testing.TB, url string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{c: c, br: bufio.NewReader(c), req: []byte("GET /items?id=7 HTTP/1.1\r\nHost: app.example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")}
}

// get makes one request; it fails unless the response is the target's.
func (rc *rawClient) get() error {
	if _, err := rc.c.Write(rc.req); err != nil {
		return err
	}
	line, err := rc.br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return io.ErrUnexpectedEOF
	}
	if err := skipHead(rc.br); err != nil {
		return err
	}
	if _, err := io.ReadFull(rc.br, rc.body[:]); err != nil {
		return err
	}
	if string(rc.body[:]) != "hello" {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// rawLB serves a load balancer in front of one rawTarget, healthy.
func rawLB(t testing.TB) string {
	t.Helper()
	lb := newLB(t, fastLB(), nil)
	url := serve(t, lb)
	lb.Register("raw", rawTarget(t))
	waitFor(t, "raw healthy", func() bool { return lb.HealthyCount() == 1 })
	s := fastLB()
	s.HealthCheck.Interval = time.Hour // no checks during the count
	if err := lb.SetConfig(s); err != nil {
		t.Fatal(err)
	}
	return url
}

// TestProxyPathAllocatesNothing counts the allocations of whole requests
// through the load balancer — client and target allocate nothing — with
// the access log and metrics off.
func TestProxyPathAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	rc := newRawClient(t, rawLB(t))
	run := func() {
		if err := rc.get(); err != nil {
			t.Fatal(err)
		}
	}
	run() // sizes the connection's buffers
	if n := testing.AllocsPerRun(200, run); n != 0 {
		t.Fatalf("%v allocations per proxied request, want 0", n)
	}
}

// TestChunkedCopyAllocatesNothing: relaying a chunked body, extensions and
// trailers included.
func TestChunkedCopyAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	const body = "5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\n"
	src := strings.NewReader(body)
	br := bufio.NewReader(src)
	bw := bufio.NewWriter(io.Discard)
	buf := make([]byte, 512)
	run := func() {
		src.Reset(body)
		br.Reset(src)
		if _, err := copyChunked(bw, br, noFlush, buf); err != nil {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("%v allocations per chunked body, want 0", n)
	}
}

// TestLivenessCheckAllocatesNothing: the check of a pooled connection that
// every reuse makes.
func TestLivenessCheckAllocatesNothing(t *testing.T) {
	skipUnderRace(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	p := newPool(ln.Addr().String(), &net.Dialer{})
	u, _, err := p.get(true)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	peer := <-accepted
	if peer == nil {
		t.Fatal("no connection accepted")
	}
	defer peer.Close()
	if !u.alive() {
		t.Fatal("an idle open connection is not alive")
	}
	if n := testing.AllocsPerRun(100, func() { u.alive() }); n != 0 {
		t.Fatalf("%v allocations per liveness check, want 0", n)
	}
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "unasked byte seen", func() bool { return !u.alive() })
}
