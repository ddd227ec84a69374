package e2e

import (
	"testing"

	"github.com/hastack/hastack/internal/testenv"
)

// TestDrillFailback: the whole way out and back on the quick example
// under a write-heavy load: the primary region is isolated, DNS fails
// over, the drill promotes the replica, the region recovers and its
// nodes rejoin as replicas, and a switchover brings the primary home.
// The way back loses nothing, and the stack ends as it started: primary
// home with its synchronous standby, DNS on the primary region.
func TestDrillFailback(t *testing.T) {
	testenv.RequireNetAdmin(t)
	e := newEnv(t, "quick")
	e.must("up", "-d")
	rep, code := e.runDrill("failback", "--write-ratio", "0.8")
	t.Cleanup(func() { e.logDrillEvents(rep) })
	fb := rep.Failback
	if fb == nil {
		t.Fatalf("drill exit %d: the report has no failback section", code)
	}
	t.Logf("failback: exit %d passed %v; out %s -> %s RTO %.2f s, %d lost, %d taken back by pg_rewind; rejoined %v s; back: downtime %v s, clients %v s, %d lost; end matches %v %v %s",
		code, rep.Passed, fb.Home, fb.Away, fb.FailoverRTOSeconds, fb.FailoverWritesLost, fb.DiscardedTransactions, deref(fb.RejoinSeconds),
		deref(fb.FailbackDowntimeSeconds), deref(fb.FailbackRTOSeconds), fb.FailbackWritesLost, fb.EndMatchesStart, fb.Differences, fb.Error)
	if fb.Home != "us-east-1" || fb.Away != "us-west-2" || fb.Error != "" {
		t.Fatalf("failback from %q to %q: %s", fb.Away, fb.Home, fb.Error)
	}
	if code != 0 || !rep.Passed {
		t.Errorf("drill exit %d passed %v, checks %+v", code, rep.Passed, rep.Checks)
	}
	if fb.FailbackWritesLost != 0 {
		t.Errorf("%d acknowledged writes lost on the way back, a planned switchover", fb.FailbackWritesLost)
	}
	if fb.FailoverWritesLost+fb.FailbackWritesLost != rep.WritesLost {
		t.Errorf("the ways lost %d + %d writes, the drill %d", fb.FailoverWritesLost, fb.FailbackWritesLost, rep.WritesLost)
	}
	// A loose bound, for a loaded machine: the switchover's downtime is
	// well under a second when quiet (BENCHMARKS.md).
	if fb.FailbackDowntimeSeconds == nil || *fb.FailbackDowntimeSeconds > 5 {
		t.Errorf("switchover write downtime %v s", deref(fb.FailbackDowntimeSeconds))
	}
	if !fb.EndMatchesStart {
		t.Errorf("the stack ended unlike it started: %v", fb.Differences)
	}
	st := e.status()
	if p := primaryNode(t, st); p.Name != "db-us-east-1a" || !st.Database.SyncStandby {
		t.Errorf("at the end the primary is %s, sync standby %v; want db-us-east-1a with one", p.Name, st.Database.SyncStandby)
	}
	e.must("down", "--purge")
}
