package stack

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
)

// listenTCP binds a TCP address, turning the usual failures into one
// sentence that names the address.
func listenTCP(what, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, bindError(what, addr, err)
	}
	return ln, nil
}

func listenUDP(what, addr string) (net.PacketConn, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, bindError(what, addr, err)
	}
	return pc, nil
}

func bindError(what, addr string, err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%s address %s is already in use (is another stack or server running?)", what, addr)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%s address %s needs privileges to bind (ports below 1024 need root)", what, addr)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("%s address %s is not available on this machine", what, addr)
	default:
		return fmt.Errorf("binding %s address %s: %w", what, addr, err)
	}
}

// errCrashed is what a killed listener's Accept returns.
var errCrashed = errors.New("the load balancer went down with its region")

// killableListener is a load balancer's listener that a region crash can
// take down at once: the listening socket and every connection accepted
// through it close together, with a reset rather than a goodbye, and
// nothing is drained.
type killableListener struct {
	net.Listener

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	killed bool
}

func newKillable(ln net.Listener) *killableListener {
	return &killableListener{Listener: ln, conns: map[*trackedConn]struct{}{}}
}

// Accept tracks every TCP connection it hands out.
func (l *killableListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.killed {
		if c != nil {
			reset(c)
		}
		return nil, errCrashed
	}
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	t := &trackedConn{TCPConn: tc, l: l}
	l.conns[t] = struct{}{}
	return t, nil
}

// kill closes the listener and resets every connection still open.
func (l *killableListener) kill() {
	l.mu.Lock()
	l.killed = true
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	_ = l.Listener.Close()
	for c := range conns {
		reset(c.TCPConn)
	}
}

// reset closes c with a reset: what a peer sees of a host that is gone
// and comes back without the connection.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// trackedConn is a connection a killableListener can reset; it keeps
// *net.TCPConn's methods (CloseWrite, for tunnels).
type trackedConn struct {
	*net.TCPConn
	l *killableListener
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.TCPConn.Close()
}
