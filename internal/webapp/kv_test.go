package webapp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// testDatabase is a running database of either engine, as testKV drives it.
type testDatabase struct {
	writerURL, readerURL string
	password             string
	// terminateSessions ends the application's sessions from the server.
	terminateSessions func(t *testing.T, ctx context.Context)
	// clientAddrs are the source addresses of the application's sessions.
	clientAddrs func(t *testing.T, ctx context.Context) []string
	stop, start func(ctx context.Context) error
}

// TestKV runs the same key-value test on PostgreSQL and on MariaDB, each
// skipped when its server is not installed unless HASTACK_REQUIRE_* says so.
func TestKV(t *testing.T) {
	for _, tt := range []struct {
		engine, listen string
		start          func(t *testing.T) testDatabase
	}{
		{"postgres", "127.0.98.6:0", func(t *testing.T) testDatabase { return postgresUnderTest(t, "127.0.98.5") }},
		{"mariadb", "127.0.71.21:0", func(t *testing.T) testDatabase { return mariadbUnderTest(t, "127.0.71.20:3306") }},
	} {
		t.Run(tt.engine, func(t *testing.T) { testKV(t, tt.start(t), tt.listen) })
	}
}

// testKV drives the key-value store, its health and its recovery from
// lost connections and a restarted server, the same for either engine.
func testKV(t *testing.T, db testDatabase, listen string) {
	env := testEnv(map[string]string{"DATABASE_URL": db.writerURL, "DATABASE_READ_URL": db.readerURL, "HASTACK_LISTEN": listen})

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

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	// Connections leave from the instance's own address.
	from := sourceAddr(listen).String()
	addrs := db.clientAddrs(t, ctx)
	if len(addrs) == 0 {
		t.Error("no connection of the application's seen by the server")
	}
	for _, a := range addrs {
		if a != from {
			t.Errorf("a connection comes from %s, want %s", a, from)
		}
	}

	// The server ends the app's pooled connections: requests still succeed.
	db.terminateSessions(t, ctx)
	if resp, body := do(t, srv, "GET", "/kv/greeting", ""); resp.StatusCode != 200 {
		t.Fatalf("GET after the server closed pooled connections = %d %q", resp.StatusCode, body)
	}

	// The database goes away and comes back: health follows.
	if err := db.stop(ctx); err != nil {
		t.Fatal(err)
	}
	if resp, body := do(t, srv, "GET", "/health", ""); resp.StatusCode != 503 {
		t.Fatalf("GET /health with the database stopped = %d %q", resp.StatusCode, body)
	}
	if err := db.start(ctx); err != nil {
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
	if strings.Contains(logs.String(), db.password) {
		t.Error("the password leaked into the log")
	}
}
