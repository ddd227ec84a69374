//go:build !linux

package alb

import "syscall"

// portAtConnect does nothing where the kernel chooses a bound socket's
// port only at bind(2).
func portAtConnect(_, _ string, _ syscall.RawConn) error { return nil }
