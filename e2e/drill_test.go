package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/drill"
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

// TestDrillRegionFailure: the measurements agree with the configuration —
// the DNS switch within [interval x (threshold-1), interval x threshold + 1s]
// and the RTO within the DNS switch plus the TTL plus 1s.
func TestDrillRegionFailure(t *testing.T) {
	e := newEnv(t, "quick")
	e.must("up", "-d")
	report := filepath.Join(filepath.Dir(e.file), "region-failure.html")
	rep, code := e.runDrill("region-failure", "--report", report)
	const interval, threshold, ttl = 500 * time.Millisecond, 3, time.Second
	if code != 0 || !rep.Passed || !rep.Recovered {
		t.Fatalf("drill exit %d passed=%v recovered=%v", code, rep.Passed, rep.Recovered)
	}
	if rep.DNSSwitchSeconds == nil {
		t.Fatal("no DNS switch measured")
	}
	sw := time.Duration(*rep.DNSSwitchSeconds * float64(time.Second))
	lo, hi := time.Duration(threshold-1)*interval, time.Duration(threshold)*interval+time.Second
	t.Logf("DNS switch %.2fs (bounds %.2f..%.2fs), RTO %.2fs, errors %d of %d, writes %d acked %d lost",
		sw.Seconds(), lo.Seconds(), hi.Seconds(), rep.RTOSeconds, rep.Errors, rep.Requests, rep.WritesAcked, rep.WritesLost)
	if sw < lo || sw > hi {
		t.Errorf("DNS switch %s outside [%s, %s]", sw, lo, hi)
	}
	if rto := time.Duration(rep.RTOSeconds * float64(time.Second)); rto > sw+ttl+time.Second {
		t.Errorf("RTO %s exceeds DNS switch %s + TTL %s + 1s", rto, sw, ttl)
	}
	if rep.DNSSwitchedTo != "us-west-2" || rep.WritesAcked == 0 || rep.WritesLost != 0 {
		t.Errorf("switched to %q, writes acked %d lost %d", rep.DNSSwitchedTo, rep.WritesAcked, rep.WritesLost)
	}
	if rep.Restored == nil || !*rep.Restored {
		t.Error("the stack was not restored after the drill")
	}
	page, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"region-failure", "fault: region us-east-1", "DNS switch", "<svg"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	e.must("down", "--purge")
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
