package e2e

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hastack/hastack/internal/drill"
	"github.com/hastack/hastack/internal/stack"
	"github.com/hastack/hastack/internal/testenv"
)

// checksHeld fails the test for each of the report's checks that did not
// hold, and unless every one of want is among them.
func checksHeld(t *testing.T, rep drill.Report, want ...string) {
	t.Helper()
	var names []string
	for _, c := range rep.Checks {
		names = append(names, c.Name)
		t.Logf("check %q held=%v: %s", c.Name, c.Passed, c.Detail)
		if !c.Passed {
			t.Errorf("expected %s; seen: %s", c.Name, c.Detail)
		}
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("the report has no check %q (it has %q)", w, names)
		}
	}
}

// nodeIdentity reads a database node's system identifier and server start
// straight from it, as the operator.
func (e *env) nodeIdentity(node stack.NodeStatus) (string, time.Time) {
	e.t.Helper()
	u, err := url.Parse(strings.TrimSpace(e.must("db-url", "--password")))
	if err != nil {
		e.t.Fatal(err)
	}
	u.Host = node.Address
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		e.t.Fatalf("connecting to %s: %v", node.Name, err)
	}
	defer conn.Close(ctx)
	var id string
	var started time.Time
	if err := conn.QueryRow(ctx, "SELECT system_identifier::text, pg_postmaster_start_time() FROM pg_control_system()").Scan(&id, &started); err != nil {
		e.t.Fatalf("reading the identity of %s: %v", node.Name, err)
	}
	return id, started
}

func (e *env) node(name string) stack.NodeStatus {
	e.t.Helper()
	for _, n := range e.status().Database.Nodes {
		if n.Name == name {
			return n
		}
	}
	e.t.Fatalf("no database node %s", name)
	return stack.NodeStatus{}
}

// eventKinds counts the events of the stack's log by kind.
func (e *env) eventKinds() map[string]int {
	e.t.Helper()
	kinds := map[string]int{}
	for line := range strings.SplitSeq(strings.TrimSpace(e.must("events", "--json")), "\n") {
		var ev stack.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			e.t.Fatalf("events --json: %v in %q", err, line)
		}
		kinds[ev.Kind]++
	}
	return kinds
}

// TestDrillReplicationPartition: the link between us-east-1 and us-west-2
// is cut for 5 s under write load. The replica falls behind for about as
// long and the report shows it; nothing fails over; once the link is back
// the replica streams again within 10 s on the data it kept (same system
// identifier, same server, no rebuild) and holds every acknowledged
// write; none is lost.
func TestDrillReplicationPartition(t *testing.T) {
	testenv.RequireNetAdmin(t)
	e := newEnv(t, "quick")
	e.must("up", "-d")
	replica := e.node("db-us-west-2a")
	idBefore, startedBefore := e.nodeIdentity(replica)
	rebuildsBefore := e.eventKinds()

	rep, code := e.runDrill("replication-partition", "--duration", "5s")
	t.Logf("replication-partition: max lag %v s (%d bytes), caught up %v s after the heal, DNS switch %v, promotion %v, writes %d acked %d lost",
		deref(rep.MaxLagSeconds), rep.MaxLagBytes, deref(rep.CatchUpSeconds), deref(rep.DNSSwitchSeconds), deref(rep.PromotionSeconds), rep.WritesAcked, rep.WritesLost)
	checksHeld(t, rep, "no DNS failover", "no promotion", "the replica fell behind during the cut", "caught up within 10 s of the heal",
		"no rebuild", "data directory kept", "every acknowledged write on the replica", "no acknowledged write lost")
	if code != 0 || !rep.Passed {
		logLagAround(t, rep, rep.RecoverAt)
		t.Fatalf("drill exit %d passed %v", code, rep.Passed)
	}
	if rep.Fault != "partition us-east-1 us-west-2" || rep.LagNode != "db-us-west-2a" || len(rep.Lag) == 0 {
		t.Errorf("fault %q, lag of %q (%d samples)", rep.Fault, rep.LagNode, len(rep.Lag))
	}
	// The lag grows with the cut: at least half of its 5 s.
	if rep.MaxLagSeconds == nil || *rep.MaxLagSeconds < 2.5 || rep.MaxLagBytes == 0 {
		t.Errorf("max lag during the cut %v s, %d bytes; want the replica seconds behind", deref(rep.MaxLagSeconds), rep.MaxLagBytes)
	}
	if rep.DNSSwitchSeconds != nil || rep.PromotionSeconds != nil || rep.WritesAcked == 0 || rep.WritesLost != 0 {
		t.Errorf("DNS switch %v, promotion %v, writes %d acked %d lost; want no failover and none lost",
			deref(rep.DNSSwitchSeconds), deref(rep.PromotionSeconds), rep.WritesAcked, rep.WritesLost)
	}
	if rep.CatchUpSeconds == nil || *rep.CatchUpSeconds > 10 {
		t.Errorf("caught up %v s after the heal, want within 10 s", deref(rep.CatchUpSeconds))
	}
	// The same data directory, checked apart from the drill.
	idAfter, startedAfter := e.nodeIdentity(replica)
	if idAfter != idBefore || !startedAfter.Equal(startedBefore) {
		t.Errorf("replica identity %s started %s before, %s started %s after", idBefore, startedBefore, idAfter, startedAfter)
	}
	after := e.eventKinds()
	for _, kind := range []string{"db_node_rebuilding", "db_node_rebuilt", "db_failover", "db_promoted"} {
		if after[kind] != rebuildsBefore[kind] {
			t.Errorf("%d %s events during the drill", after[kind]-rebuildsBefore[kind], kind)
		}
	}
	if rep.Restored == nil || !*rep.Restored {
		t.Errorf("the stack was not restored after the drill: %s%s", rep.NotRestored, rep.RecoverError)
	}
	e.must("down", "--purge")
}

// TestDrillGrayFailure: us-east-1 is 200 ms away from the internet each
// way and drops 30% of the packets for 4 s. Route53's checkers give a
// connection 250 ms, less than one round trip, so every check fails and
// DNS fails over within interval x threshold plus one check's timeouts;
// the report gives the clients' error rate and latency meanwhile.
func TestDrillGrayFailure(t *testing.T) {
	testenv.RequireNetAdmin(t)
	e := newEnv(t, "quick")
	e.must("up", "-d")
	rep, code := e.runDrill("gray-failure", "--duration", "4s", "--delay", "200ms", "--loss", "30%")
	w := rep.FaultWindow
	if w == nil {
		t.Fatalf("drill exit %d: no fault window in the report", code)
	}
	t.Logf("gray-failure: DNS switch %v s, during the fault %d requests, %.1f%% errors, p50 %.0f ms p99 %.0f ms; until the switch %+v",
		deref(rep.DNSSwitchSeconds), w.Requests, 100*w.ErrorRate, w.Latency.P50*1000, w.Latency.P99*1000, rep.UntilDNSSwitch)
	if code != 0 || !rep.Passed || !rep.Recovered {
		t.Fatalf("drill exit %d passed %v recovered %v", code, rep.Passed, rep.Recovered)
	}
	if rep.Fault != "network us-east-1 --to internet --delay 200ms --loss 30%" {
		t.Errorf("fault %q", rep.Fault)
	}
	const interval, threshold, timeouts = 500 * time.Millisecond, 3, 750 * time.Millisecond
	if rep.DNSSwitchSeconds == nil || rep.DNSSwitchedTo != "us-west-2" || *rep.DNSSwitchSeconds > (threshold*interval+timeouts+time.Second).Seconds() {
		t.Fatalf("DNS switch %v s to %q, want us-west-2 within %s", deref(rep.DNSSwitchSeconds), rep.DNSSwitchedTo, threshold*interval+timeouts+time.Second)
	}
	// Errors depend on how TCP's retransmissions fare against the 2 s
	// client timeout; the rate is reported either way.
	if w.Seconds < 4 || w.Requests == 0 || w.Latency.Requests == 0 || w.ErrorRate != float64(w.Errors)/float64(w.Requests) {
		t.Errorf("fault window %+v: want 4 s of requests, some served, and their error rate", *w)
	}
	// Before the switch (and the clients' 1 s TTL) every request went
	// through the gray region: at least one round trip of 400 ms.
	if u := rep.UntilDNSSwitch; u == nil || u.Requests == 0 {
		t.Errorf("no request measured between the fault and the DNS switch: %+v", u)
	} else if u.Latency.Requests > 0 && u.Latency.P50 < 0.4 {
		t.Errorf("before the switch the median request served took %.0f ms, less than a 400 ms round trip", u.Latency.P50*1000)
	}
	if rep.Restored == nil || !*rep.Restored {
		t.Errorf("the stack was not restored after the drill: %s%s", rep.NotRestored, rep.RecoverError)
	}
	e.must("down", "--purge")
}

// TestDrillAZIsolation: the database primary's AZ is cut off from
// everything else while it keeps running. The synchronous standby in the
// other AZ takes over inside the region, only the other AZ's instances
// serve, no acknowledged write is lost, and once the AZ is back the stack
// is as before (the old primary a standby again).
func TestDrillAZIsolation(t *testing.T) {
	testenv.RequireNetAdmin(t)
	e := newEnv(t, "quick")
	e.must("up", "-d")
	rep, code := e.runDrill("az-isolation")
	t.Logf("az-isolation: RTO %.2fs, promotion %v s, DNS switch %v s, errors %d of %d, served %v, writes %d acked %d lost, restored %v",
		rep.RTOSeconds, deref(rep.PromotionSeconds), deref(rep.DNSSwitchSeconds), rep.Errors, rep.Requests, rep.ServedByAZ, rep.WritesAcked, rep.WritesLost, rep.Restored != nil && *rep.Restored)
	checksHeld(t, rep, "the standby took over", "the other AZ kept serving", "no acknowledged write lost")
	if code != 0 || !rep.Passed {
		t.Fatalf("drill exit %d passed %v", code, rep.Passed)
	}
	want := "partition us-east-1a us-east-1; partition us-east-1a us-west-2; partition us-east-1a internet"
	if rep.Fault != want {
		t.Errorf("fault %q, want %q", rep.Fault, want)
	}
	// Detection (2 s), plus the last probe's wait, which grows up to
	// detection on a loaded machine, plus the promotion: within 7 s.
	if rep.PromotionSeconds == nil || *rep.PromotionSeconds > 7 || rep.WritesAcked == 0 || rep.WritesLost != 0 {
		t.Errorf("promotion %v s, writes %d acked %d lost; want a promotion within 7 s and none lost", deref(rep.PromotionSeconds), rep.WritesAcked, rep.WritesLost)
	}
	if rep.ServedByAZ["us-east-1a"] != 0 || rep.ServedByAZ["us-east-1b"] == 0 {
		t.Errorf("served during the fault %v: want us-east-1b and not us-east-1a", rep.ServedByAZ)
	}
	if rep.Restored == nil || !*rep.Restored {
		t.Errorf("the stack was not restored after the AZ came back: %s%s; %+v", rep.NotRestored, rep.RecoverError, e.status().Database.Nodes)
	}
	e.must("down", "--purge")
}

// logLagAround logs the watched follower's lag samples from 2 s before at
// until the end, to tell a late catch-up's cause (no samples, a stalled
// stream, sparse commits) from the report of a failed run.
func logLagAround(t *testing.T, rep drill.Report, at time.Time) {
	t.Helper()
	for _, l := range rep.Lag {
		if d := l.At.Sub(at); d >= -2*time.Second {
			t.Logf("lag %+.2f s: %d bytes, %.3f s", d.Seconds(), l.Bytes, l.Seconds)
		}
	}
}
