package alb

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// TestBoundDialerLeavesThePortToConnect checks that a connection from a
// source address had its port chosen by connect(2), so connections to
// different targets do not share one pool of ports.
func TestBoundDialerLeavesThePortToConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := newDialer(netip.MustParseAddr("127.0.9.11")).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial from 127.0.9.11: %v", err)
	}
	defer c.Close()
	if got := c.LocalAddr().(*net.TCPAddr).IP.String(); got != "127.0.9.11" {
		t.Fatalf("connection from %s, want 127.0.9.11", got)
	}
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var serr error
	if err := raw.Control(func(fd uintptr) {
		v, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT)
	}); err != nil || serr != nil {
		t.Fatalf("reading IP_BIND_ADDRESS_NO_PORT: %v %v", err, serr)
	}
	if v != 1 {
		t.Fatalf("IP_BIND_ADDRESS_NO_PORT = %d, want 1", v)
	}
}
