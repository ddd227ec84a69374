package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
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

	l, err := ledger.New(ledger.Config{URL: strings.TrimSpace(e.must("db-url", "--password")), Table: "switchover_ledger", Rate: 50, Duration: 3 * time.Minute, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancelLoad := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	stopLoad := sync.OnceValue(func() error { cancelLoad(); return <-done })
	defer stopLoad()
	writing := func(what string) {
		t.Helper()
		acked := l.Stats().Acked
		waitFor(t, "writes acknowledged "+what, 30*time.Second, func() bool { return l.Stats().Acked >= acked+20 })
	}
	writing("at the start")

	// A frozen replica: promote refuses it, the primary is left alone.
	pid := postmasterPID(t, e.stateDir, "db-us-west-2a")
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	out, errOut, code := e.hastack("promote", "us-west-2")
	t.Logf("promote of a frozen replica: exit %d: %s", code, strings.TrimSpace(errOut))
	if code != 1 || out != "" || !strings.HasPrefix(errOut, "hastack: refusing to promote db-us-west-2a in us-west-2: it does not answer") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("promote of a frozen replica: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if n := dbNode(t, e.status(), "db-us-east-1a"); n.Role != "primary" || !n.Running {
		t.Fatalf("the primary after a refused promotion: %+v", n)
	}
	writing("after the refused promotion")
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}

	downtime := regexp.MustCompile(`write downtime: ([0-9.]+)s`)
	for _, tc := range []struct{ region, from, to string }{{"us-west-2", "db-us-east-1a", "db-us-west-2a"}, {"us-east-1", "db-us-west-2a", "db-us-east-1a"}} {
		waitFor(t, tc.to+" streaming", 30*time.Second, func() bool {
			s := dbNode(t, e.status(), tc.to).ReplicationState
			return s == "async" || s == "sync"
		})
		out := e.must("switchover", tc.region)
		t.Logf("hastack switchover %s:\n%s", tc.region, out)
		m := downtime.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no write downtime in the output of switchover %s", tc.region)
		}
		if d, _ := strconv.ParseFloat(m[1], 64); d <= 0 || d > 2 {
			t.Errorf("writes stopped for %s s during the switchover to %s, want under a second (two on a shared machine)", m[1], tc.region)
		}
		st := e.status()
		if n := dbNode(t, st, tc.to); n.Role != "primary" || !n.Running {
			t.Fatalf("%s after the switchover: %+v", tc.to, n)
		}
		if n := dbNode(t, st, tc.from); n.Role == "primary" || !n.Running || n.Fenced {
			t.Fatalf("old primary %s after the switchover: %+v, want a running follower", tc.from, n)
		}
		writing("after the switchover to " + tc.region)
	}
	waitFor(t, "db-us-west-2a streaming from the primary at home", 30*time.Second, func() bool {
		return dbNode(t, e.status(), "db-us-west-2a").ReplicationState == "async"
	})

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
