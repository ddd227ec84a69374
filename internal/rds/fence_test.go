package rds

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/lease"
)

// testLease is a lease.Keeper as the cluster uses it, noting when it was
// taken.
type testLease struct {
	*lease.Keeper
	mu    *sync.Mutex
	taken *time.Time
}

func (l testLease) Reach(ctx context.Context) error {
	_, err := l.Lease(ctx)
	return err
}

func (l testLease) Acquire(ctx context.Context, wait bool) error {
	err := l.Keeper.Acquire(ctx, wait)
	if err == nil {
		l.mu.Lock()
		*l.taken = time.Now()
		l.mu.Unlock()
	}
	return err
}

// With fencing = "lease", a primary region cut off from the witness and
// from the other region, though clients still reach it, stops taking
// writes on its own before the other region may take the lease; the
// promotion there waits for it. At no instant do two primaries
// acknowledge writes; once the cut heals, the old primary follows the
// new one. With asynchronous cross-region commits, what the old primary
// acknowledged between the cut and the end of its lease is lost; with
// cross_region_commit = "sync" nothing acknowledged is.
func TestLeaseFencing(t *testing.T) {
	requireNetAdmin(t)
	pg, my := engineCases[0], engineCases[1]
	for _, tc := range []struct {
		name   string
		e      engineCase
		commit string
		net    byte
	}{
		{"async", pg, "async", 78}, {"sync", pg, "sync", 77},
		// MariaDB cannot wait for the cross-region replica (semi-sync
		// takes any one follower's acknowledgement).
		{"mysql/async", my, "async", 76},
	} {
		t.Run(tc.name, func(t *testing.T) { leaseFencing(t, tc.e, tc.commit, tc.net) })
	}
}

func leaseFencing(t *testing.T, e engineCase, commit string, netNum byte) {
	rec := newRecorder()
	const d = 1500 * time.Millisecond
	cfg := e.setup(t, netNum, true, rec)
	cfg.Database.CrossRegionCommit = commit
	witnessAt := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, netNum, 200}), 7099)
	w, err := lease.NewWitness(lease.WitnessConfig{Duration: d, Fresh: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", witnessAt.String())
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = w.Serve(ln) }()
	t.Cleanup(func() { _ = w.Close() })
	var mu sync.Mutex
	taken := map[string]*time.Time{east: new(time.Time), west: new(time.Time)}
	cfg.NewLease = func(region string, source netip.Addr, onChange func(bool)) (Lease, error) {
		k, err := lease.NewKeeper(lease.KeeperConfig{Region: region, Witness: witnessAt.String(), Source: source, Duration: d, OnChange: onChange})
		return testLease{Keeper: k, mu: &mu, taken: taken[region]}, err
	}
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
	mustExec(t, ctx, c.WriterURL(east), "CREATE TABLE t (id int PRIMARY KEY)")
	mustExec(t, ctx, c.WriterURL(east), "INSERT INTO t VALUES (0)")
	waitFor(t, "the replica streaming", eventually, func() bool { return streaming(nodeStatus(t, c, nodeW)) })
	if commit == "sync" {
		waitFor(t, "commits waiting for the replica", eventually, func() bool {
			return c.snapshot().Sync.CrossRegion == nodeW && nodeStatus(t, c, nodeW).ReplicationState == ReplSync
		})
	}

	// Clients keep writing through us-east-1's writer endpoint, from the
	// operator's address, which the cut leaves alone.
	writeCtx, stopWrites := context.WithCancel(ctx)
	var lastEastAck time.Time
	var eastAcked []int
	writing := make(chan struct{})
	go func() {
		defer close(writing)
		for id := 1; writeCtx.Err() == nil; id++ {
			// A login and a commit, which with cross_region_commit = "sync"
			// waits a round trip to the other region: on a loaded machine
			// more than a few hundred milliseconds.
			wctx, cancel := context.WithTimeout(writeCtx, time.Second)
			err := sqlExec(wctx, t, c.WriterURL(east), "INSERT INTO t VALUES ("+strconv.Itoa(id)+")")
			cancel()
			if err == nil {
				mu.Lock()
				lastEastAck = time.Now()
				eastAcked = append(eastAcked, id)
				mu.Unlock()
			}
			select {
			case <-writeCtx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	waitFor(t, "writes acknowledged in us-east-1", eventually, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(eastAcked) >= 5
	})

	eastBlock := netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 0, netNum, 0}), 28)
	westBlock := netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 0, netNum, 16}), 28)
	cut := cutBetween(t, []netip.Prefix{eastBlock}, []netip.Prefix{westBlock, netip.PrefixFrom(witnessAt.Addr(), 32)})
	cutAt := time.Now()

	// us-east-1 stops writes on its own: the primary turns read-only.
	waitFor(t, "the cut-off primary read-only", eventually, func() bool {
		return e.readOnly(sqlExec(ctx, t, c.DirectURL(nodeA), "INSERT INTO t VALUES (100000)"))
	})
	if stopped := time.Since(cutAt); stopped > d+time.Second {
		t.Errorf("the cut-off primary turned read-only %s after the cut, more than the lease (%s)", stopped, d)
	}

	// us-west-2 promotes its replica once it holds the lease.
	if _, err := c.PromoteRegion(ctx, west, true); err != nil {
		t.Fatalf("promoting us-west-2: %v", err)
	}
	mustExec(t, ctx, c.WriterURL(west), "INSERT INTO t VALUES (200000)")
	// Nothing in the cut-off region may be promoted back, not even with
	// force: the old primary has not rejoined, and its standby still
	// follows it, on the history the promotion left behind.
	waitFor(t, nodeB+" seen following the former primary", eventually, func() bool { return c.snapshot().Nodes[nodeB].Strayed })
	if _, err := c.PromoteRegion(ctx, east, true); err == nil || !strings.Contains(err.Error(), "region "+east+" has no running replica to promote") {
		t.Errorf("promoting the cut-off region back: %v, want a refusal", err)
	}
	stopWrites()
	<-writing
	mu.Lock()
	westTook, lastAck := *taken[west], lastEastAck
	acked := slices.Clone(eastAcked)
	mu.Unlock()
	if westTook.IsZero() || !lastAck.Before(westTook) {
		t.Fatalf("us-east-1 acknowledged a write at %s, us-west-2 took the lease at %s: two writers", lastAck.Format(time.StampMicro), westTook.Format(time.StampMicro))
	}
	t.Logf("us-east-1 acknowledged its last write %s after the cut; us-west-2 took the lease %s after the cut, %s later",
		lastAck.Sub(cutAt).Round(time.Millisecond), westTook.Sub(cutAt).Round(time.Millisecond), westTook.Sub(lastAck).Round(time.Millisecond))
	if !strings.Contains(eventsOnly(rec), EventLeaseLost+": "+east+" lost its write lease") {
		t.Errorf("no event saying us-east-1 lost its lease:\n%s", eventsOnly(rec))
	}

	// Healed, the old primary follows the new one; what us-east-1
	// acknowledged before its lease ran out and never sent is gone, and
	// nothing else.
	cut.Restore()
	waitFor(t, "the old region rejoined", eventually, func() bool {
		_, err := c.Rejoin(ctx)
		return err == nil && nodeStatus(t, c, nodeA).ReplicationState != ReplStalePrimary
	})
	waitFor(t, nodeA+" following the new primary", eventually, func() bool {
		return sqlVisible(ctx, t, c.DirectURL(nodeA), 200000) && streaming(nodeStatus(t, c, nodeA))
	})
	var lost int
	for _, id := range acked {
		if !sqlVisible(ctx, t, c.WriterURL(west), id) {
			lost++
		}
	}
	t.Logf("%d of %d writes us-east-1 acknowledged are not on the new primary (acknowledged before its lease ran out, never replicated)", lost, len(acked))
	if commit == "sync" && lost != 0 {
		t.Errorf("with cross_region_commit = \"sync\", %d acknowledged writes lost, want 0", lost)
	}
}
