package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hastack/hastack/internal/drill"
	"github.com/hastack/hastack/internal/stack"
	"github.com/hastack/hastack/internal/testenv"
)

// runDrill runs `hastack drill NAME --json` and decodes its report.
func (e *env) runDrill(name string, extra ...string) (drill.Report, int) {
	e.t.Helper()
	out, stderr, code := e.hastack(append([]string{"drill", name, "--json"}, extra...)...)
	var rep drill.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		e.t.Fatalf("drill %s --json: exit %d, not JSON (%v)\nstdout:\n%s\nstderr:\n%s", name, code, err, out, stderr)
	}
	return rep, code
}

// TestDrillRegionFailure: the primary region cut off (isolate, the
// default) under write load, regions 64 ms apart. The measurements agree
// with the configuration — the DNS switch within [interval x
// (threshold-1), interval x threshold + 1s] and the RTO within 1s of the
// later of the DNS switch plus the TTL and the promotion — and with the
// distance: a write through
// the secondary region's writer endpoint takes a round trip to the
// primary, the replica trails by tens of milliseconds at the fault, and
// what is lost is what that lag puts at risk.
func TestDrillRegionFailure(t *testing.T) {
	testenv.RequireNetAdmin(t)
	e := newEnv(t, "quick")
	e.must("up", "-d")
	if rtt := e.status().Network.InterRegion; len(rtt) != 1 || rtt[0].RTTSeconds < 0.06 {
		t.Fatalf("inter-region distance %+v, want the default us-east-1 <-> us-west-2 round trip", rtt)
	}
	far := e.writeRoundTrip("us-west-2")
	near := e.writeRoundTrip("us-east-1")
	t.Logf("a write through the writer endpoint of us-west-2 takes %s, of us-east-1 %s", far, near)
	if far < 60*time.Millisecond {
		t.Errorf("a write through us-west-2's writer endpoint took %s: less than one round trip to the primary in us-east-1", far)
	}
	if near >= 60*time.Millisecond {
		t.Errorf("a write through us-east-1's writer endpoint took %s: as if across regions", near)
	}

	report := filepath.Join(filepath.Dir(e.file), "region-failure.html")
	// Writes every ~12 ms: always a few commits on their way to the
	// replica, so its lag shows the distance, not the gaps between writes.
	rep, code := e.runDrill("region-failure", "--report", report, "--rate", "100", "--write-ratio", "0.8")
	const interval, threshold, ttl = 500 * time.Millisecond, 3, time.Second
	if code != 0 || !rep.Passed || !rep.Recovered {
		t.Fatalf("drill exit %d passed=%v recovered=%v", code, rep.Passed, rep.Recovered)
	}
	if rep.Fault != "region us-east-1 --mode isolate" {
		t.Errorf("fault %q, want the region isolated", rep.Fault)
	}
	if rep.DNSSwitchSeconds == nil {
		t.Fatal("no DNS switch measured")
	}
	sw := time.Duration(*rep.DNSSwitchSeconds * float64(time.Second))
	lo, hi := time.Duration(threshold-1)*interval, time.Duration(threshold)*interval+time.Second
	t.Logf("DNS switch %.2fs (bounds %.2f..%.2fs), promotion %v s, RTO %.2fs, errors %d of %d, writes %d acked %d lost, RPO %.3fs, %s lag at fault %.3fs (%d bytes)",
		sw.Seconds(), lo.Seconds(), hi.Seconds(), deref(rep.PromotionSeconds), rep.RTOSeconds, rep.Errors, rep.Requests, rep.WritesAcked, rep.WritesLost, rep.RPOSeconds,
		rep.LagAtFaultNode, rep.LagAtFaultSeconds, rep.LagAtFaultBytes)
	if sw < lo || sw > hi {
		t.Errorf("DNS switch %s outside [%s, %s]", sw, lo, hi)
	}
	// Clients are served again once their cached answer has expired after
	// the switch and, for the writes, once the replica is promoted.
	ready := sw + ttl
	if rep.PromotionSeconds != nil {
		ready = max(ready, time.Duration(*rep.PromotionSeconds*float64(time.Second)))
	}
	if rto := time.Duration(rep.RTOSeconds * float64(time.Second)); rto > ready+time.Second {
		t.Errorf("RTO %s exceeds the later of DNS switch %s + TTL %s and the promotion at %v s, + 1s", rto, sw, ttl, deref(rep.PromotionSeconds))
	}
	if rep.DNSSwitchedTo != "us-west-2" || rep.WritesAcked == 0 {
		t.Errorf("switched to %q, writes acked %d", rep.DNSSwitchedTo, rep.WritesAcked)
	}
	// 32 ms each way: the replica trails by tens of milliseconds, not 0.
	// The one sample at the fault may find it caught up between two
	// writes, so the samples before the fault are asked too.
	before, sampled := drill.MaxLag(rep.Lag, "db-us-west-2a", time.Time{}, rep.FaultAt)
	if rep.LagAtFaultNode != "db-us-west-2a" || rep.LagAtFaultSeconds > 0.3 || !sampled || before.Seconds < 0.02 || before.Seconds > 1 {
		t.Errorf("lag at fault %s %.3f s %d bytes, at most %.3f s before it; want db-us-west-2a tens of milliseconds behind",
			rep.LagAtFaultNode, rep.LagAtFaultSeconds, rep.LagAtFaultBytes, before.Seconds)
	}
	checkRPO(t, rep, 0.3)
	// The quick example promotes by hand: the drill does it after the switch.
	if rep.PromotionSeconds == nil || *rep.PromotionSeconds < *rep.DNSSwitchSeconds {
		t.Errorf("promotion at %v s, want after the DNS switch at %.2fs", deref(rep.PromotionSeconds), *rep.DNSSwitchSeconds)
	}
	if rep.Restored == nil || !*rep.Restored {
		t.Errorf("the stack was not restored after the drill: %s%s", rep.NotRestored, rep.RecoverError)
	}
	page, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"region-failure", "fault: region us-east-1", "DNS switch", "Lag at fault", "<svg"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	e.must("down", "--purge")
}

// checkRPO: the drill's verdict on its writes is the ledger's rule (a
// lost write always costs RPO, none lost is RPO 0), and the RPO is what
// the replica's lag at the fault put at risk, within tolerance seconds.
func checkRPO(t *testing.T, rep drill.Report, tolerance float64) {
	t.Helper()
	if (rep.WritesLost > 0) != (rep.RPOSeconds > 0) {
		t.Errorf("%d writes lost with RPO %.3f s", rep.WritesLost, rep.RPOSeconds)
	}
	if d := math.Abs(rep.RPOSeconds - rep.LagAtFaultSeconds); d > tolerance {
		t.Errorf("RPO %.3f s and lag at fault %.3f s differ by %.3f s, more than %.1f s", rep.RPOSeconds, rep.LagAtFaultSeconds, d, tolerance)
	}
	if !strings.Contains(rep.Loss(), fmt.Sprintf("%d acknowledged write", rep.WritesLost)) {
		t.Errorf("the report's loss sentence %q does not state the %d lost writes", rep.Loss(), rep.WritesLost)
	}
}

// writeRoundTrip is the shortest of five one-row writes through region's
// writer endpoint, on one connection from the operator's address.
func (e *env) writeRoundTrip(region string) time.Duration {
	e.t.Helper()
	url := strings.TrimSpace(e.must("db-url", "--region", region, "--password"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		e.t.Fatalf("connecting to the writer endpoint of %s: %v", region, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS distance (region text, at timestamptz DEFAULT now())"); err != nil {
		e.t.Fatalf("writing through %s: %v", region, err)
	}
	best := time.Hour
	for range 5 {
		start := time.Now()
		if _, err := conn.Exec(ctx, "INSERT INTO distance (region) VALUES ($1)", region); err != nil {
			e.t.Fatalf("writing through %s: %v", region, err)
		}
		best = min(best, time.Since(start))
	}
	return best
}

// TestDrillObjectiveMissed: an objective the stack cannot meet fails the
// drill with exit code 1, so drills can gate CI.
func TestDrillObjectiveMissed(t *testing.T) {
	e := newEnv(t, "quick")
	src, err := os.ReadFile(e.file)
	if err != nil {
		t.Fatal(err)
	}
	// No region failover can be this fast: the health checks alone take 1s.
	src = append(src, []byte("\nobjectives {\n  rto = \"100ms\"\n}\n")...)
	if err := os.WriteFile(e.file, src, 0o644); err != nil {
		t.Fatal(err)
	}
	e.must("up", "-d")
	rep, code := e.runDrill("region-failure")
	if code != 1 || rep.Passed {
		t.Fatalf("drill with an unmeetable RTO: exit %d passed %v, want exit 1 and not passed", code, rep.Passed)
	}
	if len(rep.Objectives) != 1 || rep.Objectives[0].Met {
		t.Fatalf("objectives = %+v", rep.Objectives)
	}
	e.must("down", "--purge")
}

// TestDrillDBFailover: killing the database primary under load loses no
// acknowledged write, and the standby's promotion is timed.
func TestDrillDBFailover(t *testing.T) {
	e := newEnv(t, "quick")
	e.must("up", "-d")
	rep, code := e.runDrill("db-failover")
	t.Logf("db-failover: RTO %.2fs, promotion %v s, errors %d of %d, writes %d acked %d lost",
		rep.RTOSeconds, deref(rep.PromotionSeconds), rep.Errors, rep.Requests, rep.WritesAcked, rep.WritesLost)
	if code != 0 || !rep.Passed {
		t.Fatalf("drill exit %d passed %v", code, rep.Passed)
	}
	if rep.WritesAcked == 0 || rep.WritesLost != 0 {
		t.Errorf("writes acked %d lost %d, want some acked and none lost", rep.WritesAcked, rep.WritesLost)
	}
	// Detection (1s) + 3s, the bound for writes to resume.
	if rep.PromotionSeconds == nil || *rep.PromotionSeconds > 4 || rep.RTOSeconds > 4 {
		t.Errorf("promotion %v s, RTO %.2fs; want both within detection + 3s", deref(rep.PromotionSeconds), rep.RTOSeconds)
	}
	e.must("down", "--purge")
}

// TestDrillInstanceFailure: with retry_on_connect_failure (on in the quick
// example) losing a serving instance costs no client errors, and the
// group is back at desired capacity.
func TestDrillInstanceFailure(t *testing.T) {
	e := newEnv(t, "quick")
	e.must("up", "-d")
	rep, code := e.runDrill("instance-failure")
	t.Logf("instance-failure: %d requests, %d errors", rep.Requests, rep.Errors)
	if code != 0 || !rep.Passed || rep.Errors != 0 {
		t.Fatalf("drill exit %d passed %v errors %d (%v), want no error", code, rep.Passed, rep.Errors, rep.ErrorsByKind)
	}
	// Grace period (3s) + the replacement's launch: a deadline, not a
	// measurement, generous for a loaded machine.
	waitFor(t, "the group back at desired capacity", 30*time.Second, func() bool {
		r := e.status().Regions[0]
		return r.AutoScaling != nil && r.AutoScaling.InService == r.AutoScaling.Desired && r.LoadBalancer.HealthyTargets == r.AutoScaling.Desired
	})
	e.must("down", "--purge")
}

// TestDrillAZFailure: losing the AZ of the database primary and of half
// the instances: the standby takes over, the group relaunches elsewhere,
// nothing acknowledged is lost, and recovery rebalances.
func TestDrillAZFailure(t *testing.T) {
	e := newEnv(t, "quick")
	e.must("up", "-d")
	rep, code := e.runDrill("az-failure")
	t.Logf("az-failure: RTO %.2fs, promotion %v s, errors %d of %d, writes %d acked %d lost",
		rep.RTOSeconds, deref(rep.PromotionSeconds), rep.Errors, rep.Requests, rep.WritesAcked, rep.WritesLost)
	if code != 0 || !rep.Passed || rep.WritesLost != 0 || rep.PromotionSeconds == nil {
		t.Fatalf("drill exit %d passed %v lost %d promotion %v", code, rep.Passed, rep.WritesLost, rep.PromotionSeconds)
	}
	if rep.Restored == nil || !*rep.Restored {
		t.Fatalf("the stack was not restored after the AZ came back: %s%s", rep.NotRestored, rep.RecoverError)
	}
	// After recovery the group spreads over both AZs again.
	waitFor(t, "instances in both AZs again", time.Minute, func() bool {
		azs := map[string]bool{}
		for _, in := range e.status().Regions[0].Instances {
			if in.State == "in-service" {
				azs[in.AZ] = true
			}
		}
		return len(azs) == 2
	})
	e.must("down", "--purge")
}

// TestDrillRegionFailureAutomatic: with cross_region_failover =
// "automatic", hastack promotes the replica itself once DNS has failed
// over and the primary stays unreachable for region_failover_after.
func TestDrillRegionFailureAutomatic(t *testing.T) {
	e := newAutomaticEnv(t)
	e.must("up", "-d")
	// Writes every ~12 ms, so the RPO is measured to a few hundredths.
	rep, code := e.runDrill("region-failure-automatic", "--rate", "100", "--write-ratio", "0.8")
	t.Logf("region-failure-automatic: %s; DNS switch %v s, promotion %v s, RTO %.2fs, writes %d acked",
		rep.Loss(), deref(rep.DNSSwitchSeconds), deref(rep.PromotionSeconds), rep.RTOSeconds, rep.WritesAcked)
	if code != 0 || !rep.Passed || rep.PromotionSeconds == nil {
		t.Fatalf("drill exit %d passed %v promotion %v", code, rep.Passed, rep.PromotionSeconds)
	}
	// What is lost is the replica's lag when the region was cut off, no
	// more: the writes the new primary acknowledged survive the old
	// region's return.
	checkRPO(t, rep, 0.3)
	// The promotion waits for DNS to fail over and region_failover_after (3s).
	if *rep.PromotionSeconds < 3 {
		t.Errorf("promoted %.2fs after the fault, before region_failover_after (3s)", *rep.PromotionSeconds)
	}
	// The old primary came back fenced, as a follower: a write straight to
	// it fails.
	var old stack.NodeStatus
	for _, n := range e.status().Database.Nodes {
		if n.Name == "db-us-east-1a" {
			old = n
		}
	}
	if old.Role == "primary" {
		t.Fatalf("old primary after recovery: %+v", old)
	}
	// It rejoins (pg_rewind) once the region is back: a loaded machine
	// may still be at it when the drill ends.
	waitFor(t, "the old primary streaming as a follower", time.Minute, func() bool {
		for _, n := range e.status().Database.Nodes {
			if n.Name == old.Name {
				return n.Running && (n.ReplicationState == "sync" || n.ReplicationState == "async")
			}
		}
		return false
	})
	u, err := url.Parse(strings.TrimSpace(e.must("db-url", "--password")))
	if err != nil {
		t.Fatal(err)
	}
	u.Host = old.Address
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("connecting to the old primary: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE fenced_write (id int)"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("a write on the fenced old primary: %v, want a read-only error", err)
	}
	e.must("down", "--purge")
}

func deref(f *float64) any {
	if f == nil {
		return "none"
	}
	return *f
}
