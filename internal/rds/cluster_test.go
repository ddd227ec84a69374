package rds

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
)

// A first start makes the cluster and its secrets, over what a hastack
// killed during its first start left (a half-made copy in data.new) and
// a link planted where initdb's password file goes; applications get a
// master user that is no superuser. The data and the passwords survive
// a restart, as after hastack down then up; a server that exits during
// its start is reported with its log; Purge removes it all.
func TestDataSurvivesRestart(t *testing.T) {
	requirePostgres(t)
	dir := stateDir(t)
	rec := newRecorder()
	c := newCluster(t, testConfig(dir, "127.0.99.5", rec))
	ctx := startCtx(t)

	a := c.nodes[0].layout
	if err := os.MkdirAll(filepath.Dir(a.nodeDir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(a.path(newDataName), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a.path(newDataName), "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(dir, "outside")
	const precious = "precious\n"
	if err := os.WriteFile(outside, []byte(precious), 0o600); err != nil {
		t.Fatal(err)
	}
	plantLink(t, a.path(".initdb-pwfile"), outside)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	untouched(t, outside, precious)
	if _, err := os.Lstat(a.path(newDataName)); !os.IsNotExist(err) {
		t.Errorf("the unfinished copy is still there (%v)", err)
	}
	checkSecrets(t, c, dir, rec)
	checkRoles(t, ctx, c)
	execSQL(t, ctx, c.WriterURL(""), "CREATE TABLE notes (id int PRIMARY KEY, body text)")
	execSQL(t, ctx, c.WriterURL(""), "INSERT INTO notes VALUES (1, 'kept')")
	if st := c.Nodes(); len(st) != 1 || !st[0].Running || st[0].Address != "127.0.99.5:5432" || st[0].Role != RolePrimary {
		t.Fatalf("Nodes() = %+v", st)
	}

	pid := c.nodes[0].proc.Load().pid()
	dataDir := c.nodes[0].layout.dataDir
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if !pidGone(pid) {
		t.Errorf("postmaster pid %d still exists after Stop", pid)
	}
	if left := processesIn(dataDir); len(left) > 0 {
		t.Errorf("processes %v still run in %s after Stop", left, dataDir)
	}
	if st := c.Nodes(); st[0].Running {
		t.Error("node reported running after Stop")
	}
	if err := c.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}

	// A new Cluster on the same state directory, as after a hastack restart.
	c2 := newCluster(t, testConfig(dir, "127.0.99.5", rec))
	if c2.WriterURL("") != c.WriterURL("") {
		t.Error("password not reused across restarts")
	}
	if err := c2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, ctx, c2.WriterURL(""), "SELECT body FROM notes WHERE id = 1"); got != "kept" {
		t.Fatalf("after restart got %q, want %q", got, "kept")
	}
	if c2.ReaderURL("us-west-2") != c2.WriterURL("") {
		t.Error("ReaderURL differs from WriterURL with no replicas")
	}
	events := rec.String()
	for _, kind := range []string{EventNodeStarting, EventNodeReady, EventNodeStopped} {
		if !strings.Contains(events, kind) {
			t.Errorf("no %s event in %s", kind, events)
		}
	}
	serverLog, err := os.ReadFile(c.nodes[0].layout.logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{c.PasswordFile(), replicationPasswordPath(dir), adminPasswordPath(dir)} {
		pw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if s := strings.TrimSpace(string(pw)); strings.Contains(rec.String(), s) || strings.Contains(string(serverLog), s) {
			t.Errorf("the password in %s appears in the log output", p)
		}
	}

	// A server that exits during its start.
	if err := c2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	auto := filepath.Join(c.nodes[0].layout.dataDir, "postgresql.auto.conf")
	f, err := os.OpenFile(auto, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("no_such_setting = 1\n")
	f.Close()
	err = c2.Start(ctx)
	if err == nil {
		t.Fatal("Start succeeded with a broken configuration")
	}
	for _, want := range []string{"starting primary db-us-east-1a: ", "exited during startup", "no_such_setting"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}

	if err := Purge(dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(dir, "db"), c.PasswordFile()} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still exists after Purge (%v)", p, err)
		}
	}
	if err := Purge(dir); err != nil {
		t.Errorf("second Purge: %v", err)
	}
}

// checkSecrets fails unless the passwords are long, distinct, private
// files, and initdb's copy is gone.
func checkSecrets(t *testing.T, c *Cluster, dir string, rec *recorder) {
	t.Helper()
	if di, err := os.Stat(filepath.Dir(c.PasswordFile())); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("secrets dir: %v, %v; want mode 0700", di.Mode().Perm(), err)
	}
	seen := map[string]bool{}
	for _, p := range []string{c.PasswordFile(), replicationPasswordPath(dir), adminPasswordPath(dir)} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", p, fi.Mode().Perm())
		}
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		pw := strings.TrimSpace(string(data))
		if len(pw) < 32 || seen[pw] {
			t.Errorf("the password in %s is %d characters long or reused", p, len(pw))
		}
		seen[pw] = true
	}
	pw, _ := os.ReadFile(c.PasswordFile())
	if !strings.Contains(c.WriterURL(""), strings.TrimSpace(string(pw))) {
		t.Error("WriterURL does not carry the stored password")
	}
	if matches, _ := filepath.Glob(filepath.Join(c.nodes[0].layout.nodeDir, ".initdb-pw*")); len(matches) > 0 {
		t.Errorf("initdb password copy left behind: %v", matches)
	}
}

func TestAddressInUse(t *testing.T) {
	requirePostgres(t)
	ln, err := net.Listen("tcp", "127.0.99.7:5432")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := newCluster(t, testConfig(stateDir(t), "127.0.99.7", nil))
	err = c.Start(startCtx(t))
	want := "starting primary db-us-east-1a: address 127.0.99.7:5432 is already in use"
	if err == nil || err.Error() != want {
		t.Fatalf("Start error = %v, want %q", err, want)
	}
	if c.Nodes()[0].Running {
		t.Error("node running after failed start")
	}
}

// A server killed with hastack (SIGKILL through Pdeathsig) leaves its
// postmaster.pid behind; the next start must not trip over it.
func TestStartAfterKill(t *testing.T) {
	dir := seededDir(t, tmplSingle)
	rec := newRecorder()
	c := newCluster(t, testConfig(dir, "127.0.99.9", rec))
	ctx := startCtx(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	execSQL(t, ctx, c.WriterURL(""), "CREATE TABLE t (x int); INSERT INTO t VALUES (42)")
	// hastack is gone with its server: nothing restarts it.
	c.stopMonitor()
	proc := c.nodes[0].proc.Load()
	if err := proc.signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rec.exited:
	case <-ctx.Done():
		t.Fatal("no event for the killed server")
	}
	if c.Nodes()[0].Running {
		t.Error("killed node reported running")
	}
	if _, err := os.Stat(filepath.Join(c.nodes[0].layout.dataDir, "postmaster.pid")); err != nil {
		t.Fatalf("expected a stale postmaster.pid: %v", err)
	}

	c2 := newCluster(t, testConfig(dir, "127.0.99.9", nil))
	if err := c2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, ctx, c2.WriterURL(""), "SELECT x::text FROM t"); got != "42" {
		t.Fatalf("got %q, want 42", got)
	}
}

func TestUnreachableStateDir(t *testing.T) {
	requirePostgres(t)
	if os.Geteuid() != 0 {
		t.Skip("only root runs PostgreSQL as another user")
	}
	dir := stateDir(t)
	private := filepath.Join(dir, "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, testConfig(private, "127.0.99.11", nil))
	err := c.Start(startCtx(t))
	want := "PostgreSQL runs as user postgres, which cannot enter directory " + private +
		"; use a state directory under /var/lib/hastack or run: chmod o+x " + private
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("Start error = %v, want it to end with %q", err, want)
	}
}

func TestDataDirOwnedByOther(t *testing.T) {
	requirePostgres(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a directory owned by another user")
	}
	dir := stateDir(t)
	dataDir := filepath.Join(dir, "db", "db-us-east-1a", "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil { // owned by root
		t.Fatal(err)
	}
	c := newCluster(t, testConfig(dir, "127.0.99.12", nil))
	err := c.Start(startCtx(t))
	if err == nil || !strings.Contains(err.Error(), "data directory "+dataDir+" is owned by user root, but PostgreSQL runs as user postgres") {
		t.Fatalf("Start error = %v", err)
	}
}

func execSQL(t *testing.T, ctx context.Context, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
}

func queryString(t *testing.T, ctx context.Context, url, sql string) string {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
	return s
}
