package webapp

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/rds"
	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/testenv"
	"github.com/jackc/pgx/v5"
)

// startDatabase runs a real one-node cluster for the test, skipping when
// PostgreSQL is not installed unless HASTACK_REQUIRE_POSTGRES=1.
func startDatabase(t *testing.T, addr string) *rds.Cluster {
	t.Helper()
	testenv.RequirePostgres(t)
	// Not t.TempDir: its parent is private to root, and PostgreSQL runs as
	// the postgres user when the tests run as root.
	dir, err := os.MkdirTemp("", "hastack-webapp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := rds.New(rds.Config{
		StateDir: dir,
		Database: spec.Database{Engine: "postgres", Port: 5432, Name: "app", Username: "hastack"},
		Nodes: []rds.NodeConfig{{
			Name: "db-test", Region: "us-east-1", AZ: "us-east-1a",
			Role: rds.RolePrimary, Addr: netip.MustParseAddr(addr),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stopping database: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// postgresUnderTest is a one-node PostgreSQL cluster on addr.
func postgresUnderTest(t *testing.T, addr string) testDatabase {
	db := startDatabase(t, addr)
	pw, err := os.ReadFile(db.PasswordFile())
	if err != nil || len(strings.TrimSpace(string(pw))) == 0 {
		t.Fatalf("password file unreadable or empty: %v", err)
	}
	url := db.WriterURL("")
	return testDatabase{
		writerURL: url, readerURL: db.ReaderURL("us-east-1"), password: strings.TrimSpace(string(pw)),
		terminateSessions: func(t *testing.T, ctx context.Context) { terminateSessions(t, ctx, url) },
		clientAddrs: func(t *testing.T, ctx context.Context) []string {
			return queryStrings(t, ctx, url, `SELECT host(client_addr) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid() AND client_addr IS NOT NULL
				AND application_name <> 'hastack'`)
		},
		stop: db.Stop, start: db.Start,
	}
}

// queryStrings runs a query of one text column on a connection of its own.
func queryStrings(t *testing.T, ctx context.Context, url, query string) []string {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// terminateSessions ends every other session on the database and waits
// for them to be gone.
func terminateSessions(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no pooled session to terminate")
	}
}
