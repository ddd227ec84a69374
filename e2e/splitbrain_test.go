package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/hastack/hastack/internal/drill"
	"github.com/hastack/hastack/internal/stack"
	"github.com/hastack/hastack/internal/testenv"
)

// newFencedEnv is the quick example with the database's fencing and
// cross_region_commit set.
func newFencedEnv(t *testing.T, fencing, commit string) *env {
	t.Helper()
	e := newEnv(t, "quick")
	src, err := os.ReadFile(e.file)
	if err != nil {
		t.Fatal(err)
	}
	const manual = `cross_region_failover = "manual"`
	text := strings.Replace(string(src), manual, manual+"\n  fencing = \""+fencing+"\"\n  cross_region_commit = \""+commit+"\"", 1)
	if text == string(src) {
		t.Fatalf("examples/quick has no %s to add fencing after", manual)
	}
	if err := os.WriteFile(e.file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// splitBrain runs the split-brain drill under a write-heavy load (a
// write every ~30 ms, so the overlap of two writers is measured to a few
// hundredths, at a rate this shared 2-core machine keeps up with) and
// checks what holds whatever the fencing: the primary region was cut off
// from dns, the other region and the witness, DNS failed over, the drill
// promoted the replica in us-west-2 after the switch, and every measure
// of two writers is in the report.
func splitBrain(t *testing.T, e *env) (drill.Report, int) {
	t.Helper()
	e.must("up", "-d")
	rep, code := e.runDrill("split-brain", "--write-ratio", "0.8")
	// A test stopped short leaves the stack up for its events.
	t.Cleanup(func() { e.logDrillEvents(rep) })
	sb := rep.SplitBrain
	if sb == nil || rep.DivergentWrites == nil || rep.WritersOverlapSeconds == nil {
		t.Fatalf("drill exit %d: the report lacks the split-brain measures (divergent %v, overlap %v, %+v)", code, rep.DivergentWrites, rep.WritersOverlapSeconds, sb)
	}
	t.Logf("split-brain, fencing %s: exit %d passed %v; DNS switch %v s, %s promoted %v s, lease lost %v s; RTO %.2f s; divergent %d (%d missing) over %.2f s; writes %d acked %d lost (%d before the promotion, the last %v s after the cut), %d refused; RPO %.2f s; requests %d kept-connection, %d fresh; restored %v",
		sb.Fencing, code, rep.Passed, deref(rep.DNSSwitchSeconds), sb.NewPrimary, deref(sb.PromotedSeconds), deref(sb.LeaseLostSeconds), rep.RTOSeconds,
		*rep.DivergentWrites, sb.DivergentLost, *rep.WritersOverlapSeconds, rep.WritesAcked, rep.WritesLost, sb.LostBeforePromotion, deref(sb.LastLostSeconds),
		sb.WritesRefused, rep.RPOSeconds, sb.KeptRequests, sb.FreshRequests, rep.Restored != nil && *rep.Restored)
	t.Logf("%s", rep.Damage())
	if want := "partition us-east-1 dns; partition us-east-1 us-west-2; partition us-east-1 witness"; rep.Fault != want {
		t.Errorf("fault %q, want %q", rep.Fault, want)
	}
	if rep.DNSSwitchSeconds == nil || rep.DNSSwitchedTo != "us-west-2" {
		t.Errorf("DNS switch %v s to %q, want us-west-2", deref(rep.DNSSwitchSeconds), rep.DNSSwitchedTo)
	}
	// The old primary is us-east-1's: db-us-east-1a, or its standby
	// after a Multi-AZ failover that this loaded machine may cause.
	if sb.PromotedSeconds == nil || rep.DNSSwitchSeconds == nil || *sb.PromotedSeconds < *rep.DNSSwitchSeconds || sb.NewPrimary != "db-us-west-2a" || !strings.HasPrefix(sb.OldPrimary, "db-us-east-1") {
		t.Errorf("promotion of %q in place of %q at %v s, want db-us-west-2a after the DNS switch", sb.NewPrimary, sb.OldPrimary, deref(sb.PromotedSeconds))
	}
	// Both kinds of client ran: those that follow DNS (their RTO) and
	// those whose kept-alive connections still reach us-east-1.
	if sb.KeptRequests == 0 || sb.FreshRequests == 0 || rep.WritesAcked == 0 {
		t.Errorf("%d kept-connection and %d fresh requests, %d writes acked", sb.KeptRequests, sb.FreshRequests, rep.WritesAcked)
	}
	// Whatever the old primary took and never replicated is lost, and
	// the ledger's count covers the divergent writes and the others.
	if rep.WritesLost != sb.DivergentLost+sb.LostBeforePromotion {
		t.Errorf("%d writes lost, but %d divergent missing and %d lost before the promotion", rep.WritesLost, sb.DivergentLost, sb.LostBeforePromotion)
	}
	// Once healed, the old primary is a follower of the new one.
	if n := e.node(sb.OldPrimary); n.Role == "primary" {
		t.Errorf("the old primary after the drill: %+v", n)
	}
	return rep, code
}

// TestDrillSplitBrainLease: with fencing = "lease", us-east-1 stops
// writes on its own once its lease runs out and the replica is promoted
// only after that: no write is acknowledged by two primaries. With
// cross_region_commit = "sync" every commit also waited for the replica,
// so nothing acknowledged is lost either: 0 divergent, 0 lost. (Without
// it, what the old primary acknowledged before its lease ran out is lost,
// bounded by the lease: TestLeaseFencing/async in internal/rds.)
func TestDrillSplitBrainLease(t *testing.T) {
	testenv.RequireNetAdmin(t)
	e := newFencedEnv(t, "lease", "sync")
	rep, code := splitBrain(t, e)
	checksHeld(t, rep, "the replica was promoted", "no second writer", "the cut-off region stopped writes on its own", "writes lost only within the lease")
	if code != 0 || !rep.Passed || !rep.Recovered {
		t.Fatalf("drill exit %d passed %v recovered %v", code, rep.Passed, rep.Recovered)
	}
	sb := rep.SplitBrain
	if *rep.DivergentWrites != 0 || *rep.WritersOverlapSeconds != 0 || sb.Fencing != "lease" || sb.LeaseSeconds != 3 {
		t.Errorf("divergent %d overlap %.2f s fencing %q lease %g s, want 0, 0, lease 3 s", *rep.DivergentWrites, *rep.WritersOverlapSeconds, sb.Fencing, sb.LeaseSeconds)
	}
	// The lease ran out after the cut (not before: it was renewed every
	// second) and before the promotion, which waited it out.
	if sb.LeaseLostSeconds == nil || *sb.LeaseLostSeconds < 1 || *sb.LeaseLostSeconds > sb.LeaseSeconds || *sb.LeaseLostSeconds > *sb.PromotedSeconds {
		t.Errorf("us-east-1 lost its lease %v s after the cut, want within the 3 s lease and before the promotion at %v s", deref(sb.LeaseLostSeconds), deref(sb.PromotedSeconds))
	}
	damage := rep.Damage()
	if !strings.Contains(damage, "The write lease kept a second writer out") {
		t.Errorf("the report does not say the lease kept a second writer out: %q", damage)
	}
	// Every commit waited for the replica in us-west-2: what us-east-1
	// acknowledged, the promoted replica had.
	if rep.WritesLost != 0 || sb.CrossRegionCommit != "sync" || !strings.Contains(damage, "nothing acknowledged was lost") {
		t.Errorf("%d writes lost (cross_region_commit %q), want 0 and the report saying so: %q", rep.WritesLost, sb.CrossRegionCommit, damage)
	}
	e.logDrillEvents(rep)
	e.must("down", "--purge")
}

// TestDrillSplitBrainNoFencing: with fencing = "none", as on AWS,
// nothing stops the cut-off old primary: the clients still reaching
// us-east-1 have their writes acknowledged there after the replica's
// promotion, and pg_rewind discards them when it rejoins. The drill
// fails on the second writer and explains the damage.
func TestDrillSplitBrainNoFencing(t *testing.T) {
	testenv.RequireNetAdmin(t)
	e := newFencedEnv(t, "none", "async")
	rep, code := splitBrain(t, e)
	sb := rep.SplitBrain
	if code != 1 || rep.Passed {
		t.Errorf("drill exit %d passed %v, want exit 1: two primaries acknowledged writes", code, rep.Passed)
	}
	for _, c := range rep.Checks {
		if c.Name == "no second writer" && c.Passed || c.Name == "the replica was promoted" && !c.Passed {
			t.Errorf("check %q held=%v: %s", c.Name, c.Passed, c.Detail)
		}
	}
	if *rep.DivergentWrites == 0 || *rep.WritersOverlapSeconds <= 0 || sb.Fencing != "none" || sb.LeaseLostSeconds != nil {
		t.Fatalf("divergent %d overlap %.2f s fencing %q lease lost %v, want writes by two primaries", *rep.DivergentWrites, *rep.WritersOverlapSeconds, sb.Fencing, deref(sb.LeaseLostSeconds))
	}
	// pg_rewind threw every one of them away.
	if sb.DivergentLost != *rep.DivergentWrites || rep.WritesLost < *rep.DivergentWrites {
		t.Errorf("%d divergent writes, %d of them missing, %d writes lost", *rep.DivergentWrites, sb.DivergentLost, rep.WritesLost)
	}
	damage := rep.Damage()
	for _, want := range []string{
		"Split brain: ",
		`With fencing = "none", as on AWS, promoting a cross-region replica leaves its source running`,
		"discards what " + sb.OldPrimary + " wrote since the promotion",
	} {
		if !strings.Contains(damage, want) {
			t.Errorf("the report's explanation lacks %q: %q", want, damage)
		}
	}
	var text strings.Builder
	rep.WriteText(&text)
	for _, want := range []string{"divergent writes", "writers overlap", "Split brain: "} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the text report lacks %q:\n%s", want, text.String())
		}
	}
	e.logDrillEvents(rep)
	e.must("down", "--purge")
}

// logDrillEvents logs, once the test has failed and while the stack
// runs, its database, DNS and fault events from the drill's start, each
// with its time since the fault.
func (e *env) logDrillEvents(rep drill.Report) {
	e.t.Helper()
	if !e.t.Failed() {
		return
	}
	out, _, code := e.hastack("events", "--json")
	if code != 0 {
		return
	}
	var b strings.Builder
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var ev stack.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Time.Before(rep.StartedAt) {
			continue
		}
		if strings.HasPrefix(ev.Kind, "db_") || strings.HasPrefix(ev.Kind, "fault.") || ev.Kind == "dns.failover" || ev.Kind == "error" {
			fmt.Fprintf(&b, "%+7.2f s %s: %s\n", ev.Time.Sub(rep.FaultAt).Seconds(), ev.Kind, ev.Message)
		}
	}
	e.t.Logf("events of the drill:\n%s", b.String())
}
