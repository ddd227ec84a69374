package rds

import (
	"context"
	"fmt"
	"os"
	"time"
)

// create makes n, which has no data (a spare that a promotion made the
// standby of a primary in its region), with a base backup of the primary,
// and starts it; the monitor then makes it synchronous once it streams.
// A failed attempt is retried by the monitor, with the restart backoff.
func (c *Cluster) create(ctx context.Context, n *node, what string) {
	begin := time.Now()
	name := n.cfg.Name
	c.log.Info("creating database node", "node", name, "as", what)
	c.emit(EventNodeRebuilding, fmt.Sprintf("creating database node %s as the %s in %s, from a base backup", name, what, n.cfg.AZ))
	if err := c.startNode(ctx, n, c.snapshot()); err != nil {
		if ctx.Err() != nil {
			return
		}
		h := c.failed(n, "creation failed: "+err.Error(), false)
		c.problem("create "+name, EventError, fmt.Sprintf("creating database node %s failed (%d in a row; next attempt in %s): %v",
			name, h.failures, restartDelay(h.failures), err))
		return
	}
	c.problem("create "+name, EventError, "")
	c.emit(EventNodeCreated, fmt.Sprintf("database node %s created in %s as the %s in %s, as a new Multi-AZ deployment would get one", name, n.cfg.AZ, what, since(begin)))
}

// retire stops n, a spare whose region no longer holds the primary, and
// removes its data: it is made afresh if the primary comes back.
func (c *Cluster) retire(ctx context.Context, n *node, why string) error {
	ctx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	if err := c.stopNode(ctx, n); err != nil {
		return fmt.Errorf("retiring %s: %w", n.cfg.Name, err)
	}
	if err := os.RemoveAll(n.layout.path(dataName)); err != nil {
		return fmt.Errorf("retiring %s: removing its data: %w", n.cfg.Name, err)
	}
	c.relays[n.cfg.Name].close()
	c.emit(EventNodeRetired, fmt.Sprintf("database node %s retired, its data removed: %s, so it is no longer a Multi-AZ standby", n.cfg.Name, why))
	return nil
}
