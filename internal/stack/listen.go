package stack

import (
	"errors"
	"fmt"
	"net"
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
