package rds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// This file is the part of the node agent that keeps servers running:
// it remembers each node's faults, exits and rebuilds (health), and runs
// restarts and rebuilds in the background (jobs), so that a slow one
// never holds up a failover.

// jobTimeout bounds one restart or rebuild.
const jobTimeout = 2 * time.Minute

// job is a restart or rebuild running in the background.
type job struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// healthOf returns a copy of the node's record.
func (c *Cluster) healthOf(name string) health {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.health[name]
}

// updateHealth changes the node's record and returns the result.
func (c *Cluster) updateHealth(name string, change func(*health)) health {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.health[name]
	change(&h)
	c.health[name] = h
	return h
}

// setHeld records that the node is stopped on purpose (a fault, a fence)
// or, with held false, that it may run again, its failures forgotten.
func (c *Cluster) setHeld(name string, held bool) {
	c.updateHealth(name, func(h *health) {
		h.held = held
		if !held {
			h.failures, h.loopReported, h.rebuildFailures = 0, false, 0
		}
	})
}

// nodeUp records a server that became ready.
func (c *Cluster) nodeUp(n *node) {
	c.updateHealth(n.cfg.Name, func(h *health) { h.upSince = time.Now() })
}

// failed records that the node's server stopped on its own (exited) or
// could not be started again, and reports a crash loop once.
func (c *Cluster) failed(n *node, how string, exited bool) health {
	now := time.Now()
	loop := false
	h := c.updateHealth(n.cfg.Name, func(h *health) {
		if h.held {
			return
		}
		h.failures++
		h.lastFailure = now
		if exited {
			h.lastExit, h.lastExitAt = how, now
		}
		if h.crashLoop() && !h.loopReported {
			h.loopReported, loop = true, true
		}
	})
	if loop {
		msg := fmt.Sprintf("database node %s keeps stopping: %d times in a row without running %s (last: %s); it is started again after %s, and up to every %s",
			n.cfg.Name, h.failures, stableAfter, how, restartDelay(h.failures), restartBackoffMax)
		c.log.Error("database node in a crash loop", "node", n.cfg.Name, "failures", h.failures, "last", how)
		c.emit(EventCrashLoop, msg)
	}
	return h
}

// wake makes the monitor run a pass soon.
func (c *Cluster) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// startJob runs work for n in the background, with n marked busy, unless
// n is busy already.
func (c *Cluster) startJob(n *node, kind string, work func(ctx context.Context)) {
	if !n.busy.CompareAndSwap(false, true) {
		return
	}
	ctx, cancel := context.WithTimeout(c.bgCtx, jobTimeout)
	j := &job{cancel: cancel, done: make(chan struct{})}
	name := n.cfg.Name
	c.mu.Lock()
	c.jobs[name] = j
	h := c.health[name]
	h.job = kind
	c.health[name] = h
	c.mu.Unlock()
	c.bg.Go(func() {
		defer func() {
			c.mu.Lock()
			delete(c.jobs, name)
			h := c.health[name]
			h.job = ""
			c.health[name] = h
			c.mu.Unlock()
			n.busy.Store(false)
			cancel()
			close(j.done)
			c.wake()
		}()
		work(ctx)
	})
}

// awaitJob waits for n's background job, whatever it is, if one runs,
// or until ctx ends.
func (c *Cluster) awaitJob(ctx context.Context, n *node) error {
	c.mu.Lock()
	j := c.jobs[n.cfg.Name]
	c.mu.Unlock()
	if j == nil {
		return nil
	}
	select {
	case <-j.done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// cancelJob ends n's background job, if any, and waits for it.
func (c *Cluster) cancelJob(n *node) {
	c.mu.Lock()
	j := c.jobs[n.cfg.Name]
	c.mu.Unlock()
	if j != nil {
		j.cancel()
		<-j.done
	}
}

// restart starts a node that stopped on its own again in its role.
func (c *Cluster) restart(ctx context.Context, n *node) {
	name := n.cfg.Name
	if err := c.startNode(ctx, n, c.snapshot()); err != nil {
		if ctx.Err() != nil {
			return // cancelled: a fault or Stop took over
		}
		h := c.failed(n, "restart failed: "+err.Error(), false)
		c.problem("restart "+name, EventError, fmt.Sprintf("starting database node %s again failed (%d in a row; next attempt in %s): %v",
			name, h.failures, restartDelay(h.failures), err))
		return
	}
	c.problem("restart "+name, EventError, "")
	h := c.updateHealth(name, func(h *health) { h.restarts++ })
	c.log.Info("database node restarted", "node", name, "restarts", h.restarts)
	c.emit(EventNodeRestarted, fmt.Sprintf("database node %s restarted after it stopped on its own (%s); %d restarts so far", name, h.lastExit, h.restarts))
}

// rebuild gives a follower that cannot catch up a new copy of the data
// and starts it again; a failed attempt leaves its old data in place and
// is retried by the monitor, with backoff.
func (c *Cluster) rebuild(ctx context.Context, n *node, reason string, fresh bool) {
	name := n.cfg.Name
	c.log.Warn("rebuilding database node", "node", name, "reason", reason, "fresh", fresh)
	c.emit(EventNodeRebuilding, fmt.Sprintf("rebuilding database node %s: %s; its data is kept until a new copy is complete", name, reason))
	err := c.rebuildNode(ctx, n, fresh)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		h := c.updateHealth(name, func(h *health) { h.rebuildFailures, h.lastRebuild = h.rebuildFailures+1, time.Now() })
		c.problem("rebuild "+name, EventError, fmt.Sprintf("rebuilding database node %s failed (%d in a row; next attempt in %s): %v",
			name, h.rebuildFailures, rebuildDelay(h.rebuildFailures), err))
		return
	}
	c.problem("rebuild "+name, EventError, "")
}

// rebuildNode stops n, builds its new copy from the primary, swaps it
// in and starts n as a follower.
func (c *Cluster) rebuildNode(ctx context.Context, n *node, fresh bool) error {
	stopCtx, cancel := context.WithTimeout(ctx, stopTimeout)
	err := c.stopNode(stopCtx, n)
	cancel()
	if err != nil {
		return err
	}
	st := c.snapshot()
	prim := c.byName[st.Primary]
	if prim == n || !prim.running() {
		return fmt.Errorf("primary %s is not running", prim.cfg.Name)
	}
	n.mu.Lock()
	how, err := c.eng.copyFrom(ctx, c, n, prim, fresh)
	n.mu.Unlock()
	if err != nil {
		return err
	}
	c.updateHealth(n.cfg.Name, func(h *health) {
		h.cannotFollow, h.copy, h.rebuildFailures, h.rebuilt, h.lastRebuild = "", false, 0, true, time.Now()
	})
	if st.Nodes[n.cfg.Name].Fenced {
		if err := c.updateState(func(s *State) {
			e := s.Nodes[n.cfg.Name]
			e.Fenced = false
			s.Nodes[n.cfg.Name] = e
		}); err != nil {
			return err
		}
	}
	c.emit(EventNodeRebuilt, fmt.Sprintf("database node %s %s", n.cfg.Name, how))
	if err := c.startNode(ctx, n, c.snapshot()); err != nil {
		if ctx.Err() == nil {
			c.failed(n, "start after the rebuild failed: "+err.Error(), false)
		}
		return nil // the restarts take over; the new copy is in place
	}
	return nil
}

// maxLogScan bounds what one pass reads of a server's log.
const maxLogScan = 1 << 20

// scanLog reads what n's server logged since the last look and returns
// the first report that it cannot follow its primary, if any.
func (c *Cluster) scanLog(n *node) (reason string, needCopy bool) {
	files := n.layout.files(c.acct)
	orig := n.logFrom.Load()
	from := orig
	if size := files.size(logName); size < from {
		from = 0 // the log was replaced
	}
	data := files.readFrom(logName, from, maxLogScan)
	end := bytes.LastIndexByte(data, '\n')
	if end < 0 {
		if len(data) == maxLogScan {
			n.logFrom.CompareAndSwap(orig, from+int64(len(data)))
		}
		return "", false
	}
	n.logFrom.CompareAndSwap(orig, from+int64(end)+1)
	for line := range bytes.Lines(data[:end+1]) {
		if r, cp := cannotFollowReason(string(line)); r != "" && reason == "" {
			reason, needCopy = r, cp
		}
	}
	return reason, needCopy
}

// errNotRunning is the error of an operation that needs the cluster running.
var errNotRunning = errors.New("the database cluster is not running")
