package rds

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// echoServer answers every line with its name and the line.
func echoServer(t *testing.T, addr, name string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					io.WriteString(c, name+":"+sc.Text()+"\n")
				}
				c.Close()
			})
		}
	})
	return netip.MustParseAddrPort(ln.Addr().String())
}

type client struct {
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, ap netip.AddrPort) *client {
	t.Helper()
	c, err := net.Dial("tcp", ap.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{conn: c, r: bufio.NewReader(c)}
}

// ask sends a line and returns the answer, or "" when the connection ends.
func (c *client) ask(t *testing.T, line string) string {
	t.Helper()
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.conn, line+"\n"); err != nil {
		return ""
	}
	s, err := c.r.ReadString('\n')
	if err != nil {
		return ""
	}
	return s[:len(s)-1]
}

func TestEndpoint(t *testing.T) {
	a := echoServer(t, "127.0.96.5:0", "a")
	b := echoServer(t, "127.0.96.15:0", "b")
	ep := newEndpoint("writer endpoint of test", netip.MustParseAddrPort("127.0.96.6:0"), 700*time.Millisecond, slog.New(slog.DiscardHandler))
	// Port 0 is resolved at listen time; read the real address back.
	if err := ep.listen(); err != nil {
		t.Fatal(err)
	}
	defer ep.close()
	addr := netip.MustParseAddrPort(ep.ln.Addr().String())

	ep.lead(route{node: "a", addr: a})
	c1 := dial(t, addr)
	if got := c1.ask(t, "hello"); got != "a:hello" {
		t.Fatalf("through the endpoint: %q", got)
	}

	// A role change closes connections to the old node; new ones go to the new.
	if closed := ep.lead(route{node: "b", addr: b}); closed != 1 {
		t.Errorf("lead closed %d connections, want 1", closed)
	}
	if got := c1.ask(t, "again"); got != "" {
		t.Errorf("old connection still answers: %q", got)
	}
	if got := dial(t, addr).ask(t, "x"); got != "b:x" {
		t.Errorf("after the move: %q", got)
	}

	// Leading nowhere holds new clients until there is a route.
	ep.lead(route{})
	held := dial(t, addr)
	answer := make(chan string, 1)
	go func() { answer <- held.ask(t, "wait") }()
	time.Sleep(200 * time.Millisecond)
	ep.lead(route{node: "a", addr: a})
	select {
	case got := <-answer:
		if got != "a:wait" {
			t.Errorf("held client got %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("held client never served")
	}

	// A node that refuses: clients are held, then given up after hold.
	dead := netip.MustParseAddrPort("127.0.96.25:1")
	ep.lead(route{node: "dead", addr: dead})
	start := time.Now()
	if got := dial(t, addr).ask(t, "x"); got != "" {
		t.Errorf("dead route answered %q", got)
	}
	if d := time.Since(start); d < 600*time.Millisecond || d > 4*time.Second {
		t.Errorf("gave up after %s, want about the 700ms hold", d)
	}

	// Closing ends every connection and the listener.
	ep.lead(route{node: "a", addr: a})
	c2 := dial(t, addr)
	if got := c2.ask(t, "y"); got != "a:y" {
		t.Fatalf("before close: %q", got)
	}
	ep.close()
	if got := c2.ask(t, "z"); got != "" {
		t.Errorf("connection survived close: %q", got)
	}
	if _, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		t.Error("endpoint still accepts after close")
	}
}

// flakyListener fails its first accepts as a process out of file
// descriptors would, then hands out one end of a pipe per accept.
type flakyListener struct {
	failures int
	conns    chan net.Conn
	closed   chan struct{}
	once     sync.Once
	mu       sync.Mutex
	failedAt []time.Time
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.failedAt) < l.failures {
		l.failedAt = append(l.failedAt, time.Now())
		l.mu.Unlock()
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	l.mu.Unlock()
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *flakyListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *flakyListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 96, 36), Port: 5432}
}

// An endpoint whose accept fails (EMFILE) backs off and keeps accepting.
func TestEndpointAcceptBackoff(t *testing.T) {
	a := echoServer(t, "127.0.96.35:0", "a")
	ep := newEndpoint("writer endpoint of test", netip.MustParseAddrPort("127.0.96.36:5432"), time.Second, slog.New(slog.DiscardHandler))
	ln := &flakyListener{failures: 4, conns: make(chan net.Conn), closed: make(chan struct{})}
	ep.mu.Lock()
	ep.serveLocked(ln)
	ep.mu.Unlock()
	defer ep.close()
	ep.lead(route{node: "a", addr: a})

	near, far := net.Pipe()
	defer near.Close()
	select {
	case ln.conns <- far:
	case <-time.After(10 * time.Second):
		t.Fatal("the endpoint stopped accepting after failed accepts")
	}
	c := &client{conn: near, r: bufio.NewReader(near)}
	if got := c.ask(t, "after EMFILE"); got != "a:after EMFILE" {
		t.Fatalf("through the endpoint after failed accepts: %q", got)
	}
	ln.mu.Lock()
	defer ln.mu.Unlock()
	for i := 1; i < len(ln.failedAt); i++ {
		want := acceptRetryMin << (i - 1)
		if gap := ln.failedAt[i].Sub(ln.failedAt[i-1]); gap < want {
			t.Errorf("accept %d came %s after the one before, want a pause of at least %s", i+1, gap, want)
		}
	}
}

// An endpoint connects to its node from its own address, so that a
// packet filter between failure domains judges its traffic by the
// endpoint's domain, not by the default 127.0.0.1.
func TestEndpointDialsFromItsAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.96.45:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan struct{})
	go func() {
		defer close(served)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(conn, conn.RemoteAddr().(*net.TCPAddr).IP.String()+"\n")
	}()
	ep := newEndpoint("writer endpoint of test", netip.MustParseAddrPort("127.0.96.46:0"), time.Second, slog.New(slog.DiscardHandler))
	if err := ep.listen(); err != nil {
		t.Fatal(err)
	}
	defer ep.close()
	ep.lead(route{node: "a", addr: netip.MustParseAddrPort(ln.Addr().String())})
	c := dial(t, netip.MustParseAddrPort(ep.ln.Addr().String()))
	c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := c.r.ReadString('\n')
	if err != nil || got != "127.0.96.46\n" {
		t.Errorf("the node saw the endpoint's connection come from %q (%v), want 127.0.96.46", got, err)
	}
	<-served
}
