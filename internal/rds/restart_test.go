package rds

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// crash kills a node's postmaster with SIGKILL, as the OOM killer would,
// and returns its pid.
func crash(t *testing.T, c *Cluster, name string) int {
	t.Helper()
	p := c.byName[name].proc.Load()
	if p == nil || p.exited() {
		t.Fatalf("%s is not running", name)
	}
	if err := p.signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	return p.pid()
}

// runsAgain reports whether a node runs with another postmaster than pid.
func runsAgain(c *Cluster, name string, pid int) bool {
	p := c.byName[name].proc.Load()
	return p != nil && !p.exited() && p.pid() != pid
}

// Servers that stop on their own are started again, with backoff; a
// crash loop is reported; a node stopped by a fault stays down until it
// is recovered.
func TestCrashedNodesRestarted(t *testing.T) {
	requirePostgres(t)
	rec := newRecorder()
	c := newCluster(t, haConfig(seededDir(t, tmplHA), 89, true, rec))
	ctx := startCtx(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}

	pid := crash(t, c, nodeW)
	waitFor(t, "the replica restarted and streaming", eventually, func() bool {
		s := nodeStatus(t, c, nodeW)
		return runsAgain(c, nodeW, pid) && s.Restarts == 1 && streaming(s)
	})
	if s := nodeStatus(t, c, nodeW); !strings.Contains(s.LastExit, "killed") || s.LastExitAt.IsZero() || s.CrashLoop {
		t.Errorf("replica after one crash: %+v", s)
	}
	pid = crash(t, c, nodeB)
	waitFor(t, "the standby restarted and synchronous again", eventually, func() bool {
		return runsAgain(c, nodeB, pid) && nodeStatus(t, c, nodeB).Restarts == 1 && c.SyncStandby()
	})
	if !strings.Contains(eventsOnly(rec), EventNodeRestarted+": database node "+nodeB+" restarted after it stopped on its own (signal: killed)") {
		t.Errorf("no restart event:\n%s", eventsOnly(rec))
	}

	// Two more crashes of the replica without a quiet spell: a loop.
	pid = crash(t, c, nodeW)
	waitFor(t, "the replica restarted again", eventually, func() bool {
		return runsAgain(c, nodeW, pid) && nodeStatus(t, c, nodeW).Restarts == 2
	})
	pid = crash(t, c, nodeW)
	waitFor(t, "the crash loop reported", eventually, func() bool {
		return nodeStatus(t, c, nodeW).CrashLoop && strings.Contains(eventsOnly(rec), EventCrashLoop+": database node "+nodeW+" keeps stopping: 3 times in a row")
	})
	waitFor(t, "the replica restarted after its backoff and streaming", eventually, func() bool {
		s := nodeStatus(t, c, nodeW)
		return runsAgain(c, nodeW, pid) && s.Restarts == 3 && streaming(s)
	})

	// Stopped by a fault: not restarted, until recovered.
	if err := c.StopNode(ctx, nodeW); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	seen := c.obs.At
	c.mu.Unlock()
	waitFor(t, "a second of monitor passes", eventually, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.obs.At.Sub(seen) >= time.Second
	})
	if s := nodeStatus(t, c, nodeW); s.Running || s.ReplicationState != ReplStopped || s.Restarts != 3 {
		t.Fatalf("replica stopped by a fault: %+v, want it left stopped", s)
	}
	if err := c.RecoverNode(ctx, nodeW); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the recovered replica streaming", eventually, func() bool { return streaming(nodeStatus(t, c, nodeW)) })
}

// A primary with nothing to fail over to (no Multi-AZ) that stops on its
// own is started again, with its data.
func TestCrashedPrimaryRestarted(t *testing.T) {
	requirePostgres(t)
	rec := newRecorder()
	c := newCluster(t, testConfig(seededDir(t, tmplSingle), "127.0.99.14", rec))
	ctx := startCtx(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	execSQL(t, ctx, c.WriterURL(""), "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
	pid := crash(t, c, nodeA)
	waitFor(t, "the primary restarted", eventually, func() bool {
		return runsAgain(c, nodeA, pid) && nodeStatus(t, c, nodeA).Restarts == 1 && tryExec(ctx, c.WriterURL(""), "INSERT INTO t VALUES (2)") == nil
	})
	if !visible(ctx, c.WriterURL(""), 1) {
		t.Error("a row committed before the crash is missing")
	}
	// Killed as a fault: it stays down until recovered.
	if err := c.KillPrimary(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the primary reported stopped", eventually, func() bool { return nodeStatus(t, c, nodeA).ReplicationState == ReplStopped })
	if started, err := c.Recover(ctx); err != nil || len(started) != 1 || started[0] != nodeA {
		t.Fatalf("Recover started %v (%v), want %s", started, err, nodeA)
	}
	if started, err := c.Recover(ctx); err != nil || len(started) != 0 {
		t.Errorf("Recover with every node running started %v (%v)", started, err)
	}
	if !visible(ctx, c.WriterURL(""), 2) {
		t.Error("a row committed before the kill is missing")
	}
}
