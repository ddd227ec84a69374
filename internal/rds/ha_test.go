package rds

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/ledger"
	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/testenv"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	east       = "us-east-1"
	west       = "us-west-2"
	nodeA      = "db-us-east-1a" // primary
	nodeB      = "db-us-east-1b" // standby
	nodeW      = "db-us-west-2a" // cross-region replica
	nodeS      = "db-us-west-2b" // spare, in tests that add it
	detect     = time.Second
	eventually = 30 * time.Second // generous: the machine is shared
)

// haConfig is the seed's database tier on 127.0.<net>.0/24: primary and
// (with multiAZ) standby in us-east-1, a replica in us-west-2, and a pair
// of endpoints in each region.
func haConfig(dir string, net byte, multiAZ bool, rec *recorder) Config {
	a := func(h byte) netip.Addr { return netip.AddrFrom4([4]byte{127, 0, net, h}) }
	cfg := testConfig(dir, a(5).String(), rec)
	cfg.Database.MultiAZ = multiAZ
	cfg.Database.FailoverDetection = detect
	cfg.Database.RegionFailoverAfter = time.Second
	cfg.Database.Replicas = []spec.Replica{{Region: west}}
	if multiAZ {
		cfg.Nodes = append(cfg.Nodes, NodeConfig{Name: nodeB, Region: east, AZ: "us-east-1b", Role: RoleStandby, Addr: a(15)})
	}
	cfg.Nodes = append(cfg.Nodes, NodeConfig{Name: nodeW, Region: west, AZ: "us-west-2a", Role: RoleReplica, Addr: a(25)})
	cfg.Endpoints = []EndpointConfig{{Region: east, Writer: a(6), Reader: a(7)}, {Region: west, Writer: a(26), Reader: a(27)}}
	return cfg
}

func nodeStatus(t *testing.T, c *Cluster, name string) NodeStatus {
	t.Helper()
	for _, s := range c.Nodes() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no node %s in %+v", name, c.Nodes())
	return NodeStatus{}
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, what, limit, cond)
}

// serverOf tells which node address a URL leads to, and whether that
// server is in recovery.
func serverOf(ctx context.Context, url string) (string, bool, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", false, err
	}
	defer conn.Close(ctx)
	var addr string
	var rec bool
	err = conn.QueryRow(ctx, "SELECT host(inet_server_addr()), pg_is_in_recovery()").Scan(&addr, &rec)
	return addr, rec, err
}

func tryExec(ctx context.Context, url, sql string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// visible reports whether the row id of table t can be read through url.
func visible(ctx context.Context, url string, id int) bool {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return false
	}
	defer conn.Close(ctx)
	var n int
	return conn.QueryRow(ctx, "SELECT count(*) FROM t WHERE id = $1", id).Scan(&n) == nil && n == 1
}

// postmasters returns the pid of every running node's server.
func postmasters(c *Cluster) map[string]int {
	pids := map[string]int{}
	for _, n := range c.nodes {
		if p := n.proc.Load(); p != nil && !p.exited() {
			pids[n.cfg.Name] = p.pid()
		}
	}
	return pids
}

func checkNoProcesses(t *testing.T, c *Cluster, pids map[string]int) {
	t.Helper()
	for name, pid := range pids {
		if !pidGone(pid) {
			t.Errorf("postmaster of %s (pid %d) still exists after Stop", name, pid)
		}
	}
	for _, n := range c.nodes {
		if left := processesIn(n.layout.dataDir); len(left) > 0 {
			t.Errorf("processes %v still run in %s after Stop", left, n.layout.dataDir)
		}
	}
}

func TestMultiAZFailover(t *testing.T) {
	dir := seededDir(t, tmplHA)
	rec := newRecorder()
	c := newCluster(t, haConfig(dir, 91, true, rec))
	ctx := startCtx(t)
	begin := time.Now()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("primary, synchronous standby and replica up in %s", since(begin))

	// Roles, synchronous standby, streaming replica.
	if !c.SyncStandby() {
		t.Fatal("no synchronous standby after Start")
	}
	wantRoles := map[string]Role{nodeA: RolePrimary, nodeB: RoleStandby, nodeW: RoleReplica}
	for name, role := range wantRoles {
		if s := nodeStatus(t, c, name); s.Role != role || !s.Running {
			t.Errorf("%s: %+v, want running %s", name, s, role)
		}
	}
	conn, err := c.connect(ctx, c.byName[nodeA], 5*time.Second) // the master user may not see replication
	if err != nil {
		t.Fatal(err)
	}
	sync := map[string]string{}
	rows, _ := conn.Query(ctx, "SELECT application_name, sync_state FROM pg_stat_replication WHERE state = 'streaming'")
	for rows.Next() {
		var app, st string
		rows.Scan(&app, &st)
		sync[app] = st
	}
	conn.Close(ctx)
	if sync[slotName(nodeB)] != "sync" || sync[slotName(nodeW)] != "async" {
		t.Fatalf("pg_stat_replication sync states %v, want the standby sync and the replica async", sync)
	}

	// A write through the writer endpoint reaches the replica, read through
	// the reader endpoint of its region.
	execSQL(t, ctx, c.WriterURL(""), "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
	waitFor(t, "the row on the replica", eventually, func() bool { return visible(ctx, c.ReaderURL(west), 1) })
	if addr, inRec, err := serverOf(ctx, c.ReaderURL(west)); err != nil || !inRec || addr != c.byName[nodeW].cfg.Addr.String() {
		t.Errorf("reader endpoint of %s leads to %s (recovery %v, %v), want the replica", west, addr, inRec, err)
	}
	waitFor(t, "replica lag reported", eventually, func() bool {
		s := nodeStatus(t, c, nodeW)
		return s.ReplicationState == ReplAsync && nodeStatus(t, c, nodeB).ReplicationState == ReplSync
	})
	t.Logf("replica: %+v", nodeStatus(t, c, nodeW))
	c.mu.Lock()
	acts := decide(c.state, c.obs, c.timers, c.obs.At, c.pol)
	c.mu.Unlock()
	if len(acts) != 0 {
		t.Errorf("a healthy cluster still has things to do: %v", acts)
	}

	// Kill the primary under continuous writes through the writer endpoint.
	l, err := ledger.New(ledger.Config{URL: c.WriterURL(""), Rate: 100, Writers: 2, Duration: 4 * time.Second, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	waitFor(t, "writes flowing", eventually, func() bool { return l.Stats().Acked >= 50 })
	killed := time.Now()
	if err := c.KillPrimary(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	t.Logf("writes: %d acked, %d failed, %d unknown; longest gap without an acknowledged write %s (began %s after the kill)",
		st.Acked, st.Failed, st.Unknown, st.LongestGap, st.GapStart.Sub(killed).Round(time.Millisecond))
	if limit := detect + 3*time.Second; st.LongestGap > limit {
		t.Errorf("writes stopped for %s, want at most %s", st.LongestGap, limit)
	}
	if s := nodeStatus(t, c, nodeB); s.Role != RolePrimary {
		t.Fatalf("after the kill %s is %s, want primary", nodeB, s.Role)
	}
	if s := nodeStatus(t, c, nodeA); !s.Fenced || s.Running || s.Role != RoleStandby {
		t.Errorf("old primary %+v, want fenced, stopped, standby-to-be", s)
	}
	rep, err := l.Verify(ctx, c.WriterURL(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ledger: %+v", rep)
	if rep.Lost != 0 || rep.Acked == 0 || rep.FailedPresent != 0 {
		t.Fatalf("ledger report %+v, want no acknowledged write lost", rep)
	}
	for _, line := range strings.Split(eventsOnly(rec), "\n") {
		if strings.Contains(line, "(+") {
			t.Log(line)
		}
	}
	events := rec.String()
	for _, want := range []string{EventNodeFenced, EventPromoted, EventEndpointsMoved, EventFailoverDone, EventSyncLost} {
		if !strings.Contains(events, want) {
			t.Errorf("no %s event", want)
		}
	}

	// The old primary comes back as the new standby, through pg_rewind,
	// and the cluster is synchronous again.
	if err := c.RecoverNode(ctx, nodeA); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a synchronous standby again", eventually, c.SyncStandby)
	if s := nodeStatus(t, c, nodeA); s.Role != RoleStandby || s.Fenced || s.ReplicationState != ReplSync {
		t.Errorf("recovered old primary %+v, want the synchronous standby", s)
	}
	events = rec.String()
	if !strings.Contains(events, "rewound to follow "+nodeB+" with pg_rewind") || !strings.Contains(events, EventSyncRestored) {
		t.Errorf("no rewind or sync-restored event in:\n%s", events)
	}
	if err := tryExec(ctx, c.DirectURL(nodeA), "INSERT INTO t VALUES (99)"); err == nil {
		t.Error("a write directly on the old primary succeeded")
	}

	// The replica follows the new primary.
	execSQL(t, ctx, c.WriterURL(west), "INSERT INTO t VALUES (2)")
	waitFor(t, "the replica following the new primary", eventually, func() bool { return visible(ctx, c.ReaderURL(west), 2) })

	// Stop, then start again: roles and data are kept, nothing is left running.
	pids := postmasters(c)
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	checkNoProcesses(t, c, pids)
	c2 := newCluster(t, haConfig(dir, 91, true, nil))
	if err := c2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for name, role := range map[string]Role{nodeA: RoleStandby, nodeB: RolePrimary, nodeW: RoleReplica} {
		if s := nodeStatus(t, c2, name); s.Role != role || !s.Running {
			t.Errorf("after restart %s: %+v, want running %s", name, s, role)
		}
	}
	if !c2.SyncStandby() {
		t.Error("no synchronous standby after restart")
	}
	if rep, err := l.Verify(ctx, c2.WriterURL("")); err != nil || rep.Lost != 0 {
		t.Errorf("after restart: %+v, %v", rep, err)
	}
	pids = postmasters(c2)
	if err := c2.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	checkNoProcesses(t, c2, pids)
}

func TestPromoteFencesOldPrimary(t *testing.T) {
	requirePostgres(t)
	rec := newRecorder()
	c := newCluster(t, haConfig(seededDir(t, tmplReplica), 92, false, rec))
	ctx := startCtx(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	execSQL(t, ctx, c.WriterURL(""), "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
	old, err := pgx.Connect(ctx, c.WriterURL(east))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close(ctx)

	if err := c.Promote(ctx, west); err != nil {
		t.Fatal(err)
	}
	if s := nodeStatus(t, c, nodeW); s.Role != RolePrimary {
		t.Fatalf("%s is %s after Promote", nodeW, s.Role)
	}
	if s := nodeStatus(t, c, nodeA); !s.Fenced || s.Running || s.ReplicationState != ReplFenced {
		t.Errorf("old primary %+v, want fenced and stopped", s)
	}
	if err := tryExec(ctx, c.DirectURL(nodeA), "INSERT INTO t VALUES (100)"); err == nil {
		t.Error("a write directly on the fenced old primary succeeded")
	}
	if _, err := old.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("a connection to the old primary through the writer endpoint survived the promotion")
	}
	for _, region := range []string{east, west} {
		addr, inRec, err := serverOf(ctx, c.WriterURL(region))
		if err != nil || inRec || addr != c.byName[nodeW].cfg.Addr.String() {
			t.Errorf("writer endpoint of %s leads to %s (recovery %v, %v), want the new primary", region, addr, inRec, err)
		}
	}
	if !visible(ctx, c.WriterURL(""), 1) {
		t.Error("a row committed before the promotion is missing")
	}
	events := rec.String()
	for _, want := range []string{"fenced from " + west + " over the network: shut down", "promoted: it accepts writes on timeline 2", "writer endpoints lead to " + nodeW} {
		if !strings.Contains(events, want) {
			t.Errorf("no event with %q", want)
		}
	}
	if err := c.Promote(ctx, west); err == nil || !strings.Contains(err.Error(), "already in region") {
		t.Errorf("promoting the primary's region again: %v", err)
	}

	// A region outage and its end: the old primary returns as a replica of
	// the new one, and still refuses writes.
	if err := c.CrashRegion(east); err != nil {
		t.Fatal(err)
	}
	if err := c.StartRegion(ctx, east); err != nil {
		t.Fatal(err)
	}
	if s := nodeStatus(t, c, nodeA); s.Role != RoleReplica || s.Fenced || !s.Running {
		t.Errorf("old primary after StartRegion %+v, want a running replica", s)
	}
	err = tryExec(ctx, c.DirectURL(nodeA), "INSERT INTO t VALUES (101)")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" {
		t.Errorf("write on the old primary after StartRegion: %v, want read-only", err)
	}
	execSQL(t, ctx, c.WriterURL(east), "INSERT INTO t VALUES (2)")
	waitFor(t, "the old primary replicating from the new one", eventually, func() bool { return visible(ctx, c.DirectURL(nodeA), 2) })
	waitFor(t, "the reader endpoint of "+east+" on the new replica", eventually, func() bool {
		addr, inRec, err := serverOf(ctx, c.ReaderURL(east))
		return err == nil && inRec && addr == c.byName[nodeA].cfg.Addr.String()
	})
}

// eventsOnly returns the recorded events without the log lines.
func eventsOnly(r *recorder) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.events, "\n")
}

// A follower whose settings drifted (it streams from nowhere) is
// corrected by the monitor, not rebuilt; a fenced node whose data cannot
// be rewound is copied afresh.
func TestFollowerRebuilt(t *testing.T) {
	requirePostgres(t)
	rec := newRecorder()
	c := newCluster(t, haConfig(seededDir(t, tmplReplica), 94, false, rec))
	ctx := startCtx(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replica streaming", eventually, func() bool { return nodeStatus(t, c, nodeW).ReplicationState == ReplAsync })

	// Point the replica somewhere useless behind the monitor's back.
	w := c.byName[nodeW]
	pid := w.proc.Load().pid()
	sc := c.serverConf(w, c.snapshot())
	sc.primaryConninfo = "host=127.0.94.99 port=5432 connect_timeout=1"
	if err := writeConfig(w.layout, c.acct, sc); err != nil {
		t.Fatal(err)
	}
	if err := w.reload(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replica's settings corrected and streaming", eventually, func() bool {
		return strings.Contains(rec.String(), "correcting the settings of a follower") && nodeStatus(t, c, nodeW).ReplicationState == ReplAsync
	})
	if p := w.proc.Load(); p == nil || p.pid() != pid || strings.Contains(eventsOnly(rec), EventNodeRebuilding) {
		t.Errorf("the replica was restarted or rebuilt to correct its settings:\n%s", eventsOnly(rec))
	}

	// Promote the replica; damage the fenced old primary's data so that
	// pg_rewind fails: it comes back from a fresh base backup.
	if err := c.Promote(ctx, west); err != nil {
		t.Fatal(err)
	}
	a := c.byName[nodeA]
	if err := os.Remove(filepath.Join(a.layout.dataDir, "global", "pg_control")); err != nil {
		t.Fatal(err)
	}
	if err := c.RecoverNode(ctx, nodeA); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.String(), nodeA+" could not be rewound") {
		t.Errorf("no fallback to a base backup in:\n%s", eventsOnly(rec))
	}
	waitFor(t, "the old primary streaming", eventually, func() bool { return nodeStatus(t, c, nodeA).ReplicationState == ReplAsync })
}

// A region crash kills every server of the region, with all of its
// processes, in the same instant; nothing restarts them, nothing is
// promoted across regions (failover is manual), and the region comes
// back whole: its primary starts without waiting for its standby, which
// is still down at that moment, so the first commit does not block; the
// standby then catches up and synchronous replication is restored.
func TestRegionCrash(t *testing.T) {
	requirePostgres(t)
	rec := newRecorder()
	c := newCluster(t, haConfig(seededDir(t, tmplHA), 90, true, rec))
	ctx := startCtx(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a synchronous standby", eventually, c.SyncStandby)
	pids := postmasters(c)
	var dirs []string
	for _, name := range []string{nodeA, nodeB} {
		dirs = append(dirs, c.byName[name].layout.dataDir)
	}
	if err := c.CrashRegion(east); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{nodeA, nodeB} {
		if !pidGone(pids[name]) {
			t.Errorf("postmaster of %s (pid %d) survived the crash", name, pids[name])
		}
	}
	for dir, left := range processesInDirs(dirs) {
		t.Errorf("processes %v still work in %s after the crash", left, dir)
	}
	if _, err := net.DialTimeout("tcp", c.writers[east].addr.String(), time.Second); err == nil {
		t.Error("the writer endpoint of the crashed region still accepts")
	}
	events := eventsOnly(rec)
	if !strings.Contains(events, EventRegionCrashed+": region "+east+" crashed for the database: servers ["+nodeA+" "+nodeB+"] and all their processes killed with SIGKILL within") ||
		strings.Contains(events, EventNodeExited) || strings.Contains(events, EventNodeStopped) {
		t.Errorf("events of the crash:\n%s", events)
	}
	if m := regexp.MustCompile(`killed with SIGKILL within (\S+),`).FindStringSubmatch(events); m == nil {
		t.Error("no spread of the SIGKILLs reported")
	} else if d, err := time.ParseDuration(m[1]); err != nil || d > 50*time.Millisecond {
		t.Errorf("the SIGKILLs were %s apart (%v), want at most 50ms", m[1], err)
	} else {
		t.Logf("every process of the region killed within %s", d)
	}
	// Held: a second of monitor passes restarts nothing and promotes nothing.
	c.mu.Lock()
	seen := c.obs.At
	c.mu.Unlock()
	waitFor(t, "a second of monitor passes", eventually, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.obs.At.Sub(seen) >= time.Second
	})
	for _, name := range []string{nodeA, nodeB} {
		if s := nodeStatus(t, c, name); s.Running || s.ReplicationState != ReplStopped || s.Restarts != 0 {
			t.Errorf("%s after the crash: %+v, want it left stopped", name, s)
		}
	}
	if s := nodeStatus(t, c, nodeW); s.Role != RoleReplica || strings.Contains(eventsOnly(rec), EventFailover+": ") {
		t.Errorf("the replica after the crash: %+v; events:\n%s", s, eventsOnly(rec))
	}

	back, cancel := context.WithTimeout(ctx, eventually)
	defer cancel()
	if err := c.StartRegion(back, east); err != nil {
		t.Fatalf("StartRegion: %v", err)
	}
	if err := tryExec(back, c.WriterURL(east), "CREATE TABLE IF NOT EXISTS back (id int)"); err != nil {
		t.Fatalf("a write after the region came back: %v", err)
	}
	waitFor(t, "synchronous replication restored", eventually, c.SyncStandby)
	if s := nodeStatus(t, c, nodeA); s.Role != RolePrimary || s.Fenced {
		t.Fatalf("primary after the region came back: %+v", s)
	}
}
