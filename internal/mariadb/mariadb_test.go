package mariadb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/hastack/hastack/internal/testenv"
	"go.uber.org/goleak"
)

// The integration tests run real servers on 127.0.70.0/24, which no other
// test of the module uses; each test has its own tenth of it.

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		runHelper()
		return
	}
	goleak.VerifyTestMain(withTemplate{m})
}

// withTemplate runs the tests, then removes the data directory they copied.
type withTemplate struct{ m *testing.M }

func (w withTemplate) Run() int {
	code := w.m.Run()
	if template.root != "" {
		os.RemoveAll(template.root)
	}
	return code
}

// template is one initialised data directory, made by the first test that
// needs a server (Init takes seconds); every server starts from a copy.
var template struct {
	once     sync.Once
	root     string
	cfg      Config
	took     time.Duration
	err      error
	accounts Accounts
}

func randomPassword() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// initTemplate runs Init once for the whole test run.
func initTemplate(t *testing.T) Config {
	t.Helper()
	testenv.RequireMariaDB(t)
	template.once.Do(func() {
		template.accounts = Accounts{
			AdminPassword: randomPassword(), ReplicationPassword: randomPassword(),
			AppUser: "app", AppPassword: randomPassword(), AppDatabase: "appdb",
		}
		root, err := os.MkdirTemp("", "hastack-mariadb-")
		if err == nil {
			err = os.Chmod(root, 0o755)
		}
		if err != nil {
			template.err = err
			return
		}
		template.root = root
		cred, err := RunAs()
		if err != nil {
			template.err = err
			return
		}
		template.cfg = Config{
			Name: "template", DataDir: filepath.Join(root, "data"), RunDir: filepath.Join(root, "run"),
			Addr: netip.MustParseAddrPort("127.0.70.1:3306"), ServerID: 1, Cred: cred, Accounts: template.accounts,
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		start := time.Now()
		template.err = Init(ctx, template.cfg)
		template.took = time.Since(start)
	})
	if template.err != nil {
		t.Fatalf("Init: %v", template.err)
	}
	return template.cfg
}

// newConfig gives a server its own copy of the template, listening on
// 127.0.70.host:3306 with server_id id.
func newConfig(t *testing.T, host byte, id uint32) Config {
	t.Helper()
	tmpl := initTemplate(t)
	dir := testenv.OpenTempDir(t, "hastack-mariadb-server-")
	cfg := tmpl
	cfg.Name = fmt.Sprintf("db%d", id)
	cfg.DataDir, cfg.RunDir = filepath.Join(dir, "data"), filepath.Join(dir, "run")
	cfg.LogPath = ""
	cfg.Addr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 70, host}), 3306)
	cfg.ServerID = id
	if out, err := exec.Command("cp", "-a", tmpl.DataDir, cfg.DataDir).CombinedOutput(); err != nil {
		t.Fatalf("copying the template: %v: %s", err, out)
	}
	return cfg
}

// start starts a server that is killed, at the latest, when the test ends,
// and checks then that nothing of it is left running.
func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Kill()
		if pids := processesIn(s.cfg.DataDir); len(pids) > 0 {
			t.Errorf("%s: processes %v left in %s", s.cfg.Name, pids, s.cfg.DataDir)
		}
		checkLogHasNoPassword(t, s.cfg)
	})
	return s
}

func checkLogHasNoPassword(t *testing.T, cfg Config) {
	t.Helper()
	log, err := os.ReadFile(cfg.LogPath)
	if err != nil {
		t.Errorf("reading %s: %v", cfg.LogPath, err)
		return
	}
	a := cfg.Accounts
	for _, pw := range []string{a.AdminPassword, a.ReplicationPassword, a.AppPassword} {
		if strings.Contains(string(log), pw) {
			t.Errorf("%s's log holds a password", cfg.Name)
		}
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// login opens an application pool on s, closed when the test ends.
func login(t *testing.T, s *Server) *sql.DB {
	db := s.Login()
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, query string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(ctxFor(t, 20*time.Second), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func mysqlErrNumber(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

// MariaDB's error numbers the tests expect.
const (
	errAccessDenied    = 1227 // needs a privilege (SUPER, ...)
	errNotOwner        = 1095 // KILL of another user's session
	errReadOnly        = 1290 // --read-only
	errDBAccessDenied  = 1044
	errTableAccessDeny = 1142
)

func count(t *testing.T, s *Server, query string) int64 {
	t.Helper()
	var n int64
	if err := s.db.QueryRowContext(ctxFor(t, 10*time.Second), query).Scan(&n); err != nil {
		t.Fatalf("%s on %s: %v", query, s.cfg.Name, err)
	}
	return n
}

// makePrimary opens s for writes and creates the test table; its commits
// do not wait for a standby until semiSyncWith.
func makePrimary(t *testing.T, s *Server) {
	t.Helper()
	if _, err := s.Promote(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	mustExec(t, login(t, s), "CREATE TABLE IF NOT EXISTS t (id BIGINT PRIMARY KEY, v VARCHAR(32))")
}

// semiSyncWith makes primary's commits wait for standby, which follows it,
// as the control plane does once the standby streams.
func semiSyncWith(t *testing.T, primary, standby *Server) {
	t.Helper()
	follow(t, standby, primary, true)
	if err := primary.SetSemiSync(ctxFor(t, 10*time.Second), true); err != nil {
		t.Fatal(err)
	}
	waitSemiSyncClients(t, primary, 1)
}

func follow(t *testing.T, s, primary *Server, semiSync bool) {
	t.Helper()
	if err := s.Follow(ctxFor(t, 10*time.Second), primary.cfg.Addr, semiSync); err != nil {
		t.Fatal(err)
	}
}

// waitCaughtUp waits until replica has applied everything primary logged.
func waitCaughtUp(t *testing.T, primary, replica *Server) {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	testenv.WaitFor(t, replica.cfg.Name+" catching up with "+primary.cfg.Name, 30*time.Second, func() bool {
		p, err1 := primary.Position(ctx)
		r, err2 := replica.ReplicaStatus(ctx)
		if err2 == nil && r.LastSQLError != "" {
			t.Fatalf("%s stopped applying: %s", replica.cfg.Name, r.LastSQLError)
		}
		return err1 == nil && err2 == nil && Behind(p.BinlogPos, r.SlavePos) == 0
	})
}

func waitSemiSyncClients(t *testing.T, primary *Server, n int64) {
	t.Helper()
	ctx := ctxFor(t, 30*time.Second)
	testenv.WaitFor(t, fmt.Sprintf("%d semi-sync standby on %s", n, primary.cfg.Name), 30*time.Second, func() bool {
		st, err := primary.SemiSyncStatus(ctx)
		return err == nil && st.Clients == n
	})
}

// TestInitAndAccounts: Init makes a data directory a server starts on as
// the unprivileged account, read-only, with hastack's admin, the
// replication account and an application user who is no superuser.
func TestInitAndAccounts(t *testing.T) {
	tmpl := initTemplate(t)
	t.Logf("Init took %s", template.took.Round(time.Millisecond))
	if err := Init(ctxFor(t, time.Minute), tmpl); err == nil || !strings.Contains(err.Error(), "already holds files") {
		t.Errorf("Init over an initialised data directory: %v", err)
	}
	if fi, err := os.Stat(tmpl.DataDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory: %v, %v; want mode 0700", fi.Mode(), err)
	}

	cfg := newConfig(t, 1, 1)
	before := time.Now()
	s := start(t, cfg)
	t.Logf("Start took %s", time.Since(before).Round(time.Millisecond))
	ctx := ctxFor(t, 30*time.Second)

	if fi, err := os.Stat(cfg.optionFile()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("option file: %v; want mode 0600", err)
	}
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.Pid())); err == nil && cfg.Cred != nil {
		if want := fmt.Sprintf("\nUid:\t%d\t", cfg.Cred.Uid); !strings.Contains(string(status), want) {
			t.Errorf("mariadbd does not run as uid %d", cfg.Cred.Uid)
		}
	}
	if os.Geteuid() == 0 && cfg.Cred == nil {
		t.Error("running as root, but RunAs gave no other account")
	}
	pos, err := s.Position(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !pos.ReadOnly {
		t.Error("a server starts writable; it must start read-only")
	}
	if n := count(t, s, "SELECT COUNT(*) FROM mysql.user WHERE user = ''"); n != 0 {
		t.Errorf("%d anonymous users", n)
	}
	if n := count(t, s, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'test'"); n != 0 {
		t.Error("a test database exists")
	}
	if n := count(t, s, "SELECT COUNT(*) FROM mysql.user WHERE user = 'root' AND host <> 'localhost'"); n != 0 {
		t.Error("root may log in over the network")
	}

	app := login(t, s)
	// Read-only holds for the application until hastack opens the server.
	if _, err := app.ExecContext(ctx, "CREATE TABLE t (id INT PRIMARY KEY)"); mysqlErrNumber(err) != errReadOnly {
		t.Errorf("creating a table on a read-only server: %v, want error %d", err, errReadOnly)
	}
	makePrimary(t, s)
	mustExec(t, app, "INSERT INTO t VALUES (1, 'one')")

	var adminConn int64
	if err := s.db.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&adminConn); err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		stmt string
		want uint16
	}{
		{"SET GLOBAL read_only = ON", errAccessDenied},
		{"STOP SLAVE", errAccessDenied},
		{fmt.Sprintf("KILL %d", adminConn), errNotOwner},
		{"CREATE DATABASE other", errDBAccessDenied},
		{"SELECT * FROM mysql.user", errTableAccessDeny},
		{"CREATE USER x IDENTIFIED BY 'x'", errAccessDenied},
	}
	for _, r := range refused {
		if _, err := app.ExecContext(ctx, r.stmt); mysqlErrNumber(err) != r.want {
			t.Errorf("application user: %s: %v, want error %d", r.stmt, err, r.want)
		}
	}
	var readOnlyAdmin int64
	if err := app.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.USER_PRIVILEGES WHERE PRIVILEGE_TYPE IN ('SUPER', 'READ_ONLY ADMIN', 'CONNECTION ADMIN')").Scan(&readOnlyAdmin); err != nil || readOnlyAdmin != 0 {
		t.Errorf("application user holds %d of SUPER, READ_ONLY ADMIN, CONNECTION ADMIN (%v)", readOnlyAdmin, err)
	}

	repl := sql.OpenDB(newConnector(netip.Addr{}, cfg.Addr.String(), ReplicationUser, cfg.Accounts.ReplicationPassword, ""))
	defer repl.Close()
	if err := repl.PingContext(ctx); err != nil {
		t.Errorf("replication account cannot log in: %v", err)
	}
	if _, err := repl.ExecContext(ctx, "SELECT * FROM appdb.t"); mysqlErrNumber(err) != errTableAccessDeny {
		t.Errorf("replication account reading the application's data: %v", err)
	}
	wrong := sql.OpenDB(newConnector(netip.Addr{}, cfg.Addr.String(), AdminUser, "wrong", ""))
	defer wrong.Close()
	if err := wrong.PingContext(ctx); err == nil {
		t.Error("admin logged in with a wrong password")
	}
}
