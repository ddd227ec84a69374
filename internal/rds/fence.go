package rds

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Lease is a region's hold on the right to acknowledge writes, renewed
// over the network through a witness outside every region
// (internal/lease's Keeper is one). With fencing = "lease" the primary
// takes writes only while its region holds it.
type Lease interface {
	// Run renews the lease while the region keeps it, until ctx ends,
	// and reports each change through the onChange given to NewLease.
	Run(ctx context.Context) error
	// Acquire takes the lease; with wait it waits, within ctx, until
	// the old holder's lease must have run out.
	Acquire(ctx context.Context, wait bool) error
	// Release gives the lease up at once.
	Release(ctx context.Context) error
	// Holds reports whether writes may be acknowledged at now.
	Holds(now time.Time) bool
	// Reach asks the witness, from the region's address, who holds the
	// lease; it fails when the witness does not answer.
	Reach(ctx context.Context) error
}

// NewLeaseFunc makes region's lease, renewed from source (the region's
// control address); onChange is called when the region starts or stops
// holding it, on its own, from another goroutine.
type NewLeaseFunc func(region string, source netip.Addr, onChange func(held bool)) (Lease, error)

// fencing carries out lease fencing: which regions hold their lease, and
// the keepers' run loops.
type fencing struct {
	leases map[string]Lease // by region

	mu       sync.Mutex
	lost     map[string]bool // regions whose lease is not held
	released map[string]bool // regions that gave their lease up on purpose

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// makeLeases gives every region with endpoints its lease, not yet held.
func (c *Cluster) makeLeases() error {
	if c.cfg.NewLease == nil {
		return nil
	}
	f := &fencing{leases: map[string]Lease{}, lost: map[string]bool{}, released: map[string]bool{}}
	for _, region := range c.regions() {
		l, err := c.cfg.NewLease(region, c.controlAddr(region), func(held bool) { c.leaseChanged(region, held) })
		if err != nil {
			return fmt.Errorf("the write lease of %s: %w", region, err)
		}
		f.leases[region] = l
		f.lost[region] = true
	}
	c.fence = f
	return nil
}

// startLeases takes the lease for the primary's region, waiting out any
// earlier holder's, and starts every region's renewals. Until then the
// writer endpoints lead nowhere.
func (c *Cluster) startLeases(ctx context.Context, primaryRegion string) error {
	f := c.fence
	if f == nil {
		return nil
	}
	rctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	for _, l := range f.leases {
		f.done.Go(func() { _ = l.Run(rctx) })
	}
	if err := f.leases[primaryRegion].Acquire(ctx, true); err != nil {
		return fmt.Errorf("taking the write lease for %s: %w", primaryRegion, err)
	}
	f.setLost(primaryRegion, false)
	return nil
}

// stopLeases ends the renewals; the leases run out on their own.
func (c *Cluster) stopLeases() {
	if f := c.fence; f != nil && f.cancel != nil {
		f.cancel()
		f.done.Wait()
		f.cancel = nil
	}
}

func (f *fencing) setLost(region string, lost bool) {
	f.mu.Lock()
	f.lost[region] = lost
	f.mu.Unlock()
}

// writesFenced reports whether region may not acknowledge writes: with
// lease fencing, it does not hold its lease.
func (c *Cluster) writesFenced(region string) bool {
	f := c.fence
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lost[region]
}

// leaseChanged is told by region's lease when the region starts or stops
// holding it. A region that lost it stops writes on its own, from its own
// control address: its writer endpoints lead nowhere and close their
// connections, and its primary turns read-only with its client sessions
// ended. One that holds it again takes writes again.
func (c *Cluster) leaseChanged(region string, held bool) {
	f := c.fence
	if f == nil {
		return
	}
	f.setLost(region, !held)
	f.mu.Lock()
	released := f.released[region]
	if held {
		f.released[region] = false
	}
	f.mu.Unlock()
	prim := c.byName[c.snapshot().Primary]
	if prim.cfg.Region != region || !held && released {
		return // a promotion stopped its writes and handed the lease on
	}
	if !held {
		closed := c.leadWriters(route{})
		err := c.setReadOnly(prim, true, c.probe)
		msg := fmt.Sprintf("%s lost its write lease: writes stop there on their own; %d connections through the writer endpoints closed, primary %s read-only", region, closed, prim.cfg.Name)
		if err != nil {
			msg = fmt.Sprintf("%s lost its write lease: writes stop there on their own; %d connections through the writer endpoints closed; primary %s could not be made read-only yet (%v), the endpoints refuse writes meanwhile", region, closed, prim.cfg.Name, err)
			c.retryReadOnly(region, prim, true)
		}
		c.log.Warn("write lease lost", "region", region, "primary", prim.cfg.Name, "err", err)
		c.emit(EventLeaseLost, msg)
		return
	}
	if err := c.setReadOnly(prim, false, c.probe); err != nil {
		c.problem("lease "+region, EventError, fmt.Sprintf("%s holds its write lease again, but primary %s stays read-only for now: %v", region, prim.cfg.Name, err))
		c.retryReadOnly(region, prim, false)
		return
	}
	c.leaseHeld(region, prim)
}

// leaseHeld opens region's primary to writes through its endpoints again.
func (c *Cluster) leaseHeld(region string, prim *node) {
	c.leadWriters(route{node: prim.cfg.Name, addr: prim.addrPort()})
	c.emit(EventLeaseHeld, fmt.Sprintf("%s holds its write lease: primary %s takes writes", region, prim.cfg.Name))
}

// leaseRetry is how often a primary that could not be made read-only, or
// writable again, when its region's lease changed is tried again.
const leaseRetry = 500 * time.Millisecond

// retryReadOnly tries again, every leaseRetry, to make prim read-only
// (on) or writable, as its region's lease now says, after an attempt
// failed (a login that timed out on a loaded machine, say). Each attempt
// allows a login sessionOpen. It stops once it succeeded, when the
// lease or the primary changed, or when the cluster stops.
func (c *Cluster) retryReadOnly(region string, prim *node, on bool) {
	c.bg.Go(func() {
		tick := time.NewTicker(leaseRetry)
		defer tick.Stop()
		for {
			select {
			case <-c.bgCtx.Done():
				return
			case <-tick.C:
			}
			if c.writesFenced(region) != on || c.snapshot().Primary != prim.cfg.Name {
				return
			}
			err := c.setReadOnly(prim, on, sessionOpen)
			if err != nil {
				c.log.Warn("primary not yet made read-only or writable as its lease says", "region", region, "primary", prim.cfg.Name, "read_only", on, "err", err)
				continue
			}
			if !on {
				c.problem("lease "+region, EventError, "")
				c.leaseHeld(region, prim)
				return
			}
			c.emit(EventLeaseLost, fmt.Sprintf("primary %s is read-only now: %s lost its write lease", prim.cfg.Name, region))
			return
		}
	})
}

// setReadOnly makes n refuse writes (new sessions are read-only, client
// sessions are ended) or take them again, over a session from its
// region's control address.
func (c *Cluster) setReadOnly(n *node, on bool, login time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*login)
	defer cancel()
	sess, err := c.eng.dial(ctx, c.controlAddr(n.cfg.Region), n, login)
	if err != nil {
		return err
	}
	defer sess.close(context.WithoutCancel(ctx))
	return sess.setReadOnly(ctx, on)
}

// leaseCheck refuses, before anything is done, a promotion from region
// from to region to that could not take the write lease: one inside a
// region that does not hold it, or one to a region that cannot reach the
// witness.
func (c *Cluster) leaseCheck(ctx context.Context, from, to string) error {
	f := c.fence
	if f == nil {
		return nil
	}
	if from == to {
		if c.writesFenced(to) {
			return fmt.Errorf("%s does not hold the write lease, so no primary may take writes there", to)
		}
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, c.probe)
	defer cancel()
	if err := f.leases[to].Reach(rctx); err != nil {
		return fmt.Errorf("%s cannot reach the lease witness, so it could not take the write lease: %w", to, err)
	}
	return nil
}

// takeLease takes the write lease for the region a promotion moves the
// primary to, before that primary takes a write. When the old primary
// was reached and stopped, its region gives its lease up first (it
// takes no write any more); otherwise the lease is taken only once the
// old region's must have run out, which the old region honours on its
// own. It fails when the region cannot reach the witness.
func (c *Cluster) takeLease(ctx context.Context, from, to string, oldStopped bool, step func(kind, msg string)) error {
	f := c.fence
	if f == nil || from == to {
		if f != nil && c.writesFenced(to) {
			return fmt.Errorf("%s does not hold the write lease", to)
		}
		return nil
	}
	if oldStopped {
		f.mu.Lock()
		f.released[from] = true
		f.mu.Unlock()
		rctx, cancel := context.WithTimeout(ctx, c.probe)
		err := f.leases[from].Release(rctx)
		cancel()
		if err != nil {
			c.log.Warn("old region could not give its write lease up", "region", from, "err", err)
		}
	}
	begin := time.Now()
	if err := f.leases[to].Acquire(ctx, true); err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			return fmt.Errorf("%s could not take the write lease in time: %w", to, err)
		}
		return fmt.Errorf("%s could not take the write lease: %w", to, err)
	}
	f.setLost(to, false)
	step(EventLeaseHeld, fmt.Sprintf("%s took the write lease after %s", to, since(begin)))
	return nil
}
