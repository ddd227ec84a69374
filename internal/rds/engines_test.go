package rds

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/hastack/hastack/internal/dburl"
	"github.com/hastack/hastack/internal/ledger"
	"github.com/hastack/hastack/internal/mariadb"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql's "pgx"
)

// The database tier's HA behaviours, each run on both engines under
// sustained writes from the ledger: what differs between PostgreSQL and
// MariaDB is behind the engine interface, so the same scenario must hold
// on each. The PostgreSQL-only details (pg_rewind, slots, timelines)
// have their own tests in ha_test.go.

// engineCase is one engine as the scenarios need it.
type engineCase struct {
	name string
	// setup makes the state directory and the configuration on
	// 127.0.<net>.0/24 (haConfig's nodes), skipping without the engine.
	setup func(t *testing.T, net byte, multiAZ bool, rec *recorder) Config
	// whoQuery reads which server a session is on (its address or its
	// server id) and whether it refuses writes.
	whoQuery string
	// readOnly tells the error of a write that a read-only server refused.
	readOnly func(err error) bool
	// breakFollower makes the running follower name unable to follow
	// the primary, as its engine would find out.
	breakFollower func(t *testing.T, ctx context.Context, c *Cluster, name string)
}

var engineCases = []engineCase{
	{
		name: "postgres",
		setup: func(t *testing.T, net byte, multiAZ bool, rec *recorder) Config {
			requirePostgres(t)
			kind := tmplReplica
			if multiAZ {
				kind = tmplHA
			}
			return haConfig(seededDir(t, kind), net, multiAZ, rec)
		},
		whoQuery: "SELECT host(inet_server_addr()), pg_is_in_recovery()",
		readOnly: func(err error) bool {
			var pgErr *pgconn.PgError
			return errors.As(err, &pgErr) && pgErr.Code == "25006" // read_only_sql_transaction
		},
		breakFollower: func(t *testing.T, ctx context.Context, c *Cluster, name string) {
			// Data of another cluster in its place: its server reports
			// that its system identifier differs from the primary's.
			n := c.byName[name]
			n.busy.Store(true) // not restarted meanwhile
			defer n.busy.Store(false)
			if err := c.stopNode(ctx, n); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(n.layout.path(newDataName)); err != nil {
				t.Fatal(err)
			}
			if err := initdb(ctx, c.binDir, n.layout, c.acct, c.adminPassword); err != nil {
				t.Fatal(err)
			}
			if err := markComplete(n.layout, c.acct, newDataName, name); err != nil {
				t.Fatal(err)
			}
			if err := swapIn(n.layout); err != nil {
				t.Fatal(err)
			}
			if err := c.startNode(ctx, n, c.snapshot()); err != nil {
				t.Fatal(err)
			}
		},
	},
	{
		name: "mysql",
		setup: func(t *testing.T, net byte, multiAZ bool, rec *recorder) Config {
			kind := tmplReplica
			if multiAZ {
				kind = tmplHA
			}
			cfg := haConfig(seededMariaDir(t, kind), net, multiAZ, rec)
			cfg.Database.Engine, cfg.Database.Port = "mysql", 3306
			return cfg
		},
		whoQuery: "SELECT CAST(@@server_id AS CHAR), @@read_only",
		readOnly: func(err error) bool {
			var myErr *mysql.MySQLError
			return errors.As(err, &myErr) && myErr.Number == 1290 // ER_OPTION_PREVENTS_STATEMENT: --read-only
		},
		breakFollower: func(t *testing.T, ctx context.Context, c *Cluster, name string) {
			// A row the primary never wrote, then the primary's own with the
			// same key: the follower's applier stops on it.
			mustExec(t, ctx, mariaAdminURL(c, name), "INSERT INTO t VALUES (1000)")
			mustExec(t, ctx, c.WriterURL(""), "INSERT INTO t VALUES (1000)")
		},
	},
}

// mariaAdminURL logs in to node as hastack's MariaDB admin, which
// read_only does not stop, on the application's database.
func mariaAdminURL(c *Cluster, node string) string {
	u := url.URL{Scheme: "mysql", User: url.UserPassword(mariadb.AdminUser, c.eng.(*mariaEngine).accounts.AdminPassword),
		Host: c.byName[node].addrPort().String(), Path: "/" + c.cfg.Database.Name}
	return u.String()
}

// openDB opens a pool on a URL of either engine, closed with the test.
func openDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := openPool(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openPool opens a pool on a URL of either engine; the caller closes it.
func openPool(url string) (*sql.DB, error) {
	if !strings.HasPrefix(url, "mysql://") {
		return sql.Open("pgx", url)
	}
	cfg, err := dburl.MySQLConfig(url, dburl.Timeouts{Dial: 5 * time.Second})
	if err != nil {
		return nil, err
	}
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// sqlExec runs one statement through url, bounded.
func sqlExec(ctx context.Context, t *testing.T, url, stmt string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	db, err := openPool(url)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, stmt)
	return err
}

func mustExec(t *testing.T, ctx context.Context, url, stmt string) {
	t.Helper()
	if err := sqlExec(ctx, t, url, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// sqlVisible reports whether row id of table t reads through url.
func sqlVisible(ctx context.Context, t *testing.T, url string, id int) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	db, err := openPool(url)
	if err != nil {
		return false
	}
	defer db.Close()
	var n int
	return db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM t WHERE id = %d", id)).Scan(&n) == nil && n == 1
}

// serves reports whether url leads to node, and whether that server
// refuses writes.
func (e engineCase) serves(ctx context.Context, t *testing.T, c *Cluster, url, node string) (yes, readOnly bool) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	db, err := openPool(url)
	if err != nil {
		return false, false
	}
	defer db.Close()
	var who string
	if err := db.QueryRowContext(ctx, e.whoQuery).Scan(&who, &readOnly); err != nil {
		return false, false
	}
	n := c.byName[node]
	return who == n.cfg.Addr.String() || who == fmt.Sprint(serverID(c, n)), readOnly
}

// runLedger writes through url at 100 a second until stopped or d is up.
func runLedger(t *testing.T, ctx context.Context, url string, d time.Duration) (*ledger.Ledger, <-chan error) {
	t.Helper()
	l, err := ledger.New(ledger.Config{URL: url, Rate: 100, Writers: 2, Duration: d, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	waitFor(t, "writes flowing", eventually, func() bool { return l.Stats().Acked >= 10 })
	return l, done
}

// verifyNoneLost checks that every write the ledger had acknowledged
// reads back through url.
func verifyNoneLost(t *testing.T, ctx context.Context, l *ledger.Ledger, url string) ledger.Report {
	t.Helper()
	rep, err := l.Verify(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	t.Logf("writes: %d acknowledged, %d failed, %d unknown; longest gap %s; lost %d", st.Acked, st.Failed, st.Unknown, st.LongestGap.Round(time.Millisecond), rep.Lost)
	if rep.Lost != 0 || rep.Acked == 0 || rep.FailedPresent != 0 {
		t.Errorf("ledger report %+v, want no acknowledged write lost", rep)
	}
	return rep
}

// startEngineCluster starts cfg's cluster and the table the scenarios
// write to.
func startEngineCluster(t *testing.T, cfg Config, rec *recorder) (*Cluster, context.Context) {
	t.Helper()
	c := newCluster(t, cfg)
	ctx := startCtx(t)
	begin := time.Now()
	if err := c.Start(ctx); err != nil {
		t.Fatalf("%v\nevents:\n%s", err, eventsOnly(rec))
	}
	t.Logf("started in %s", since(begin).Round(time.Millisecond))
	mustExec(t, ctx, c.WriterURL(""), "CREATE TABLE t (id int PRIMARY KEY)")
	mustExec(t, ctx, c.WriterURL(""), "INSERT INTO t VALUES (1)")
	return c, ctx
}

func TestHAOnBothEngines(t *testing.T) {
	for i, e := range engineCases {
		net := func(k byte) byte { return 160 + byte(i)*10 + k }
		t.Run(e.name, func(t *testing.T) {
			t.Run("multi-AZ failover", func(t *testing.T) {
				rec := newRecorder()
				c, ctx := startEngineCluster(t, e.setup(t, net(0), true, rec), rec)
				if !c.SyncStandby() {
					t.Fatal("no synchronous standby after Start")
				}
				waitFor(t, "the replica streaming, the standby synchronous", eventually, func() bool {
					return nodeStatus(t, c, nodeW).ReplicationState == ReplAsync && nodeStatus(t, c, nodeB).ReplicationState == ReplSync
				})
				waitFor(t, "the row on the replica", eventually, func() bool { return sqlVisible(ctx, t, c.ReaderURL(west), 1) })

				l, done := runLedger(t, ctx, c.WriterURL(""), 4*time.Second)
				if err := c.KillPrimary(); err != nil {
					t.Fatal(err)
				}
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				if s := nodeStatus(t, c, nodeB); s.Role != RolePrimary {
					t.Fatalf("after the kill %s is %s, want primary\n%s", nodeB, s.Role, eventsOnly(rec))
				}
				if gap := l.Stats().LongestGap; gap > detect+3*time.Second {
					t.Errorf("writes stopped for %s, want at most %s", gap, detect+3*time.Second)
				}
				verifyNoneLost(t, ctx, l, c.WriterURL(""))

				// The old primary comes back as the synchronous standby; the
				// replica follows the new primary.
				if err := c.RecoverNode(ctx, nodeA); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "a synchronous standby again", eventually, c.SyncStandby)
				if s := nodeStatus(t, c, nodeA); s.Role != RoleStandby || s.Fenced || s.ReplicationState != ReplSync {
					t.Errorf("recovered old primary %+v, want the synchronous standby", s)
				}
				if err := sqlExec(ctx, t, c.DirectURL(nodeA), "INSERT INTO t VALUES (99)"); err == nil {
					t.Error("a write directly on the old primary succeeded")
				}
				mustExec(t, ctx, c.WriterURL(west), "INSERT INTO t VALUES (2)")
				waitFor(t, "the replica following the new primary", eventually, func() bool { return sqlVisible(ctx, t, c.ReaderURL(west), 2) })
			})

			t.Run("promote with fencing", func(t *testing.T) {
				rec := newRecorder()
				c, ctx := startEngineCluster(t, e.setup(t, net(1), false, rec), rec)
				// One session, kept: a pool would open another in its place.
				old, err := openDB(t, c.WriterURL(east)).Conn(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer old.Close()
				l, done := runLedger(t, ctx, c.WriterURL(west), 4*time.Second)
				if err := c.Promote(ctx, west); err != nil {
					t.Fatal(err)
				}
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				if s := nodeStatus(t, c, nodeW); s.Role != RolePrimary {
					t.Fatalf("%s is %s after Promote", nodeW, s.Role)
				}
				if s := nodeStatus(t, c, nodeA); !s.Fenced || s.Running {
					t.Errorf("old primary %+v, want fenced and stopped", s)
				}
				if err := sqlExec(ctx, t, c.DirectURL(nodeA), "INSERT INTO t VALUES (100)"); err == nil {
					t.Error("a write directly on the fenced old primary succeeded")
				}
				if _, err := old.ExecContext(ctx, "INSERT INTO t VALUES (101)"); err == nil {
					t.Error("a session on the old primary through the writer endpoint survived the promotion")
				}
				for _, region := range []string{east, west} {
					if yes, ro := e.serves(ctx, t, c, c.WriterURL(region), nodeW); !yes || ro {
						t.Errorf("writer endpoint of %s does not lead to the new primary (read-only %v)", region, ro)
					}
				}
				verifyNoneLost(t, ctx, l, c.WriterURL(""))
			})

			t.Run("automatic region failover", func(t *testing.T) {
				rec := newRecorder()
				cfg := e.setup(t, net(2), true, rec)
				cfg.Database.CrossRegionFailover = "automatic"
				c, ctx := startEngineCluster(t, cfg, rec)
				var lost atomic.Bool
				wctx, stopWatch := context.WithCancel(ctx)
				watched := make(chan struct{})
				go func() { c.WatchRegionFailover(wctx, func(string) bool { return lost.Load() }); close(watched) }()
				defer func() { stopWatch(); <-watched }()
				waitFor(t, "the replica streaming", eventually, func() bool { return nodeStatus(t, c, nodeW).ReplicationState == ReplAsync })

				l, done := runLedger(t, ctx, c.WriterURL(west), 6*time.Second)
				var lagSeconds float64
				for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
					lagSeconds = max(lagSeconds, nodeStatus(t, c, nodeW).LagSeconds)
				}
				fault := time.Now()
				if err := c.CrashRegion(east); err != nil {
					t.Fatal(err)
				}
				lost.Store(true) // DNS has failed over
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the replica promoted", eventually, func() bool { return nodeStatus(t, c, nodeW).Role == RolePrimary })
				rep, err := l.Verify(ctx, c.WriterURL(west))
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("lag before the fault %.3fs; RPO %d writes, %s", lagSeconds, rep.Lost, rep.RPO)
				if limit := time.Duration(lagSeconds*float64(time.Second)) + time.Second; rep.RPO > limit {
					t.Errorf("RPO %s exceeds the replication lag before the fault (%.3fs) and a second", rep.RPO, lagSeconds)
				}
				if rep.FailedPresent != 0 {
					t.Errorf("%d writes recorded as failed are present", rep.FailedPresent)
				}
				after := 0
				for _, w := range l.Writes() {
					if w.Outcome == ledger.Acked && w.Start.After(fault) {
						after++
					}
				}
				if after == 0 {
					t.Error("no write acknowledged in the secondary region after the failover")
				}
				if !strings.Contains(rec.String(), "automatic cross-region failover") {
					t.Error("no event for the automatic promotion")
				}

				// The region comes back: both of its nodes follow the new
				// primary; the old primary refuses writes.
				lost.Store(false)
				if err := c.StartRegion(ctx, east); err != nil {
					t.Fatal(err)
				}
				mustExec(t, ctx, c.WriterURL(east), "INSERT INTO t VALUES (3)")
				for _, name := range []string{nodeA, nodeB} {
					waitFor(t, name+" replicating from the new primary", eventually, func() bool {
						s := nodeStatus(t, c, name)
						return s.Role == RoleReplica && !s.Fenced && s.ReplicationState == ReplAsync && sqlVisible(ctx, t, c.DirectURL(name), 3)
					})
				}
				if err := sqlExec(ctx, t, c.DirectURL(nodeA), "INSERT INTO t VALUES (4)"); err == nil {
					t.Error("a write directly on the old primary succeeded after the region came back")
				}
			})

			// A primary that hangs (SIGSTOP; PostgreSQL's backends still
			// answer sessions already open) is failed over after
			// FailoverDetection, and killed with all its processes.
			t.Run("frozen primary", func(t *testing.T) {
				rec := newRecorder()
				c, ctx := startEngineCluster(t, e.setup(t, net(3), true, rec), rec)
				dataDir := c.byName[nodeA].layout.dataDir
				l, done := runLedger(t, ctx, c.WriterURL(""), 5*time.Second)
				frozen := time.Now()
				if err := syscall.Kill(c.byName[nodeA].proc.Load().pid(), syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
				waitFor(t, "the standby promoted", eventually, func() bool { return nodeStatus(t, c, nodeB).Role == RolePrimary })
				took := time.Since(frozen)
				t.Logf("frozen primary replaced after %s", took.Round(time.Millisecond))
				if took < detect {
					t.Errorf("failed over after %s, before the %s detection time", took, detect)
				}
				waitFor(t, "the frozen old primary's processes gone", 5*time.Second, func() bool { return len(processesIn(dataDir)) == 0 })
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				verifyNoneLost(t, ctx, l, c.WriterURL(""))
			})

			t.Run("follower rebuilt", func(t *testing.T) {
				rec := newRecorder()
				c, ctx := startEngineCluster(t, e.setup(t, net(4), false, rec), rec)
				waitFor(t, "the row on the replica", eventually, func() bool { return sqlVisible(ctx, t, c.DirectURL(nodeW), 1) })
				l, done := runLedger(t, ctx, c.WriterURL(""), 3*time.Second)
				e.breakFollower(t, ctx, c, nodeW)
				waitFor(t, "the replica copied afresh and streaming", 2*eventually, func() bool {
					return strings.Contains(eventsOnly(rec), EventNodeRebuilt) && nodeStatus(t, c, nodeW).ReplicationState == ReplAsync
				})
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				rep := verifyNoneLost(t, ctx, l, c.WriterURL(""))
				waitFor(t, "every acknowledged write on the rebuilt replica", eventually, func() bool {
					r, err := l.Verify(ctx, c.DirectURL(nodeW))
					return err == nil && r.Lost == 0 && r.Acked == rep.Acked
				})
				t.Logf("events:\n%s", eventsOnly(rec))
			})

			// The planned way home: nothing acknowledged is lost, and the old
			// primary follows the new one.
			t.Run("switchover", func(t *testing.T) {
				rec := newRecorder()
				c, ctx := startEngineCluster(t, e.setup(t, net(6), false, rec), rec)
				waitFor(t, "the replica streaming", eventually, func() bool { return nodeStatus(t, c, nodeW).ReplicationState == ReplAsync })
				l, done := runLedger(t, ctx, c.WriterURL(west), 4*time.Second)
				rep, err := c.Switchover(ctx, west)
				if err != nil {
					t.Fatalf("%v\n%s", err, eventsOnly(rec))
				}
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				t.Logf("switchover: writes stopped for %.3f s, %.2f s in all", rep.WriteDowntimeSeconds, rep.Seconds)
				if s := nodeStatus(t, c, nodeW); s.Role != RolePrimary || !rep.OldPrimaryFollows {
					t.Fatalf("after the switchover %s is %s, the old primary follows: %v", nodeW, s.Role, rep.OldPrimaryFollows)
				}
				verifyNoneLost(t, ctx, l, c.WriterURL(""))
				mustExec(t, ctx, c.WriterURL(""), "INSERT INTO t VALUES (7)")
				waitFor(t, "the old primary following the new one", eventually, func() bool {
					return nodeStatus(t, c, nodeA).ReplicationState == ReplAsync && sqlVisible(ctx, t, c.DirectURL(nodeA), 7)
				})
			})

			t.Run("region back without promotion", func(t *testing.T) {
				rec := newRecorder()
				c, ctx := startEngineCluster(t, e.setup(t, net(5), true, rec), rec)
				l, done := runLedger(t, ctx, c.WriterURL(""), 6*time.Second)
				if err := c.CrashRegion(east); err != nil {
					t.Fatal(err)
				}
				if err := c.StartRegion(ctx, east); err != nil {
					t.Fatal(err)
				}
				if s := nodeStatus(t, c, nodeA); s.Role != RolePrimary || !s.Running {
					t.Fatalf("after the region came back %s is %+v, want the running primary", nodeA, s)
				}
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				waitFor(t, "a synchronous standby again", eventually, c.SyncStandby)
				verifyNoneLost(t, ctx, l, c.WriterURL(""))
				if strings.Contains(rec.String(), EventPromoted) {
					t.Errorf("a node was promoted:\n%s", eventsOnly(rec))
				}
			})
		})
	}
}

// TestSyncStandbyHoldsCommits: with the standby frozen (SIGSTOP), a
// commit on the primary waits until the standby is declared gone, then
// returns: the wait for the standby is really in effect, on both
// engines (on MariaDB, semi-sync has not fallen back to asynchronous by
// a timeout of its own).
func TestSyncStandbyHoldsCommits(t *testing.T) {
	for i, e := range engineCases {
		t.Run(e.name, func(t *testing.T) {
			rec := newRecorder()
			c, ctx := startEngineCluster(t, e.setup(t, 158-byte(i), true, rec), rec)
			waitFor(t, "a synchronous standby", eventually, c.SyncStandby)
			standby := c.byName[nodeB].layout.dataDir
			frozen := processesIn(standby)
			for _, pid := range frozen {
				syscall.Kill(pid, syscall.SIGSTOP)
			}
			thawed := false
			thaw := func() {
				if !thawed {
					for _, pid := range frozen {
						syscall.Kill(pid, syscall.SIGCONT)
					}
					thawed = true
				}
			}
			defer thaw()
			begin := time.Now()
			mustExec(t, ctx, c.WriterURL(""), "INSERT INTO t VALUES (2)")
			took := time.Since(begin)
			t.Logf("a commit with the standby frozen returned after %s", took.Round(time.Millisecond))
			if took < detect*8/10 {
				t.Errorf("the commit returned after %s, before the standby could be declared gone (%s): commits did not wait for it", took, detect)
			}
			// The event follows the change of setting the commit waited for.
			waitFor(t, "the event that the standby is gone", 5*time.Second, func() bool { return strings.Contains(rec.String(), EventSyncLost) })
			thaw()
			waitFor(t, "a synchronous standby again", eventually, c.SyncStandby)
			waitFor(t, "the row on the standby", eventually, func() bool { return sqlVisible(ctx, t, c.DirectURL(nodeB), 2) })
		})
	}
}

// TestMariaReplicaLag: a MariaDB replica's lag is reported in
// transactions and bytes of the primary's binary log while its applier
// is held back, and is 0 again once it has caught up.
func TestMariaReplicaLag(t *testing.T) {
	e := engineCases[1]
	rec := newRecorder()
	c, ctx := startEngineCluster(t, e.setup(t, 157, false, rec), rec)
	waitFor(t, "the replica streaming, the row applied", eventually, func() bool {
		return nodeStatus(t, c, nodeW).ReplicationState == ReplAsync && sqlVisible(ctx, t, c.DirectURL(nodeW), 1)
	})
	admin := mariaAdminURL(c, nodeW)
	mustExec(t, ctx, admin, "STOP SLAVE SQL_THREAD")
	for id := 10; id < 15; id++ {
		mustExec(t, ctx, c.WriterURL(""), fmt.Sprintf("INSERT INTO t VALUES (%d)", id))
	}
	var s NodeStatus
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last status of the replica: %+v", s)
		}
	})
	waitFor(t, "5 transactions of lag reported", eventually, func() bool {
		s = nodeStatus(t, c, nodeW)
		return s.LagTransactions == 5 && s.LagBytes > 0
	})
	t.Logf("held back: %+v", nodeStatus(t, c, nodeW))
	mustExec(t, ctx, admin, "START SLAVE SQL_THREAD")
	waitFor(t, "no lag once caught up", eventually, func() bool {
		s := nodeStatus(t, c, nodeW)
		return s.LagTransactions == 0 && s.LagBytes == 0 && s.ReplicationState == ReplAsync
	})
}

// TestMariaDivergedPrimaryCopied: a former MariaDB primary whose history
// holds transactions the promoted replica never received is copied
// afresh before it follows (MariaDB has no rewind), and then holds the
// new primary's data, not its own extra writes.
func TestMariaDivergedPrimaryCopied(t *testing.T) {
	e := engineCases[1]
	rec := newRecorder()
	c, ctx := startEngineCluster(t, e.setup(t, 156, false, rec), rec)
	waitFor(t, "the row on the replica", eventually, func() bool { return sqlVisible(ctx, t, c.DirectURL(nodeW), 1) })
	// The replica stops receiving; the primary writes on.
	mustExec(t, ctx, mariaAdminURL(c, nodeW), "STOP SLAVE")
	mustExec(t, ctx, c.WriterURL(""), "INSERT INTO t VALUES (2)")
	p, err := c.PromoteRegion(ctx, west, true)
	if err != nil {
		t.Fatal(err)
	}
	if p.Lag == nil || p.Lag.Transactions == 0 {
		t.Errorf("promotion %+v: want the replica's lag in transactions", p)
	}
	mustExec(t, ctx, c.WriterURL(""), "INSERT INTO t VALUES (3)")
	if err := c.RecoverNode(ctx, nodeA); err != nil {
		t.Fatalf("%v\n%s", err, eventsOnly(rec))
	}
	events := eventsOnly(rec)
	if !strings.Contains(events, EventNodeRebuilt+": database node "+nodeA+" copied from "+nodeW+" with mariadb-backup") {
		t.Errorf("the diverged former primary was not copied afresh:\n%s", events)
	}
	waitFor(t, "the former primary following the new one", eventually, func() bool {
		return nodeStatus(t, c, nodeA).ReplicationState == ReplAsync && sqlVisible(ctx, t, c.DirectURL(nodeA), 3)
	})
	if sqlVisible(ctx, t, c.DirectURL(nodeA), 2) {
		t.Error("the former primary still holds the write the new primary never had")
	}
}
