package drill

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/stack"
)

// syntheticReport is a region failover as a drill would record it: served
// by us-east-1, a second of errors, then served by us-west-2.
func syntheticReport() *Report {
	var samples []Sample
	for i := range 200 {
		s := Sample{Start: t0.Add(time.Duration(i) * 50 * time.Millisecond), Latency: 2 * time.Millisecond, OK: true, Region: "us-east-1"}
		switch {
		case i >= 60 && i < 90:
			s.OK, s.Region, s.Err = false, "", "connection refused"
		case i >= 90:
			s.Region = "us-west-2"
		}
		samples = append(samples, s)
	}
	fault := t0.Add(3 * time.Second)
	r := &Report{Scenario: "region-failure", Description: "test", Fault: "region us-east-1", StartedAt: t0, FaultAt: fault, EndedAt: t0.Add(10 * time.Second)}
	answers := []Answer{{t0, netip.MustParseAddr("127.1.1.10")}, {fault.Add(1400 * time.Millisecond), netip.MustParseAddr("127.2.1.10")}}
	events := []stack.Event{{Time: fault.Add(1400 * time.Millisecond), Kind: "dns.health", Message: "us-east-1 health check unhealthy"}}
	regions := map[netip.Addr]string{netip.MustParseAddr("127.1.1.10"): "us-east-1", netip.MustParseAddr("127.2.1.10"): "us-west-2"}
	r.fill(samples, answers, events, nil, regions, Options{Sustain: time.Second})
	return r
}

func TestReportMeasurements(t *testing.T) {
	r := syntheticReport()
	if !r.Recovered || r.RTOSeconds != 1.5 || r.Errors != 30 || r.DNSSwitchSeconds == nil || *r.DNSSwitchSeconds != 1.4 || r.DNSSwitchedTo != "us-west-2" {
		t.Fatalf("report = recovered %v rto %v errors %d dns %v %q", r.Recovered, r.RTOSeconds, r.Errors, r.DNSSwitchSeconds, r.DNSSwitchedTo)
	}
	var text bytes.Buffer
	r.WriteText(&text)
	for _, want := range []string{"drill region-failure: PASSED", "recovery time (RTO)  1.50 s", "connection refused: 30", "us-west-2", "F fault"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
}

// TestHTMLReportRendersInChromium renders the report in headless Chromium
// and checks the rendered page shows the timeline with the fault and the
// DNS switch.
func TestHTMLReportRendersInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("HASTACK_REQUIRE_CHROMIUM") == "1" {
			t.Fatal("chromium is required (apt-get install -y chromium)")
		}
		t.Skip("chromium not installed")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var html bytes.Buffer
	if err := syntheticReport().WriteHTML(&html); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, html.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	shot := filepath.Join(dir, "report.png")
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--window-size=1100,1000", "--screenshot="+shot, "--dump-dom", "file://"+page)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	dom := stdout.String()
	for _, want := range []string{"<svg", ">fault<", ">DNS switch<", "served by us-west-2", "DNS answers us-west-2"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	if strings.Contains(stderr.String(), "Uncaught") || strings.Contains(stderr.String(), "SyntaxError") {
		t.Errorf("page errors:\n%s", stderr.String())
	}
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10_000 {
		t.Fatalf("no usable screenshot: %v", err)
	}
}
