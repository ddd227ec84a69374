package rds

import (
	"context"
	"sync"
	"testing"
)

// The automatic cross-region failover follows the primary: after one
// failover, DNS failing back and the old region rejoining, losing the
// region that now holds the primary promotes again, back to the first.
func TestAutomaticFailoverFollowsThePrimary(t *testing.T) {
	requirePostgres(t)
	rec := newRecorder()
	cfg := haConfig(seededDir(t, tmplHA), 79, true, rec)
	cfg.Database.CrossRegionFailover = "automatic"
	c := newCluster(t, cfg)
	ctx := startCtx(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("events:\n%s", eventsOnly(rec))
		}
	})
	// lostRegion is the region DNS has failed over away from ("": none).
	var mu sync.Mutex
	lostRegion := ""
	dnsAway := func(from string) {
		mu.Lock()
		lostRegion = from
		mu.Unlock()
	}
	lost := func(region string) bool {
		mu.Lock()
		defer mu.Unlock()
		return region == lostRegion
	}
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() { c.WatchRegionFailover(wctx, lost); close(watched) }()
	defer func() { stopWatch(); <-watched }()
	execSQL(t, ctx, c.WriterURL(east), "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
	// The replica is asynchronous: streaming is not enough, the crash
	// must not come before it has the table.
	waitFor(t, "the replica streaming with the first row", eventually, func() bool {
		return streaming(nodeStatus(t, c, nodeW)) && visible(ctx, c.DirectURL(nodeW), 1)
	})

	// us-east-1 goes; DNS fails over: us-west-2 is promoted.
	if err := c.CrashRegion(east); err != nil {
		t.Fatal(err)
	}
	dnsAway(east)
	waitFor(t, "us-west-2 promoted", eventually, func() bool { return c.snapshot().Primary == nodeW })
	execSQL(t, ctx, c.WriterURL(west), "INSERT INTO t VALUES (2)")

	// us-east-1 comes back as followers; DNS fails back to it.
	if err := c.StartRegion(ctx, east); err != nil {
		t.Fatal(err)
	}
	dnsAway("")
	waitFor(t, "us-east-1 following us-west-2", eventually, func() bool {
		return visible(ctx, c.DirectURL(nodeA), 2) && streaming(nodeStatus(t, c, nodeA))
	})

	// Now the region that holds the primary goes: us-east-1 is promoted.
	if err := c.CrashRegion(west); err != nil {
		t.Fatal(err)
	}
	dnsAway(west)
	waitFor(t, "us-east-1 promoted again", eventually, func() bool {
		return c.byName[c.snapshot().Primary].cfg.Region == east
	})
	execSQL(t, ctx, c.WriterURL(east), "INSERT INTO t VALUES (3)")
	if !visible(ctx, c.WriterURL(east), 2) {
		t.Error("the write acknowledged in us-west-2 is missing after the second failover")
	}
}
