// Package mariadbtest gives tests a running MariaDB server with an
// application database: one data directory is initialised per test binary
// (Init takes seconds) and every server starts from a copy of it, writable,
// and is killed when its test ends.
//
// internal/mariadb's own tests keep their copy of this setup: being inside
// that package, they cannot import this one (an import cycle).
package mariadbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/hastack/hastack/internal/dburl"
	"github.com/hastack/hastack/internal/mariadb"
	"github.com/hastack/hastack/internal/testenv"
)

// template is the data directory every server is copied from.
var template struct {
	once sync.Once
	root string
	cfg  mariadb.Config
	err  error
}

func randomPassword() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Template returns the configuration of the initialised template data
// directory, initialising it on first use; the test is skipped (or fails,
// under HASTACK_REQUIRE_MARIADB=1) when MariaDB is not installed.
func Template(t testing.TB) mariadb.Config {
	t.Helper()
	testenv.RequireMariaDB(t)
	template.once.Do(func() {
		accounts := mariadb.Accounts{
			AdminPassword: randomPassword(), ReplicationPassword: randomPassword(),
			AppUser: "app", AppPassword: randomPassword(), AppDatabase: "appdb",
		}
		// Not t.TempDir: the server runs as mysql when the tests run as root.
		root, err := os.MkdirTemp("", "hastack-mariadbtest-")
		if err == nil {
			err = os.Chmod(root, 0o755)
		}
		if err != nil {
			template.err = err
			return
		}
		template.root = root
		cred, err := mariadb.RunAs()
		if err != nil {
			template.err = err
			return
		}
		template.cfg = mariadb.Config{
			Name: "template", DataDir: filepath.Join(root, "data"), RunDir: filepath.Join(root, "run"),
			Addr: netip.MustParseAddrPort("127.0.71.250:3306"), ServerID: 1, Cred: cred, Accounts: accounts,
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		template.err = mariadb.Init(ctx, template.cfg)
	})
	if template.err != nil {
		t.Fatalf("initialising the template data directory: %v", template.err)
	}
	return template.cfg
}

// Runner runs a package's tests, then removes the template data
// directory: goleak.VerifyTestMain(mariadbtest.Runner(m)), or
// testscript.Main(mariadbtest.Runner(m), ...).
func Runner(m *testing.M) interface{ Run() int } { return runner{m} }

type runner struct{ m *testing.M }

func (r runner) Run() int {
	defer RemoveTemplate()
	return r.m.Run()
}

// RemoveTemplate removes the template data directory; call it from
// TestMain after the tests ran.
func RemoveTemplate() {
	if template.root != "" {
		os.RemoveAll(template.root)
	}
}

// Config gives a server on addr, with server_id id, its own copy of the
// template data directory, removed when the test ends.
func Config(t testing.TB, addr netip.AddrPort, id uint32) mariadb.Config {
	t.Helper()
	tmpl := Template(t)
	dir := testenv.OpenTempDir(t, "hastack-mariadbtest-server-")
	cfg := tmpl
	cfg.Name = fmt.Sprintf("db%d", id)
	cfg.DataDir, cfg.RunDir = filepath.Join(dir, "data"), filepath.Join(dir, "run")
	cfg.LogPath = ""
	cfg.Addr = addr
	cfg.ServerID = id
	if out, err := exec.Command("cp", "-a", tmpl.DataDir, cfg.DataDir).CombinedOutput(); err != nil {
		t.Fatalf("copying the template: %v: %s", err, out)
	}
	return cfg
}

// AppURL is the mysql:// URL of cfg's application account, as the stack
// hands it to applications.
func AppURL(cfg mariadb.Config) string {
	a := cfg.Accounts
	u := url.URL{Scheme: "mysql", User: url.UserPassword(a.AppUser, a.AppPassword), Host: cfg.Addr.String(), Path: "/" + a.AppDatabase}
	return u.String()
}

// DB is one running, writable server.
type DB struct {
	t      testing.TB
	cfg    mariadb.Config
	server *mariadb.Server
	// URL is the application account's mysql:// URL.
	URL string
}

// New starts a writable server on addr from a copy of the template. It is
// killed when the test ends, and its log is then checked for passwords.
func New(t testing.TB, addr netip.AddrPort) *DB {
	t.Helper()
	cfg := Config(t, addr, 1)
	d := &DB{t: t, cfg: cfg, URL: AppURL(cfg)}
	t.Cleanup(func() {
		if d.server != nil {
			d.server.Kill()
			checkLogHasNoPassword(t, d.server.Config())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}

// Start returns a stopped or killed server to service on the same data
// directory, writable.
func (d *DB) Start(ctx context.Context) error {
	s, err := mariadb.Start(ctx, d.cfg)
	if err != nil {
		return err
	}
	d.server = s
	if _, err := s.Promote(ctx); err != nil {
		return fmt.Errorf("making %s writable: %w", d.cfg.Name, err)
	}
	return nil
}

// Server is the running server (the latest, after a restart).
func (d *DB) Server() *mariadb.Server { return d.server }

// Stop shuts the server down cleanly.
func (d *DB) Stop(ctx context.Context) error { return d.server.Stop(ctx) }

// Kill ends the server as a crash would.
func (d *DB) Kill() { d.server.Kill() }

// Start runs a writable server on addr for the test and returns the
// mysql:// URL of its application account, which is no superuser.
func Start(t testing.TB, addr netip.AddrPort) (appURL string) {
	t.Helper()
	return New(t, addr).URL
}

func checkLogHasNoPassword(t testing.TB, cfg mariadb.Config) {
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

// Open is a database/sql pool on a mysql:// URL, closed with the test.
func Open(t testing.TB, url string) *sql.DB {
	t.Helper()
	cfg, err := dburl.MySQLConfig(url, dburl.Timeouts{Dial: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}
