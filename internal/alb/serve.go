package alb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Serve accepts HTTP on ln and runs the target health checks until ctx is
// done. Then it stops accepting, closes idle client connections, lets
// in-flight requests finish for a short grace period, cuts the rest and
// returns nil once every goroutine it started has ended. It always closes
// ln. It fails if the load balancer is already serving or ln stops
// accepting.
func (lb *LB) Serve(ctx context.Context, ln net.Listener) error {
	if ln == nil {
		return fmt.Errorf("alb %s: serve: no listener", lb.name)
	}
	if !lb.serving.CompareAndSwap(false, true) {
		_ = ln.Close()
		return fmt.Errorf("alb %s: serve: already serving", lb.name)
	}
	defer lb.serving.Store(false)

	lb.listenHead.Store(newListenHead(ln.Addr()))
	lb.clock.Store(time.Now().Unix())
	lb.startChecks(ctx)
	defer lb.stopChecks()

	bg, stopBg := context.WithCancel(context.Background())
	var bgDone sync.WaitGroup
	bgDone.Go(func() { lb.keepClock(bg) })
	if lb.access != nil {
		bgDone.Go(func() { lb.access.run(bg) })
	}

	srv := &server{lb: lb, conns: make(map[*conn]struct{}), done: make(chan struct{})}
	accepted := make(chan error, 1)
	go func() { accepted <- srv.accept(ln) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-accepted:
		accepted = nil
	}
	srv.shutdown()
	_ = ln.Close()
	if accepted != nil {
		<-accepted
	}
	srv.drain(lb.grace)

	stopBg()
	bgDone.Wait()
	lb.closeIdleConns()
	if serveErr != nil {
		return fmt.Errorf("alb %s: serving: %w", lb.name, serveErr)
	}
	return nil
}

// listenHead holds the header fields that name the listener.
type listenHead struct {
	port []byte // "X-Forwarded-Port: 80\r\n"
	host []byte // "Host: 127.1.0.10:80\r\n", for HTTP/1.0 requests without one
}

func newListenHead(addr net.Addr) *listenHead {
	lh := &listenHead{host: []byte("Host: " + addr.String() + "\r\n")}
	if _, port, err := net.SplitHostPort(addr.String()); err == nil {
		lh.port = []byte("X-Forwarded-Port: " + port + "\r\n")
	}
	return lh
}

// keepClock advances the coarse clock and closes target connections left
// idle longer than the idle timeout, until ctx is done.
func (lb *LB) keepClock(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			lb.clock.Store(now.Unix())
			idle := lb.routes.Load().idle
			lb.forTargets(func(t *target) { t.pool.closeIdle(now.Add(-idle).Unix()) })
		}
	}
}

// closeIdleConns closes every target's idle connections.
func (lb *LB) closeIdleConns() {
	lb.forTargets(func(t *target) { t.pool.closeIdle(0) })
}

func (lb *LB) forTargets(f func(*target)) {
	lb.mu.Lock()
	ts := make([]*target, 0, len(lb.targets))
	for _, t := range lb.targets {
		ts = append(ts, t)
	}
	lb.mu.Unlock()
	for _, t := range ts {
		f(t)
	}
}

// server is one run of Serve: the accept loop and the client connections.
type server struct {
	lb       *LB
	shutting atomic.Bool
	done     chan struct{} // closed by shutdown

	mu    sync.Mutex
	conns map[*conn]struct{}
	wg    sync.WaitGroup
	// limitLogged is when the connection limit was last logged (coarse
	// clock); only the accept loop uses it.
	limitLogged int64
}

// accept runs the accept loop until ln fails or shutdown. Like an HTTP
// server, it backs off on errors that pass, such as running out of file
// descriptors. At the connection limit it stops accepting until a client
// connection closes; new ones wait in the listen queue meanwhile.
func (s *server) accept(ln net.Listener) error {
	var delay time.Duration
	for {
		if !s.admit() {
			return nil
		}
		nc, err := ln.Accept()
		if err != nil {
			if s.shutting.Load() {
				return nil
			}
			if !temporary(err) {
				return err
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.lb.log.Warn("accept failed; retrying", "err", err, "in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
				return nil
			}
			continue
		}
		delay = 0
		if c := s.track(nc); c != nil {
			go c.serve()
		}
	}
}

// admit waits until fewer client connections are open than the limit. It
// reports false once shutting down.
func (s *server) admit() bool {
	for {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		limit := s.lb.routes.Load().maxConns
		if n < limit {
			return true
		}
		// Logged at most once a minute: a load balancer at its limit
		// meets it again every time a connection closes.
		if now := s.lb.clock.Load(); now-s.limitLogged >= 60 {
			s.limitLogged = now
			s.lb.log.Warn("connection limit reached: new connections wait until one closes", "max_connections", limit)
		}
		select {
		case <-s.lb.connFreed:
		case <-s.done:
			return false
		}
	}
}

// temporary reports whether an accept error passes: the listener can
// accept again later. These are the errors accept(2) says to retry, and
// running out of descriptors or memory.
func temporary(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range []syscall.Errno{
		syscall.ECONNABORTED, syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.EPROTO, syscall.ENETDOWN, syscall.ENOPROTOOPT, syscall.EHOSTDOWN, syscall.ENONET,
		syscall.EHOSTUNREACH, syscall.EOPNOTSUPP, syscall.ENETUNREACH, syscall.EPERM, syscall.EINTR,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// track registers a new client connection, or closes it when shutting down.
func (s *server) track(nc net.Conn) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutting.Load() {
		_ = nc.Close()
		return nil
	}
	c := newConn(s, nc)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return c
}

func (s *server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.lb.wakeAccept()
	s.wg.Done()
}

func (s *server) snapshot() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	return cs
}

// shutdown stops new connections and requests: idle connections close, a
// connection finishing a request closes after its response.
func (s *server) shutdown() {
	s.mu.Lock()
	s.shutting.Store(true)
	close(s.done)
	s.mu.Unlock()
	for _, c := range s.snapshot() {
		c.closeIfIdle()
	}
}

// drain waits for the connections to finish their requests, up to grace,
// then cuts the ones left, and waits for them to end.
func (s *server) drain(grace time.Duration) {
	finished := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(finished)
	}()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-finished:
		return
	case <-t.C:
	}
	cs := s.snapshot()
	s.lb.log.Warn("graceful shutdown cut short: cutting remaining requests", "grace", grace, "connections", len(cs))
	for _, c := range cs {
		c.kill()
	}
	<-finished
}

// Client connection states.
const (
	stateActive  = iota // reading or serving a request
	stateIdle           // waiting for the next request
	stateClosing        // told to close while idle
)

// aLongTimeAgo is a deadline in the past, to interrupt a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

var (
	readerPool sync.Pool // *bufio.Reader, bufSize
	writerPool sync.Pool // *bufio.Writer, bufSize
	copyPool   = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
)

const bufSize = 8 << 10

func getReader(r interface{ Read([]byte) (int, error) }) *bufio.Reader {
	if br, ok := readerPool.Get().(*bufio.Reader); ok {
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, bufSize)
}

func getWriter(w interface{ Write([]byte) (int, error) }) *bufio.Writer {
	if bw, ok := writerPool.Get().(*bufio.Writer); ok {
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, bufSize)
}

// conn is one client connection, served by one goroutine: requests one
// after the other, each proxied to a target over a pooled connection.
type conn struct {
	srv *server
	lb  *LB
	nc  net.Conn
	out clientWriter
	br  *bufio.Reader
	bw  *bufio.Writer
	ubr *bufio.Reader // reset onto the target connection of each request
	ubw *bufio.Writer
	buf *[]byte // body copy buffer, taken when a body needs one

	remote string // the client's ip:port
	ip     []byte // the client's IP, for X-Forwarded-For
	req    request
	resp   response
	entry  logEntry
	line   []byte // access log line

	mu    sync.Mutex
	state int
	// closeAfter: answer the request being read, then close (shutdown).
	closeAfter bool
	// linger: the connection closes after an answer while the client may
	// still be sending; see lingerClose.
	linger bool
	// cur is the target connection of the request in flight, for kill.
	cur    atomic.Pointer[upstream]
	killed atomic.Bool
}

// clientWriter writes to the client and counts the bytes.
type clientWriter struct {
	nc  net.Conn
	n   int64
	err error
}

func (w *clientWriter) Write(p []byte) (int, error) {
	n, err := w.nc.Write(p)
	w.n += int64(n)
	if err != nil {
		w.err = err
	}
	return n, err
}

func newConn(s *server, nc net.Conn) *conn {
	c := &conn{srv: s, lb: s.lb, nc: nc, remote: nc.RemoteAddr().String()}
	c.out.nc = nc
	if host, _, err := net.SplitHostPort(c.remote); err == nil {
		c.ip = []byte(host)
	}
	return c
}

// serve runs the connection's requests until it closes.
func (c *conn) serve() {
	c.br = getReader(c.nc)
	c.bw = getWriter(&c.out)
	c.ubr = getReader(nil)
	c.ubw = getWriter(nil)
	defer c.close()
	for c.awaitRequest() {
		if !c.handle() {
			if c.linger {
				c.lingerClose()
			}
			return
		}
	}
}

const (
	// lingerTime and lingerBytes bound how long, and how much of what a
	// client still sends, lingerClose reads and drops.
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 256 << 10
)

// lingerClose ends a connection whose client may still be sending — a
// refused head, a body left unread: the answer and a FIN go first, and
// what the client sends meanwhile is read and dropped for a short while,
// so that closing does not reset the connection before the client has read
// the answer (unread bytes at close make the kernel send a reset).
func (c *conn) lingerClose() {
	closeWrite(c.nc)
	_ = c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	buf := c.copyBuf()
	for n := 0; n < lingerBytes; {
		m, err := c.br.Read(buf)
		if err != nil {
			return
		}
		n += m
	}
}

func (c *conn) close() {
	_ = c.nc.Close()
	c.br.Reset(nil)
	c.bw.Reset(nil)
	c.ubr.Reset(nil)
	c.ubw.Reset(nil)
	readerPool.Put(c.br)
	readerPool.Put(c.ubr)
	writerPool.Put(c.bw)
	writerPool.Put(c.ubw)
	if c.buf != nil {
		copyPool.Put(c.buf)
		c.buf = nil
	}
	c.srv.untrack(c)
}

// awaitRequest waits, within the idle timeout, for the first byte of the
// next request. It reports false when the connection should close.
func (c *conn) awaitRequest() bool {
	idle := c.lb.routes.Load().idle
	_ = c.nc.SetReadDeadline(time.Now().Add(idle))
	c.mu.Lock()
	if c.srv.shutting.Load() {
		c.mu.Unlock()
		return false
	}
	c.state = stateIdle
	c.mu.Unlock()

	_, err := c.br.Peek(1)

	c.mu.Lock()
	closing := c.state == stateClosing
	c.state = stateActive
	c.mu.Unlock()
	if err != nil {
		return false
	}
	if closing {
		// Told to close just as the request arrived: answer it, then close.
		c.closeAfter = true
		_ = c.nc.SetReadDeadline(time.Now().Add(idle))
	}
	return true
}

// closeIfIdle makes an idle connection close; a busy one closes after its
// response by itself.
func (c *conn) closeIfIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateIdle {
		c.state = stateClosing
		_ = c.nc.SetReadDeadline(aLongTimeAgo)
	}
}

// kill cuts the connection and the target connection of its request.
func (c *conn) kill() {
	c.killed.Store(true)
	_ = c.nc.Close()
	if u := c.cur.Load(); u != nil {
		u.cut.Store(true)
		_ = u.nc.Close()
	}
}

// copyBuf returns the connection's body copy buffer.
func (c *conn) copyBuf() []byte {
	if c.buf == nil {
		c.buf = copyPool.Get().(*[]byte)
	}
	return *c.buf
}
