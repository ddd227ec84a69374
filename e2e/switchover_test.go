package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/ledger"
	"github.com/hastack/hastack/internal/stack"
)

// TestSwitchover: on the quick example, under a steady write load
// through the writer endpoint, promote refuses a replica whose
// postmaster hangs and the primary keeps taking writes; then hastack
// switchover moves the primary to us-west-2 and back home, each time
// reporting a write downtime under a second (two on this shared
// machine), with every acknowledged write kept and the old primary
// running on as a follower.
func TestSwitchover(t *testing.T) {
	e := newEnv(t, "quick")
	e.must("up", "-d")
	st := e.status()
	t.Logf("network enforced: %v (%s)", st.Network.Enforced, st.Network.Reason)

	l, stopLoad := runLedger(t, ledger.Config{URL: strings.TrimSpace(e.must("db-url", "--password")), Table: "switchover_ledger", Rate: 50, Duration: 3 * time.Minute, Timeout: 2 * time.Second})
	writing := func(what string) {
		t.Helper()
		acked := l.Stats().Acked
		waitFor(t, "writes acknowledged "+what, 30*time.Second, func() bool { return l.Stats().Acked >= acked+20 })
	}
	writing("at the start")

	// A frozen replica: promote refuses it, the primary is left alone.
	primary := primaryNode(t, e.status())
	pid := postmasterPID(t, e.stateDir, "db-us-west-2a")
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	out, errOut, code := e.hastack("promote", "us-west-2")
	t.Logf("promote of a frozen replica: exit %d: %s", code, strings.TrimSpace(errOut))
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "hastack: refusing to promote db-us-west-2a in us-west-2: it does not answer") ||
		!strings.Contains(errOut, "nothing was done to primary "+primary.Name) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("promote of a frozen replica: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if n := primaryNode(t, e.status()); n.Name != primary.Name || !n.Running {
		t.Fatalf("the primary after a refused promotion: %+v, want %s still", n, primary.Name)
	}
	writing("after the refused promotion")
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}

	moved := regexp.MustCompile(`(?m)^(\S+) \((\S+)\) is the primary now: switched over from (\S+) in`)
	downtime := regexp.MustCompile(`write downtime: ([0-9.]+)s`)
	for _, region := range []string{"us-west-2", "us-east-1"} {
		waitFor(t, "a replica streaming in "+region, 30*time.Second, func() bool {
			for _, n := range e.status().Database.Nodes {
				if n.Region == region && streams(n) {
					return true
				}
			}
			return false
		})
		out := e.switchover(region)
		t.Logf("hastack switchover %s:\n%s", region, out)
		m, d := moved.FindStringSubmatch(out), downtime.FindStringSubmatch(out)
		if m == nil || d == nil || m[2] != region {
			t.Fatalf("the output of switchover %s does not say who is primary now and the write downtime", region)
		}
		if secs, _ := strconv.ParseFloat(d[1], 64); secs <= 0 || secs > 2 {
			t.Errorf("writes stopped for %s s during the switchover to %s, want under a second (two on a shared machine)", d[1], region)
		}
		to, from := m[1], m[3]
		if n := dbNode(t, e.status(), to); n.Role != "primary" || !n.Running || n.Region != region {
			t.Fatalf("%s after the switchover: %+v", to, n)
		}
		waitFor(t, "the old primary "+from+" streaming from "+to, 30*time.Second, func() bool {
			n := dbNode(t, e.status(), from)
			return n.Role != "primary" && !n.Fenced && streams(n)
		})
		writing("after the switchover to " + region)
	}

	if err := stopLoad(); err != nil {
		t.Fatal(err)
	}
	vctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v, err := l.Verify(vctx, strings.TrimSpace(e.must("db-url", "--password")))
	if err != nil {
		t.Fatal(err)
	}
	s := l.Stats()
	t.Logf("ledger: %d acked, %d failed, %d unknown, longest gap without an acknowledgement %s; %d lost", s.Acked, s.Failed, s.Unknown, s.LongestGap.Round(time.Millisecond), v.Lost)
	if v.Lost != 0 || v.FailedPresent != 0 {
		t.Fatalf("ledger: %d of %d acknowledged writes lost, %d failed writes present", v.Lost, v.Acked, v.FailedPresent)
	}
	events := e.must("events")
	for line := range strings.Lines(events) {
		if strings.Contains(line, "(+") {
			t.Log(strings.TrimSpace(line))
		}
	}
	if n := strings.Count(events, "db_switchover_done"); n != 2 {
		t.Errorf("%d db_switchover_done events, want 2:\n%s", n, events)
	}
	e.must("down", "--purge")
}

// switchover runs hastack switchover region and returns its output. A
// switchover refused (nothing changed: on a loaded machine the replica
// may not have caught up within its second) is tried again, twice.
func (e *env) switchover(region string) string {
	e.t.Helper()
	for attempt := 1; ; attempt++ {
		out, errOut, code := e.hastack("switchover", region)
		if code == 0 {
			return out
		}
		if attempt == 3 || !strings.HasPrefix(errOut, "hastack: refusing the switchover") {
			e.t.Fatalf("hastack switchover %s: exit %d\nstdout:\n%s\nstderr:\n%s", region, code, out, errOut)
		}
		e.t.Logf("switchover to %s refused, trying again: %s", region, strings.TrimSpace(errOut))
	}
}

// streams reports a follower streaming from the primary.
func streams(n stack.NodeStatus) bool {
	return n.ReplicationState == "async" || n.ReplicationState == "sync"
}

// primaryNode is the status of the database primary.
func primaryNode(t *testing.T, st stack.Status) stack.NodeStatus {
	t.Helper()
	for _, n := range st.Database.Nodes {
		if n.Role == "primary" {
			return n
		}
	}
	t.Fatal("no database primary in the status")
	return stack.NodeStatus{}
}

// dbNode is the status of the database node name.
func dbNode(t *testing.T, st stack.Status, name string) stack.NodeStatus {
	t.Helper()
	for _, n := range st.Database.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no database node %s in the status", name)
	return stack.NodeStatus{}
}

// postmasterPID reads the pid of node's postmaster.
func postmasterPID(t *testing.T, stateDir, node string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir, "db", node, "data", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		t.Fatalf("postmaster.pid of %s: %v", node, err)
	}
	return pid
}
