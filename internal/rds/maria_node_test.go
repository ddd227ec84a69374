package rds

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/mariadb/mariadbtest"
	"github.com/hastack/hastack/internal/testenv"
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

// TestMariaPrimaryAlone: with engine "mysql" the cluster runs a MariaDB
// primary as it runs a PostgreSQL one: made on first start, reached
// through its writer endpoint with a mysql:// URL as the application's
// user, restarted by the monitor when it dies on its own, and found with
// its data at the next start.
func TestMariaPrimaryAlone(t *testing.T) {
	testenv.RequireMariaDB(t)
	rec := newRecorder()
	cfg := testConfig(stateDir(t), "127.0.74.5", rec)
	cfg.Database.Engine, cfg.Database.Port = "mysql", 3306
	cfg.Endpoints = []EndpointConfig{{Region: "us-east-1", Writer: netip.MustParseAddr("127.0.74.6"), Reader: netip.MustParseAddr("127.0.74.7")}}
	c := newCluster(t, cfg)
	ctx := startCtx(t)
	if err := c.Start(ctx); err != nil {
		t.Fatalf("%v\nevents:\n%s", err, eventsOnly(rec))
	}
	writer := c.WriterURL("us-east-1")
	if !strings.HasPrefix(writer, "mysql://hastack:") || !strings.HasSuffix(writer, "@127.0.74.6:3306/app") {
		t.Fatalf("writer URL %s, want the application's mysql:// URL on the writer endpoint", strings.Replace(writer, c.password, "…", 1))
	}
	db := mariadbtest.Open(t, writer)
	if _, err := db.ExecContext(ctx, "CREATE TABLE t (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if s := nodeStatus(t, c, "db-us-east-1a"); s.ReplicationState != ReplPrimary || !s.Running {
		t.Errorf("status %+v, want a running primary", s)
	}

	// Dead on its own (kill -9): the monitor starts it again.
	p := c.byName["db-us-east-1a"].proc.Load()
	if err := p.signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	took := testenv.WaitFor(t, "the primary restarted and writable", 60*time.Second, func() bool {
		_, err := db.ExecContext(ctx, "INSERT IGNORE INTO t VALUES (2)")
		return err == nil
	})
	t.Logf("writable again %s after kill -9", took.Round(time.Millisecond))
	if events := eventsOnly(rec); !strings.Contains(events, EventNodeExited) {
		t.Errorf("no event of the exit:\n%s", events)
	}

	// Stopped and started again, it keeps its data.
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if pids := processesIn(c.byName["db-us-east-1a"].layout.dataDir); len(pids) > 0 {
		t.Fatalf("processes %v left after Stop", pids)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 2 {
		t.Fatalf("after a restart of the cluster: %d rows, %v; want 2", n, err)
	}
}
