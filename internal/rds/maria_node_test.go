package rds

import (
	"context"
	"errors"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/mariadb/mariadbtest"
)

// TestMariaServerProcess: a MariaDB server is kept track of as a
// postmaster is: an exit on its own, once watched, is reported; a stop
// is clean and reported as nothing; a kill leaves nothing in its data
// directory.
func TestMariaServerProcess(t *testing.T) {
	cfg := mariadbtest.Config(t, netip.MustParseAddrPort("127.0.72.11:3306"), 11)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	exits := make(chan error, 1)
	p, srv, err := startMariaServer(ctx, cfg, func(err error) { exits <- err })
	if err != nil {
		t.Fatal(err)
	}
	defer p.kill(cfg.DataDir)
	if p.pid() != srv.Pid() || p.exited() {
		t.Fatalf("process %d (exited %v), server %d", p.pid(), p.exited(), srv.Pid())
	}
	p.watched.Store(true)
	if err := p.signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exits:
		var exit interface{ ExitCode() int }
		if !errors.As(err, &exit) {
			t.Errorf("a server killed reported exit %v, want a signal's", err)
		}
	case <-ctx.Done():
		t.Fatal("a server killed on its own was not reported")
	}
	if !p.exited() {
		t.Error("not exited after its exit was reported")
	}

	p, _, err = startMariaServer(ctx, cfg, func(err error) { exits <- err })
	if err != nil {
		t.Fatal(err)
	}
	p.watched.Store(true)
	if err := p.stop(ctx, cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	if p.waitErr != nil {
		t.Errorf("a clean stop exited with %v", p.waitErr)
	}
	select {
	case err := <-exits:
		t.Errorf("a stop was reported as an exit on its own (%v)", err)
	default:
	}
	if pids := processesIn(cfg.DataDir); len(pids) > 0 {
		t.Errorf("processes %v left in %s", pids, cfg.DataDir)
	}

	p, _, err = startMariaServer(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !p.kill(cfg.DataDir) {
		t.Error("kill found the server not running")
	}
	if pids := processesIn(cfg.DataDir); len(pids) > 0 {
		t.Errorf("processes %v left in %s after a kill", pids, cfg.DataDir)
	}
}
