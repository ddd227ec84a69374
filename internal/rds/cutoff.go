package rds

// A promotion from another region acts on the old primary's region over
// the network, or not at all. While that region is cut off from the
// promoting one, its endpoints keep leading where they did: to the old
// primary, which, left alone, still takes the writes of every client
// that reaches the region, as promoting a cross-region replica on AWS
// leaves the source cluster and its endpoints alone. Lease fencing is
// what stops those writes, from inside the region. The region's
// endpoints follow the primary again once a monitor pass sees the
// region reach it.

// markCutOff records old's region as out of reach of a promotion acting
// from region from, when the monitor's last pass, made while old was the
// primary, saw no connection open from there to it. A region wrongly
// taken for cut off (its server hung, say) follows the primary again
// after one pass.
func (c *Cluster) markCutOff(from string, old *node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old.cfg.Region == from || !c.obs.Unreached[from] {
		return
	}
	if c.cut == nil {
		c.cut = map[string]bool{}
	}
	c.cut[old.cfg.Region] = true
}

// cutOff reports whether region's endpoints are out of the control
// plane's reach: they are left leading where they do.
func (c *Cluster) cutOff(region string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cut[region]
}

// reachedAgain forgets the cut-off regions that obs, observed while the
// primary was in region primary, saw reach it, or that hold it.
func (c *Cluster) reachedAgain(obs observation, primary string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for region := range c.cut {
		if region == primary || !obs.Unreached[region] {
			delete(c.cut, region)
		}
	}
}
