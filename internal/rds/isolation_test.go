package rds

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// An isolated primary region (every packet between it and the other
// region dropped) still fails over inside itself when its primary's AZ
// is cut off too, since its monitor works from inside the region; the
// old primary, which nothing can reach, is left running, and
// acknowledges no write: its commits wait for a standby that no longer
// follows it. The
// other region sees its primary unreachable and promotes its replica
// without fencing the new old primary, which it cannot reach: that one
// keeps running and taking writes, as on AWS, and says so. Once the
// network is back, the monitor makes both followers of the new primary.
func TestIsolatedRegion(t *testing.T) {
	requirePostgres(t)
	requireNetAdmin(t)
	rec := newRecorder()
	const net = 84
	cfg := haConfig(seededDir(t, tmplHA), net, true, rec)
	cfg.Database.CrossRegionFailover = "automatic"
	c := newCluster(t, cfg)
	ctx := startCtx(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("events:\n%s", eventsOnly(rec))
			for _, n := range c.nodes {
				t.Logf("log of %s:%s", n.cfg.Name, lastLines(string(n.layout.files(c.acct).readFrom(logName, 0, 1<<20)), 30))
			}
		}
	})
	execSQL(t, ctx, c.WriterURL(east), "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
	waitFor(t, "the replica streaming", eventually, func() bool { return streaming(nodeStatus(t, c, nodeW)) })

	// haConfig puts us-east-1 on .0/28 and us-west-2 on .16/28.
	eastBlock := netip.MustParsePrefix("127.0.84.0/28")
	westBlock := netip.MustParsePrefix("127.0.84.16/28")
	cut := cutBetween(t, []netip.Prefix{eastBlock}, []netip.Prefix{westBlock})

	// Multi-AZ failover inside the isolated region: the primary's AZ is
	// cut off from the rest of the region (its endpoints and its other AZ).
	pidA := postmasters(c)[nodeA]
	azCut := cutBetween(t, hosts(c.byName[nodeA].cfg.Addr), hosts(c.writers[east].addr.Addr(), c.readers[east].addr.Addr(), c.byName[nodeB].cfg.Addr))
	waitFor(t, "the standby promoted inside the isolated region", eventually, func() bool {
		return nodeStatus(t, c, nodeB).ReplicationState == ReplPrimary
	})
	execSQL(t, ctx, c.WriterURL(east), "INSERT INTO t VALUES (2)")
	events := eventsOnly(rec)
	if !strings.Contains(events, "except "+nodeW+", which "+east+" cannot reach") {
		t.Errorf("the failover did not say it left the unreachable replica alone:\n%s", events)
	}
	if !strings.Contains(events, EventNotFenced+": old primary "+nodeA+" could not be reached from "+east+" (its AZ cut off), so it was not stopped") {
		t.Errorf("no event saying the cut-off primary was left alone:\n%s", events)
	}
	if p := postmasters(c)[nodeA]; p != pidA {
		t.Fatalf("the cut-off primary's server is %d, was %d: the failover touched it", p, pidA)
	}
	// Its commits wait for the standby, which follows it no more.
	conn, err := pgx.Connect(ctx, c.DirectURL(nodeA))
	if err != nil {
		t.Fatal(err)
	}
	committed := make(chan error, 1)
	go func() {
		_, err := conn.Exec(context.WithoutCancel(ctx), "INSERT INTO t VALUES (40)")
		committed <- err
	}()
	window := time.NewTimer(time.Second)
	select {
	case err := <-committed:
		t.Errorf("the cut-off old primary answered a commit (%v)", err)
	case <-window.C:
	}
	conn.PgConn().Conn().Close() // the commit waits on; the client goes
	<-committed

	// The other region's view: the primary is unreachable, the region
	// lost (as DNS says), so its replica is promoted automatically.
	// DNS answers with the other region from now on.
	pidB := postmasters(c)[nodeB]
	dnsAway := func(region string) bool { return region == east }
	watch, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { c.WatchRegionFailover(watch, dnsAway); close(watched) }()
	defer func() { stopWatch(); <-watched }()
	waitFor(t, "the replica promoted from its region", eventually, func() bool {
		return nodeStatus(t, c, nodeW).ReplicationState == ReplPrimary
	})
	// The new primary's region holds DNS, so the watcher, which now sees
	// the isolated region's nodes as the only candidates (unreachable
	// from the new primary), must not move the primary back there.
	settle := time.NewTimer(cfg.Database.RegionFailoverAfter + 5*c.poll + time.Second)
	<-settle.C
	if p := c.snapshot().Primary; p != nodeW {
		t.Fatalf("the primary moved back to the isolated region (%s) while DNS answers with %s", p, west)
	}
	stopWatch()
	<-watched
	if !strings.Contains(eventsOnly(rec), EventNotFenced+": old primary "+nodeB+" could not be reached from "+west+", so it was not fenced: if it still runs, it may still take writes") {
		t.Errorf("no event saying the old primary was not fenced:\n%s", eventsOnly(rec))
	}
	if p := postmasters(c)[nodeB]; p != pidB {
		t.Fatalf("the old primary's server is %d, was %d: the promotion touched it", p, pidB)
	}
	if s := nodeStatus(t, c, nodeB); s.ReplicationState != ReplStalePrimary || !s.Fenced {
		t.Errorf("the old primary left running: %+v, want %s", s, ReplStalePrimary)
	}
	if err := tryExec(ctx, c.DirectURL(nodeB), "INSERT INTO t VALUES (50)"); err != nil {
		t.Errorf("the old primary, cut off, refuses a write: %v", err)
	}
	// The promotion could not reach the old primary's region to move its
	// writer endpoint either: it still leads there.
	if err := tryExec(ctx, c.WriterURL(east), "INSERT INTO t VALUES (52)"); err != nil {
		t.Errorf("a write through the cut-off region's writer endpoint: %v, want it taken by the old primary", err)
	}
	execSQL(t, ctx, c.WriterURL(west), "INSERT INTO t VALUES (3)")

	// While cut, it cannot rejoin.
	if rejoined, err := c.Rejoin(ctx); err == nil || len(rejoined) != 0 {
		t.Errorf("Rejoin during the cut: %v, %v; want an error", rejoined, err)
	}
	if p := postmasters(c)[nodeB]; p != pidB {
		t.Fatal("a Rejoin that cannot reach the primary stopped the old primary")
	}

	// Healed, nobody calls Rejoin: the monitor rejoins both by itself, as
	// it must when the rejoin on lifting the cut failed.
	cut.Restore()
	azCut.Restore()
	for _, name := range []string{nodeA, nodeB} {
		waitFor(t, name+" rejoined by the monitor", eventually, func() bool {
			s := nodeStatus(t, c, name)
			return !s.Fenced && s.ReplicationState != ReplStalePrimary
		})
		err := tryExec(ctx, c.DirectURL(name), "INSERT INTO t VALUES (51)")
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "25006" {
			t.Errorf("a write on the rejoined %s: %v, want read-only", name, err)
		}
		waitFor(t, name+" following the new primary", eventually, func() bool {
			return visible(ctx, c.DirectURL(name), 3) && !visible(ctx, c.DirectURL(name), 40) && !visible(ctx, c.DirectURL(name), 50) && !visible(ctx, c.DirectURL(name), 52) &&
				streaming(nodeStatus(t, c, name))
		})
	}
	// The rewind of the first old primary took back the commit that waited
	// for its standby (40), and counted it; the second was copied afresh.
	// Autovacuum may have committed on it meanwhile too (an analyze of the
	// catalogs, a dozen transactions), when the test runs long enough.
	got := nodeStatus(t, c, nodeA).DiscardedTransactions
	if got < 1 {
		t.Errorf("%s's rewind discarded %d transactions, want at least 1 (the commit that waited for the standby)", nodeA, got)
	}
	events = eventsOnly(rec)
	took := fmt.Sprintf("which took back %d transaction", got)
	if !strings.Contains(events, took) {
		t.Errorf("the rewind's event does not count what it took back (%q):\n%s", took, events)
	}
	if !strings.Contains(events, EventNodeRejoining) || !strings.Contains(events, nodeA+" rewound to follow "+nodeW) ||
		!strings.Contains(events, "which pg_rewind would take for one history; only a new copy will do); copied afresh from "+nodeW) {
		t.Errorf("no rejoin, rewind or copy event:\n%s", events)
	}
	t.Logf("events:\n%s", events)
}
