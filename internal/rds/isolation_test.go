package rds

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// An isolated primary region (every packet between it and the other
// region dropped) still fails over inside itself, since its monitor
// works from inside the region. The other region sees its primary
// unreachable and promotes its replica without fencing the old primary,
// which it cannot reach: that one keeps running and taking writes, as on
// AWS, and says so. Once the network is back, Rejoin makes it a follower
// of the new primary, rewound; StartRegion brings back the node killed
// during the isolation as one too.
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

	// Multi-AZ failover inside the isolated region.
	if err := c.KillPrimary(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the standby promoted inside the isolated region", eventually, func() bool {
		return nodeStatus(t, c, nodeB).ReplicationState == ReplPrimary
	})
	execSQL(t, ctx, c.WriterURL(east), "INSERT INTO t VALUES (2)")
	if events := eventsOnly(rec); !strings.Contains(events, "except "+nodeW+", which "+east+" cannot reach") {
		t.Errorf("the failover did not say it left the unreachable replica alone:\n%s", events)
	}

	// The other region's view: the primary is unreachable, the region
	// lost (as DNS says), so its replica is promoted automatically.
	pidB := postmasters(c)[nodeB]
	var lost atomic.Bool
	lost.Store(true)
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { c.WatchRegionFailover(wctx, lost.Load); close(watched) }()
	defer func() { stopWatch(); <-watched }()
	waitFor(t, "the replica promoted from its region", eventually, func() bool {
		return nodeStatus(t, c, nodeW).ReplicationState == ReplPrimary
	})
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
	execSQL(t, ctx, c.WriterURL(west), "INSERT INTO t VALUES (3)")

	// While cut, it cannot rejoin.
	if rejoined, err := c.Rejoin(ctx); err == nil || len(rejoined) != 0 {
		t.Errorf("Rejoin during the cut: %v, %v; want an error", rejoined, err)
	}
	if p := postmasters(c)[nodeB]; p != pidB {
		t.Fatal("a Rejoin that cannot reach the primary stopped the old primary")
	}

	cut.Restore()
	rejoined, err := c.Rejoin(ctx)
	if err != nil || !slices.Equal(rejoined, []string{nodeB}) {
		t.Fatalf("Rejoin after the cut: %v, %v; want %s", rejoined, err, nodeB)
	}
	err = tryExec(ctx, c.DirectURL(nodeB), "INSERT INTO t VALUES (51)")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" {
		t.Errorf("a write on the rejoined old primary: %v, want read-only", err)
	}
	waitFor(t, "the old primary following the new one", eventually, func() bool {
		return visible(ctx, c.DirectURL(nodeB), 3) && !visible(ctx, c.DirectURL(nodeB), 50)
	})
	if !strings.Contains(eventsOnly(rec), EventNodeRejoining) || !strings.Contains(eventsOnly(rec), "which pg_rewind would take for one history; only a new copy will do); copied afresh from "+nodeW) {
		t.Errorf("no rejoin or rewind event:\n%s", eventsOnly(rec))
	}
	if err := c.StartRegion(ctx, east); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the killed first primary following the new one", eventually, func() bool {
		return visible(ctx, c.DirectURL(nodeA), 3) && streaming(nodeStatus(t, c, nodeA))
	})
	t.Logf("events:\n%s", eventsOnly(rec))
}
