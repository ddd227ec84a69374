package e2e

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/drill"
	"github.com/hastack/hastack/internal/testenv"
)

// TestMySQLStack: examples/quick-mysql, the quick stack on the seed's
// engine, run on MariaDB: a semi-synchronous standby, a GTID replica in
// us-west-2. The instances write through the load balancer with the
// mysql:// URL they are given, db-url prints that URL, hastack sql runs
// the mariadb client on the writer endpoint; then the database drills:
// killing the primary and losing its AZ lose no acknowledged write, and
// losing the region loses at most what the replica trailed by.
func TestMySQLStack(t *testing.T) {
	testenv.RequireMariaDB(t)
	testenv.RequireNetAdmin(t) // region-failure isolates the region
	e := newEnv(t, "quick-mysql")
	e.must("up", "-d")

	st := e.status()
	if st.Database.Engine != "mysql" {
		t.Errorf("status engine %q, want mysql", st.Database.Engine)
	}
	roles := map[string]string{}
	for _, n := range st.Database.Nodes {
		roles[n.Role] = n.ReplicationState
	}
	if roles["primary"] != "primary" || roles["standby"] != "sync" || roles["replica"] != "async" {
		t.Fatalf("database nodes %+v, want a primary, a synchronous standby and an asynchronous replica", st.Database.Nodes)
	}
	if !st.Database.SyncStandby {
		t.Error("no synchronous standby after up")
	}
	if url := strings.TrimSpace(e.must("db-url")); !strings.HasPrefix(url, "mysql://hastack@") || !strings.HasSuffix(url, ":3306/app") {
		t.Fatalf("db-url printed %q, want the mysql:// URL of the writer endpoint", url)
	}
	if out := e.must("sql", "-N", "-e", "SELECT 40+2"); out != "42\n" {
		t.Fatalf("hastack sql -e 'SELECT 40+2' printed %q", out)
	}
	ip, _, err := e.resolve("app.example.com")
	if err != nil {
		t.Fatal(err)
	}
	_, lbPort, _ := net.SplitHostPort(st.Regions[0].LoadBalancer.Address)
	base := "http://" + net.JoinHostPort(ip.String(), lbPort)
	value := "written on MariaDB at " + time.Now().Format(time.RFC3339Nano)
	put(t, base+"/kv/mysql", value)
	if _, body := get(t, base+"/kv/mysql"); body != value {
		t.Fatalf("read back %q, want %q", body, value)
	}

	t.Run("db-failover", func(t *testing.T) {
		rep, code := e.runDrill("db-failover")
		t.Logf("db-failover: RTO %.2fs, promotion %v s, errors %d of %d, writes %d acked %d lost",
			rep.RTOSeconds, deref(rep.PromotionSeconds), rep.Errors, rep.Requests, rep.WritesAcked, rep.WritesLost)
		if code != 0 || !rep.Passed || rep.WritesAcked == 0 || rep.WritesLost != 0 {
			t.Fatalf("drill exit %d passed %v, writes %d acked %d lost; want passed and none lost", code, rep.Passed, rep.WritesAcked, rep.WritesLost)
		}
		// Detection (1s) + 3s, as on PostgreSQL.
		if rep.PromotionSeconds == nil || *rep.PromotionSeconds > 4 || rep.RTOSeconds > 4 {
			t.Errorf("promotion %v s, RTO %.2fs; want both within detection + 3s", deref(rep.PromotionSeconds), rep.RTOSeconds)
		}
		checkRestored(t, rep)
	})

	t.Run("az-failure", func(t *testing.T) {
		rep, code := e.runDrill("az-failure")
		t.Logf("az-failure: RTO %.2fs, promotion %v s, errors %d of %d, writes %d acked %d lost",
			rep.RTOSeconds, deref(rep.PromotionSeconds), rep.Errors, rep.Requests, rep.WritesAcked, rep.WritesLost)
		if code != 0 || !rep.Passed || rep.WritesAcked == 0 || rep.WritesLost != 0 || rep.PromotionSeconds == nil {
			t.Fatalf("drill exit %d passed %v, writes %d acked %d lost, promotion %v; want a promotion and none lost",
				code, rep.Passed, rep.WritesAcked, rep.WritesLost, deref(rep.PromotionSeconds))
		}
		checkRestored(t, rep)
	})

	// The link between the regions cut for 5 s: the replica falls behind
	// and catches up with its server and its data kept, as on PostgreSQL.
	t.Run("replication-partition", func(t *testing.T) {
		rep, code := e.runDrill("replication-partition", "--duration", "5s")
		t.Logf("replication-partition: max lag %v s (%d transactions), caught up %v s after the heal, writes %d acked %d lost",
			deref(rep.MaxLagSeconds), rep.MaxLagTransactions, deref(rep.CatchUpSeconds), rep.WritesAcked, rep.WritesLost)
		checksHeld(t, rep, "no DNS failover", "no promotion", "the replica fell behind during the cut", "caught up within 10 s of the heal",
			"no rebuild", "data directory kept", "every acknowledged write on the replica", "no acknowledged write lost")
		if code != 0 || !rep.Passed || rep.MaxLagTransactions == 0 {
			t.Fatalf("drill exit %d passed %v, at most %d transactions behind", code, rep.Passed, rep.MaxLagTransactions)
		}
	})

	// Last: it leaves the primary in us-west-2.
	t.Run("region-failure", func(t *testing.T) {
		rep, code := e.runDrill("region-failure", "--rate", "100", "--write-ratio", "0.8")
		t.Logf("region-failure: DNS switch %v s, promotion %v s, RTO %.2fs, errors %d of %d, writes %d acked %d lost, RPO %.3fs, %s lag at fault %.3fs",
			deref(rep.DNSSwitchSeconds), deref(rep.PromotionSeconds), rep.RTOSeconds, rep.Errors, rep.Requests,
			rep.WritesAcked, rep.WritesLost, rep.RPOSeconds, rep.LagAtFaultNode, rep.LagAtFaultSeconds)
		if code != 0 || !rep.Passed || !rep.Recovered || rep.DNSSwitchedTo != "us-west-2" || rep.WritesAcked == 0 {
			t.Fatalf("drill exit %d passed %v recovered %v, switched to %q, %d writes acked", code, rep.Passed, rep.Recovered, rep.DNSSwitchedTo, rep.WritesAcked)
		}
		// The replica follows asynchronously, 32 ms away: what it had not
		// received at the fault is lost, as on PostgreSQL. The sampler
		// dates a MariaDB follower's lag from its readings of the primary
		// every 200 ms, hence the wider tolerance.
		checkRPO(t, rep, 0.5)
		checkRestored(t, rep)
	})

	e.must("down")
}

// checkRestored: the drill left the stack as it found it.
func checkRestored(t *testing.T, rep drill.Report) {
	t.Helper()
	if rep.Restored == nil || !*rep.Restored {
		t.Errorf("the stack was not restored after the drill: %s%s", rep.NotRestored, rep.RecoverError)
	}
}
