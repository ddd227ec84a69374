package webapp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
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

func TestKVWithPostgres(t *testing.T) {
	db := startDatabase(t, "127.0.98.5")
	env := testEnv(map[string]string{"DATABASE_URL": db.WriterURL(""), "DATABASE_READ_URL": db.ReaderURL("us-east-1")})

	// Several instances creating the table at once must all succeed.
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for i := range 4 {
		srv, _ := serve(t, env)
		wg.Go(func() {
			key := fmt.Sprintf("k%d", i)
			resp, body, err := request(srv, "PUT", "/kv/"+key, "v")
			if err != nil {
				errs <- fmt.Sprintf("PUT /kv/%s: %v", key, err)
			} else if resp.StatusCode != 200 {
				errs <- fmt.Sprintf("PUT /kv/%s = %d %q", key, resp.StatusCode, body)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}

	srv, logs := serve(t, env)
	resp, body := do(t, srv, "PUT", "/kv/greeting", "hello, world")
	if resp.StatusCode != 200 {
		t.Fatalf("PUT = %d %q", resp.StatusCode, body)
	}
	var put struct{ Key, Region, Instance string }
	if err := json.Unmarshal([]byte(body), &put); err != nil || put.Key != "greeting" || put.Region != "us-east-1" || put.Instance != "i-0a1b2c3d" {
		t.Fatalf("PUT body %q (%v)", body, err)
	}
	if resp, body := do(t, srv, "GET", "/kv/greeting", ""); resp.StatusCode != 200 || body != "hello, world" {
		t.Fatalf("GET = %d %q", resp.StatusCode, body)
	}
	if resp, _ := do(t, srv, "GET", "/kv/missing", ""); resp.StatusCode != 404 {
		t.Fatalf("GET missing key = %d, want 404", resp.StatusCode)
	}
	// The longest key fits the table's index even when it does not compress
	// (random hex); one byte more is the client's error, not the server's.
	var raw [maxKeyBytes / 2]byte
	rand.Read(raw[:])
	long := hex.EncodeToString(raw[:])
	if resp, body := do(t, srv, "PUT", "/kv/"+long, "v"); resp.StatusCode != 200 {
		t.Fatalf("PUT with a %d-byte key = %d %q", len(long), resp.StatusCode, body)
	}
	if resp, body := do(t, srv, "GET", "/kv/"+long, ""); resp.StatusCode != 200 || body != "v" {
		t.Fatalf("GET with a %d-byte key = %d %q", len(long), resp.StatusCode, body)
	}
	for _, key := range []string{long + "0", long + long + long} {
		if resp, body := do(t, srv, "PUT", "/kv/"+key, "v"); resp.StatusCode != 400 {
			t.Errorf("PUT with a %d-byte key = %d %q, want 400", len(key), resp.StatusCode, body)
		}
	}
	if resp, body := do(t, srv, "GET", "/health", ""); resp.StatusCode != 200 || body != "ok region=us-east-1 az=us-east-1a instance=i-0a1b2c3d\n" {
		t.Fatalf("GET /health = %d %q", resp.StatusCode, body)
	}

	// The server ends the app's pooled connections: requests still succeed.
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	terminateSessions(t, ctx, db.WriterURL(""))
	if resp, body := do(t, srv, "GET", "/kv/greeting", ""); resp.StatusCode != 200 {
		t.Fatalf("GET after the server closed pooled connections = %d %q", resp.StatusCode, body)
	}

	// The database goes away and comes back: health follows.
	if err := db.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if resp, body := do(t, srv, "GET", "/health", ""); resp.StatusCode != 503 {
		t.Fatalf("GET /health with the database stopped = %d %q", resp.StatusCode, body)
	}
	if err := db.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The read (5 s budget) reconnects; /health (1 s) then reuses that
	// connection, which keeps it within budget on a loaded machine.
	if resp, body := do(t, srv, "GET", "/kv/greeting", ""); resp.StatusCode != 200 || body != "hello, world" {
		t.Fatalf("GET after restart = %d %q", resp.StatusCode, body)
	}
	if resp, body := do(t, srv, "GET", "/health", ""); resp.StatusCode != 200 {
		t.Fatalf("GET /health after restart = %d %q", resp.StatusCode, body)
	}
	pw, _ := os.ReadFile(db.PasswordFile())
	if len(pw) == 0 || strings.Contains(logs.String(), strings.TrimSpace(string(pw))) {
		t.Error("password file unreadable or the password leaked into the log")
	}
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
