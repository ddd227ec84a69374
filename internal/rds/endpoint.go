package rds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// route is where an endpoint leads: a node, or nowhere (zero).
type route struct {
	node string
	addr netip.AddrPort
}

// endpoint is a TCP proxy standing for one RDS endpoint, or a
// follower's replication relay. It is data plane only: it leads wherever
// it was last told, keeps a registry of the connections it carries, and
// closes those to a node it no longer leads to. A client arriving while
// it leads nowhere, or while its node refuses connections, is held up to
// hold for a route that works. Its connections to nodes leave from its
// own address (from), so that they belong to its failure domain.
type endpoint struct {
	name string // e.g. "writer endpoint of us-east-1"
	addr netip.AddrPort
	from netip.Addr
	hold time.Duration
	// userTimeout, when set, closes a node connection whose sent data
	// stays unacknowledged that long (TCP_USER_TIMEOUT).
	userTimeout time.Duration
	log         *slog.Logger
	// refuseNowhere closes a client at once while the endpoint leads
	// nowhere, instead of holding it: a relay leads nowhere while its own
	// node is the primary, which no route will change soon.
	refuseNowhere bool
	// open makes the listener; nil: TCP on addr.
	open func() (net.Listener, error)

	mu      sync.Mutex
	target  route
	changed chan struct{} // closed and replaced at every change of target
	conns   map[*proxied]struct{}
	ln      net.Listener
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// proxied is one client connection and its connection to a node.
type proxied struct {
	client, server net.Conn
	node           string
}

func (p *proxied) close() {
	p.client.Close()
	if p.server != nil {
		p.server.Close()
	}
}

// newEndpoint is an endpoint listening on addr whose connections to
// nodes leave from addr's address.
func newEndpoint(name string, addr netip.AddrPort, hold time.Duration, log *slog.Logger) *endpoint {
	return &endpoint{name: name, addr: addr, from: addr.Addr(), hold: hold, log: log, changed: make(chan struct{}), conns: map[*proxied]struct{}{}}
}

// listen starts accepting clients; listening twice does nothing.
func (e *endpoint) listen() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ln != nil {
		return nil
	}
	if e.open != nil {
		ln, err := e.open()
		if err != nil {
			return fmt.Errorf("database %s: %w", e.name, err)
		}
		e.serveLocked(ln)
		return nil
	}
	ln, err := net.Listen("tcp", e.addr.String())
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("database %s: address %s is already in use", e.name, e.addr)
	}
	if err != nil {
		return fmt.Errorf("database %s: listening on %s: %w", e.name, e.addr, err)
	}
	e.serveLocked(ln)
	return nil
}

// serveLocked starts accepting clients from ln; the caller holds e.mu.
func (e *endpoint) serveLocked(ln net.Listener) {
	ctx, cancel := context.WithCancel(context.Background())
	e.ln, e.cancel = ln, cancel
	e.wg.Go(func() { e.serve(ctx, ln) })
}

// close stops listening, closes every connection and waits for the
// proxy's goroutines; closing a closed endpoint does nothing.
func (e *endpoint) close() {
	e.mu.Lock()
	if e.ln != nil {
		e.ln.Close()
		e.cancel()
		e.ln = nil
	}
	for p := range e.conns {
		p.close()
	}
	clear(e.conns)
	e.mu.Unlock()
	e.wg.Wait()
}

// lead points the endpoint at r and closes the connections it carries to
// any other node. It returns how many it closed.
func (e *endpoint) lead(r route) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if r == e.target {
		return 0
	}
	e.target = r
	close(e.changed)
	e.changed = make(chan struct{})
	closed := 0
	for p := range e.conns {
		if p.server != nil && p.node != r.node {
			p.close()
			delete(e.conns, p)
			closed++
		}
	}
	return closed
}

// leadNowhere makes the endpoint lead nowhere and closes every client,
// the ones it holds waiting for a route too: for a relay whose node is
// being promoted, whose replication must stop now rather than wait out
// the hold.
func (e *endpoint) leadNowhere() {
	e.lead(route{})
	e.mu.Lock()
	defer e.mu.Unlock()
	for p := range e.conns {
		p.close()
		delete(e.conns, p)
	}
}

// current returns the route and a channel closed at its next change.
func (e *endpoint) current() (route, <-chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.target, e.changed
}

// Pauses after a failed accept (out of file descriptors, say): doubled
// after each failure in a row, as net/http does, so the endpoint keeps
// serving once the condition passes.
const (
	acceptRetryMin = 5 * time.Millisecond
	acceptRetryMax = time.Second
)

func (e *endpoint) serve(ctx context.Context, ln net.Listener) {
	var pause time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			pause = min(max(2*pause, acceptRetryMin), acceptRetryMax)
			e.log.Warn("endpoint failed to accept a connection; retrying", "endpoint", e.name, "err", err, "retry_in", pause)
			t := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		pause = 0
		e.wg.Go(func() { e.handle(ctx, conn) })
	}
}

// Dialling a node: each attempt's timeout, and the pause between attempts
// while the node refuses.
const (
	dialTimeout = time.Second
	dialRetry   = 25 * time.Millisecond
)

// handle carries one client: it connects to the route (holding the client
// while there is none that works), then copies bytes both ways until
// either side closes or the endpoint closes the pair.
func (e *endpoint) handle(ctx context.Context, client net.Conn) {
	p := &proxied{client: client}
	if !e.register(p) {
		client.Close()
		return
	}
	defer e.unregister(p)
	defer p.close()

	deadline := time.NewTimer(e.hold)
	defer deadline.Stop()
	d := dialerFrom(e.from)
	if e.userTimeout > 0 {
		d.Control = userTimeoutControl(e.userTimeout)
	}
	for {
		r, changed := e.current()
		if r.node == "" && e.refuseNowhere {
			return
		}
		if r.node != "" {
			dctx, cancel := context.WithTimeout(ctx, dialTimeout)
			server, err := d.DialContext(dctx, "tcp", r.addr.String())
			cancel()
			if err == nil {
				ok, gone := e.attach(p, server, r)
				if ok {
					break
				}
				server.Close()
				if gone {
					return
				}
				continue // the route changed meanwhile
			}
		}
		retry := time.NewTimer(dialRetry)
		select {
		case <-ctx.Done():
		case <-deadline.C:
			retry.Stop()
			e.log.Warn("endpoint gave up on a client", "endpoint", e.name, "route", r.node, "held", e.hold)
			return
		case <-changed:
		case <-retry.C:
		}
		retry.Stop()
		if ctx.Err() != nil {
			return
		}
	}

	// io.Copy splices between the sockets (TCP to TCP or Unix) without
	// copying through user space.
	done := make(chan struct{}, 2)
	go func() { io.Copy(p.server, client); done <- struct{}{} }()
	go func() { io.Copy(client, p.server); done <- struct{}{} }()
	<-done
	p.close()
	<-done
}

// register adds a client to the registry, unless the endpoint is closed.
func (e *endpoint) register(p *proxied) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ln == nil {
		return false
	}
	e.conns[p] = struct{}{}
	return true
}

func (e *endpoint) unregister(p *proxied) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.conns, p)
}

// attach records the client's node connection, unless the route changed
// or the endpoint closed the client (gone) since it was dialled.
func (e *endpoint) attach(p *proxied, server net.Conn, r route) (ok, gone bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, registered := e.conns[p]; !registered {
		return false, true
	}
	if e.target != r {
		return false, false
	}
	p.server, p.node = server, r.node
	return true, false
}

// userTimeoutControl sets TCP_USER_TIMEOUT on a socket being dialled.
func userTimeoutControl(t time.Duration) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(t.Milliseconds()))
		})
		if err != nil {
			return err
		}
		return serr
	}
}

// dialerFrom is a dialer whose connections leave from addr (the kernel's
// choice when addr is invalid), with Nagle's algorithm off as is Go's
// default: replication and queries are small messages that must not wait.
func dialerFrom(addr netip.Addr) *net.Dialer {
	d := &net.Dialer{KeepAlive: 15 * time.Second}
	if addr.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: addr.AsSlice()}
	}
	return d
}
