package alb

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// portAtConnect is the Control of a dialer bound to a source address: it
// asks the kernel to choose the source port at connect(2), unique for the
// whole (source, target) pair, rather than at bind(2), unique for the
// source address alone. Without it every target connection and every one
// in TIME_WAIT would share the one source address's ephemeral ports. It is
// best effort: a kernel without the option binds as before.
func portAtConnect(_, _ string, c syscall.RawConn) error {
	return c.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	})
}
