// Command hastack runs a multi-region high-availability stack on one
// machine, breaks it on purpose and measures how it recovers.
package main

import (
	"os"
	"syscall"

	"github.com/hastack/hastack/internal/cli"
)

func main() {
	raiseOpenFileLimit()
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}

// raiseOpenFileLimit lifts the soft limit on open files to the hard one:
// the stack holds a descriptor per client connection, per pooled target
// connection, per instance and per database session, and a soft limit of
// 1024 runs out under a drill's load. What hastack starts inherits it.
func raiseOpenFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur >= lim.Max {
		return
	}
	lim.Cur = lim.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}
