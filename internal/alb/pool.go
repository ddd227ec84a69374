package alb

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	// connectTimeout bounds a connection to a target, as an ALB's 10 s.
	connectTimeout = 10 * time.Second
	// maxIdlePerTarget bounds the keep-alive connections kept per target.
	maxIdlePerTarget = 256
)

// errTargetGone is a connection asked of a target whose connections were
// closed: it finished draining, or was cut at the deregistration delay.
var errTargetGone = errors.New("target deregistered")

// upstream is one keep-alive connection to a target.
type upstream struct {
	nc  net.Conn
	raw syscall.RawConn // for the liveness check; nil if not a TCP connection
	// peek is the liveness check's system call, made once per connection
	// so that a check allocates nothing; it leaves its verdict in idleOK.
	peek   func(fd uintptr) bool
	idleOK bool
	// written counts the bytes written for the current request, and werr
	// keeps its write error.
	written int64
	werr    error
	// idleSince is when the connection went back to the pool (coarse clock).
	idleSince int64
	// cut is set when the load balancer closed the connection under a
	// running request (deregistration delay over, or shutdown).
	cut atomic.Bool
}

// Write makes the connection an io.Writer that counts what it wrote.
func (u *upstream) Write(p []byte) (int, error) {
	n, err := u.nc.Write(p)
	u.written += int64(n)
	if err != nil {
		u.werr = err
	}
	return n, err
}

// alive reports whether a pooled connection still looks usable: the
// target has not closed it and sent nothing unasked. It costs one
// non-blocking system call.
func (u *upstream) alive() bool {
	if u.raw == nil {
		return true
	}
	// A connection whose last read deadline (the idle timeout) has passed
	// fails the check too: it was about to be closed as idle.
	u.idleOK = false
	err := u.raw.Read(u.peek)
	return err == nil && u.idleOK
}

// peekIdle is upstream.peek: it peeks at the connection without waiting.
func (u *upstream) peekIdle(fd uintptr) bool {
	var buf [1]byte
	_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	// EAGAIN: nothing to read, the connection is idle and open.
	// n == 0 with no error: the target closed it. n > 0: stray bytes.
	u.idleOK = err == syscall.EAGAIN || err == syscall.EWOULDBLOCK
	return true
}

// pool is a target's keep-alive connections: idle ones ready for the next
// request, and every open one, so that all can be cut at once.
type pool struct {
	addr   string
	dialer *net.Dialer

	mu     sync.Mutex
	idle   []*upstream // most recently used last
	open   map[*upstream]struct{}
	closed bool
}

func newPool(addr string, dialer *net.Dialer) *pool {
	return &pool{addr: addr, dialer: dialer, open: make(map[*upstream]struct{})}
}

// get returns an idle connection, or a new one when there is none or when
// fresh is set. A pooled connection is checked with alive first: one the
// target closed, or sent bytes on that no request asked for, is never
// used again, as the next response read on it would not be the next
// request's. dialed reports a new connection; a dial failure comes back as
// a *net.OpError with Op "dial".
func (p *pool) get(fresh bool) (u *upstream, dialed bool, err error) {
	for !fresh {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		u = p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if u.alive() {
			return u, false, nil
		}
		p.discard(u)
	}
	nc, err := p.dialer.Dial("tcp", p.addr)
	if err != nil {
		return nil, true, err
	}
	u = &upstream{nc: nc}
	if tc, ok := nc.(*net.TCPConn); ok {
		u.raw, _ = tc.SyscallConn()
		u.peek = u.peekIdle
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		_ = nc.Close()
		return nil, true, errTargetGone
	}
	p.open[u] = struct{}{}
	p.mu.Unlock()
	return u, true, nil
}

// put returns a connection after a complete exchange, for the next request.
func (p *pool) put(u *upstream, now int64) {
	u.idleSince = now
	p.mu.Lock()
	if p.closed || len(p.idle) >= maxIdlePerTarget {
		p.mu.Unlock()
		p.discard(u)
		return
	}
	p.idle = append(p.idle, u)
	p.mu.Unlock()
}

// discard closes a connection that cannot be reused.
func (p *pool) discard(u *upstream) {
	_ = u.nc.Close()
	p.mu.Lock()
	delete(p.open, u)
	p.mu.Unlock()
}

// closeIdle closes idle connections unused since before cutoff (coarse
// clock), or all idle ones when cutoff is 0.
func (p *pool) closeIdle(cutoff int64) {
	p.mu.Lock()
	keep := p.idle[:0]
	var drop []*upstream
	for _, u := range p.idle {
		if cutoff == 0 || u.idleSince < cutoff {
			drop = append(drop, u)
			delete(p.open, u)
		} else {
			keep = append(keep, u)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	p.mu.Unlock()
	for _, u := range drop {
		_ = u.nc.Close()
	}
}

// close closes every connection, busy ones included, and refuses new
// ones. It returns how many were busy, that is carrying a request.
func (p *pool) close() (busy int) {
	p.mu.Lock()
	p.closed = true
	idle := make(map[*upstream]bool, len(p.idle))
	for _, u := range p.idle {
		idle[u] = true
	}
	all := make([]*upstream, 0, len(p.open))
	for u := range p.open {
		all = append(all, u)
		if !idle[u] {
			busy++
		}
	}
	p.idle, p.open = nil, map[*upstream]struct{}{}
	p.mu.Unlock()
	for _, u := range all {
		u.cut.Store(true)
		_ = u.nc.Close()
	}
	return busy
}
