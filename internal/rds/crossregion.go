package rds

import "fmt"

// setCrossRegion makes the primary's commits also wait for replica, in
// another region: from now on a commit is acknowledged only once that
// replica has it, so promoting it loses no acknowledged write. The state
// is saved before the primary is told, as for the standby.
func (c *Cluster) setCrossRegion(replica string) error {
	if err := c.updateState(func(s *State) { s.Sync.CrossRegion = replica }); err != nil {
		return err
	}
	st := c.snapshot()
	prim := c.byName[st.Primary]
	if err := c.reconfigure(prim, st); err != nil {
		return err
	}
	c.log.Info("commits wait for a cross-region replica", "primary", prim.cfg.Name, "replica", replica)
	c.emit(EventCrossRegionSync, fmt.Sprintf("commits on %s now also wait for %s in %s (cross_region_commit = \"sync\"): no acknowledged write is lost if it is promoted; while it does not stream, commits wait",
		prim.cfg.Name, replica, c.byName[replica].cfg.Region))
	return nil
}
