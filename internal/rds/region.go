package rds

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// WatchRegionFailover runs until ctx ends. With cross_region_failover =
// "automatic" it promotes a replica in another region once regionLost
// has reported true, and the primary has not answered, for
// RegionFailoverAfter without a break; the replica chosen is the first
// running one in configuration order. With "manual" it only reports the
// loss (EventRegionLost). regionLost is the stack's view that a region
// is lost, e.g. that DNS no longer answers with it; it is asked about
// the region that holds the primary now, which after one failover is no
// longer the stack file's primary region, so a region cut off after it
// lost the primary never promotes back. It is called at every poll and
// must be quick.
func (c *Cluster) WatchRegionFailover(ctx context.Context, regionLost func(region string) bool) {
	tick := time.NewTicker(c.poll)
	defer tick.Stop()
	automatic := c.cfg.Database.CrossRegionFailover == "automatic"
	var since time.Time
	reported := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		c.mu.Lock()
		st, obs := c.state.clone(), c.obs
		c.mu.Unlock()
		// The primary as the region that would promote sees it: an
		// isolated region's primary answers inside its region only.
		region := c.byName[st.Primary].cfg.Region
		up := obs.Nodes[st.Primary].writable()
		if cand := c.candidate(region, st, obs); cand != nil {
			up = up && !obs.Unreached[cand.cfg.Region]
		}
		d := decideRegion(regionInput{
			Automatic:  automatic,
			RegionLost: regionLost(region),
			PrimaryUp:  up,
			Since:      since,
			Now:        time.Now(),
			After:      c.cfg.Database.RegionFailoverAfter,
		})
		since = d.Since
		if !d.Lost {
			reported = false
			continue
		}
		if !reported {
			reported = true
			msg := fmt.Sprintf("primary region %s lost for %s: DNS has failed over and primary %s does not answer", region, c.cfg.Database.RegionFailoverAfter, st.Primary)
			if cand := c.candidate(region, st, obs); cand != nil {
				msg += " from " + cand.cfg.Region
			}
			if !automatic {
				msg += "; promote a replica's region to move the primary"
			}
			c.emit(EventRegionLost, msg)
		}
		if d.Promote {
			err := c.promoteElsewhere(ctx, region)
			switch {
			case errors.Is(err, errCalledOff):
				// The primary answered after all: the loss starts afresh
				// (the event said why).
				since, reported = time.Time{}, false
			case err != nil:
				c.problem("region failover", EventError, fmt.Sprintf("automatic region failover: %v", err))
			default:
				since = time.Time{}
			}
		}
	}
}

// promoteElsewhere promotes the first running replica outside region.
func (c *Cluster) promoteElsewhere(ctx context.Context, region string) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	st := c.snapshot()
	if c.byName[st.Primary].cfg.Region != region {
		return nil // moved meanwhile
	}
	c.mu.Lock()
	obs := c.obs
	c.mu.Unlock()
	if n := c.candidate(region, st, obs); n != nil {
		return c.promoteRegion(ctx, n.cfg.Region, fmt.Sprintf("primary region %s lost for %s (automatic cross-region failover)", region, c.cfg.Database.RegionFailoverAfter))
	}
	return fmt.Errorf("no running replica outside region %s", region)
}

// candidate is the replica an automatic cross-region failover away from
// region would promote: the first promotable one outside it, in
// configuration order; nil if there is none.
func (c *Cluster) candidate(region string, st State, obs observation) *node {
	for _, n := range c.nodes {
		if n.cfg.Region != region && c.promotable(n, st, obs) {
			return n
		}
	}
	return nil
}
