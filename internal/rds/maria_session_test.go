package rds

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/mariadb"
	"github.com/hastack/hastack/internal/mariadb/mariadbtest"
	"github.com/hastack/hastack/internal/testenv"
)

// TestMariaSession: the MariaDB engine reaches a server from a chosen
// address, tells a primary from a follower and where each stands, fences
// and opens a primary, promotes a follower and shuts a server down over
// the network: what the agent asks of a server, on real servers.
func TestMariaSession(t *testing.T) {
	primaryAddr, followerAddr := netip.MustParseAddrPort("127.0.72.1:3306"), netip.MustParseAddrPort("127.0.72.2:3306")
	from := netip.MustParseAddr("127.0.72.9")
	primary := mariadbtest.New(t, primaryAddr)
	cfg := mariadbtest.Config(t, followerAddr, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	follower, err := mariadb.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer follower.Kill()
	if err := follower.Follow(ctx, primaryAddr, false); err != nil {
		t.Fatal(err)
	}
	eng := &mariaEngine{accounts: cfg.Accounts}
	nodeAt := func(name string, ap netip.AddrPort) *node {
		return &node{cfg: NodeConfig{Name: name, Addr: ap.Addr()}, port: int(ap.Port())}
	}
	pn, fn := nodeAt("db-primary", primaryAddr), nodeAt("db-follower", followerAddr)

	if err := eng.handshake(ctx, from, primaryAddr); err != nil {
		t.Fatalf("handshake with a running server: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.72.3:0")
	if err != nil {
		t.Fatal(err)
	}
	down := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	if err := eng.handshake(ctx, from, down); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("handshake with nothing listening: %v, want connection refused", err)
	}

	ps, err := eng.dial(ctx, from, pn, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ps.close(ctx)
	fs, err := eng.dial(ctx, from, fn, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.close(ctx)

	app := mariadbtest.Open(t, primary.URL)
	if _, err := app.ExecContext(ctx, "CREATE TABLE t (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := app.ExecContext(ctx, "INSERT INTO t VALUES (?)", i); err != nil {
			t.Fatal(err)
		}
	}
	written, err := ps.written(ctx)
	if err != nil || written.IsZero() {
		t.Fatalf("the primary's position: %v, %v", written, err)
	}
	testenv.WaitFor(t, "the follower replaying what the primary wrote", 20*time.Second, func() bool {
		replayed, _, err := fs.replayed(ctx)
		return err == nil && replayed.Covers(written)
	})
	po, err1 := ps.observe(ctx, serverConf{})
	fo, err2 := fs.observe(ctx, serverConf{})
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if po.InRecovery || !fo.InRecovery || !fo.Pos.Covers(po.Pos) || !po.Pos.Covers(written) {
		t.Errorf("observed primary %+v and follower %+v, want the follower in recovery and caught up with %v", po, fo, written)
	}
	// The primary cannot list its followers; the follower reports its stream.
	if po.Replicas != nil || po.upstream != nil {
		t.Errorf("the primary reported followers %v or a stream %v of its own", po.Replicas, po.upstream)
	}
	if up := fo.upstream; up == nil || up.State != replStreaming || up.Sync || !up.Flushed.Covers(written) {
		t.Errorf("the follower's report of its stream: %+v, want streaming, asynchronous, received up to %v", up, written)
	}

	// Fenced, the primary refuses the application's writes; opened, it
	// takes them again.
	if err := ps.setReadOnly(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := app.ExecContext(ctx, "INSERT INTO t VALUES (100)"); err == nil {
		t.Error("a fenced primary took a write")
	}
	if err := ps.setReadOnly(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := app.ExecContext(ctx, "INSERT INTO t VALUES (101)"); err != nil {
		t.Errorf("a write once the fence is lifted: %v", err)
	}
	latest, err := ps.written(ctx)
	if err != nil || !latest.Past(written) {
		t.Fatalf("the primary's position after a write: %v (was %v), %v", latest, written, err)
	}

	// Shut down over the network, once its follower has everything; the
	// follower, promoted, holds all of it and takes writes.
	ps.shutdown(ctx)
	select {
	case <-primary.Server().Done():
	case <-ctx.Done():
		t.Fatal("the primary still runs after a shutdown through its session")
	}
	if _, err := fs.promote(ctx); err != nil {
		t.Fatal(err)
	}
	fo, err = fs.observe(ctx, serverConf{})
	if err != nil || fo.InRecovery || !fo.Pos.Covers(latest) {
		t.Fatalf("the promoted follower: %+v, %v; want a primary holding %v", fo, err, latest)
	}

	// Hung (SIGSTOP), it lets the kernel accept but greets no one.
	if err := syscall.Kill(follower.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	hctx, hcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	err = eng.handshake(hctx, from, followerAddr)
	hcancel()
	syscall.Kill(follower.Pid(), syscall.SIGCONT)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("handshake with a hung server: %v, want no answer before the deadline", err)
	}
}
