package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/ledger"
	"github.com/hastack/hastack/internal/testenv"
	"github.com/jackc/pgx/v5"
)

// TestAutomaticFailoverFollowsThePrimary: with cross_region_failover =
// "automatic", under a steady write load, losing us-east-1 promotes
// us-west-2; once us-east-1 is back and DNS has failed back to it, the
// primary stays in us-west-2 (the region that holds it is well, though
// DNS no longer answers with it); then losing us-west-2, which now holds
// the primary, promotes us-east-1 again, and what us-west-2 acknowledged
// is there.
func TestAutomaticFailoverFollowsThePrimary(t *testing.T) {
	testenv.RequireNetAdmin(t)
	e := newAutomaticEnv(t)
	e.must("up", "-d")
	dbURL := strings.TrimSpace(e.must("db-url", "--password"))
	westURL := strings.TrimSpace(e.must("db-url", "--password", "--region", "us-west-2"))
	l, stopLoad := runLedger(t, ledger.Config{URL: dbURL, Table: "automatic_ledger", Rate: 50, Duration: 4 * time.Minute, Timeout: 2 * time.Second})
	waitFor(t, "writes acknowledged", 30*time.Second, func() bool { return l.Stats().Acked >= 20 })
	primaryIn := func(region string) func() bool {
		return func() bool { return primaryNode(t, e.status()).Region == region }
	}

	// us-east-1 lost: us-west-2 promoted by hastack.
	e.must("fail", "region", "us-east-1")
	waitFor(t, "us-west-2 promoted", time.Minute, primaryIn("us-west-2"))
	// Through us-west-2's writer endpoint: us-east-1's is cut off.
	execSQL(t, westURL, "CREATE TABLE written_in_west (id int); INSERT INTO written_in_west VALUES (1)")

	// us-east-1 back: its nodes follow us-west-2, DNS fails back to it.
	e.must("recover", "region", "us-east-1")
	e.waitAnswer("127.1.1.10")
	waitFor(t, "us-east-1's nodes streaming from us-west-2", time.Minute, func() bool {
		for _, n := range e.status().Database.Nodes {
			if n.Region == "us-east-1" && !streams(n) {
				return false
			}
		}
		return true
	})
	// For longer than region_failover_after (3 s), the primary stays.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if p := primaryNode(t, e.status()); p.Region != "us-west-2" {
			t.Fatalf("the primary moved to %s (%s) though us-west-2, which holds it, is well", p.Region, p.Name)
		}
		time.Sleep(250 * time.Millisecond) // sampling what must not change
	}

	// Now us-west-2, which holds the primary, is lost: us-east-1 promoted.
	e.must("fail", "region", "us-west-2")
	waitFor(t, "us-east-1 promoted again", time.Minute, primaryIn("us-east-1"))
	var n int
	queryRow(t, dbURL, "SELECT count(*) FROM written_in_west", &n)
	if n != 1 {
		t.Errorf("the write acknowledged in us-west-2 is missing after the second failover (%d rows)", n)
	}
	e.must("recover", "region", "us-west-2")
	if err := stopLoad(); err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	t.Logf("ledger: %d acked, %d failed, %d unknown, longest gap without an acknowledgement %s", st.Acked, st.Failed, st.Unknown, st.LongestGap.Round(time.Millisecond))
	if st.Acked == 0 {
		t.Error("no write acknowledged under the load")
	}
	e.must("down", "--purge")
}

// newAutomaticEnv is the quick example with cross_region_failover =
// "automatic".
func newAutomaticEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, "quick")
	src, err := os.ReadFile(e.file)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(src), `cross_region_failover = "manual"`, `cross_region_failover = "automatic"`, 1)
	if text == string(src) {
		t.Fatal("examples/quick has no cross_region_failover = \"manual\" to change")
	}
	if err := os.WriteFile(e.file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// withConn runs do on a session through url, within 10 s.
func withConn(t *testing.T, url string, do func(ctx context.Context, conn *pgx.Conn) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := do(ctx, conn); err != nil {
		t.Fatal(err)
	}
}

// execSQL runs sql through url.
func execSQL(t *testing.T, url, sql string) {
	t.Helper()
	withConn(t, url, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, sql)
		return err
	})
}

// queryRow scans the one row sql returns through url into dest.
func queryRow(t *testing.T, url, sql string, dest ...any) {
	t.Helper()
	withConn(t, url, func(ctx context.Context, conn *pgx.Conn) error {
		return conn.QueryRow(ctx, sql).Scan(dest...)
	})
}
