package mariadbtest

import (
	"context"
	"database/sql"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/hastack/hastack/internal/dburl"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := func() int {
		defer RemoveTemplate()
		return m.Run()
	}()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// TestStartAndRestart: the URL logs in as the application, whose database
// is writable, and what was committed survives a crash and a restart.
func TestStartAndRestart(t *testing.T) {
	d := New(t, netip.MustParseAddrPort("127.0.71.200:3306"))
	cfg, err := dburl.MySQLConfig(d.URL, dburl.Timeouts{Dial: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != "app" || cfg.DBName != "appdb" || cfg.Addr != "127.0.71.200:3306" {
		t.Fatalf("URL gives %s@%s/%s", cfg.User, cfg.Addr, cfg.DBName)
	}
	open := func() *sql.DB {
		c, err := mysql.NewConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return sql.OpenDB(c)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	db := open()
	for _, stmt := range []string{"CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1)"} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db.Close()
	d.Kill()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	db = open()
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after a restart: %d rows, %v", n, err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES (2)"); err != nil {
		t.Fatalf("writing after a restart: %v", err)
	}
}
