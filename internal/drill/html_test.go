package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/stack"
	"github.com/hastack/hastack/internal/testenv"
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

// unrecoveredReport is an AZ failure the clients never got over: errors
// from the fault to the end, no DNS switch, a database promotion.
func unrecoveredReport() *Report {
	var samples []Sample
	for i := range 120 {
		s := Sample{Start: t0.Add(time.Duration(i) * 100 * time.Millisecond), Latency: 5 * time.Millisecond, OK: true, Region: "eu-west-1"}
		if i >= 40 {
			s.OK, s.Region, s.Err = false, "", "timeout"
		}
		samples = append(samples, s)
	}
	fault := t0.Add(4 * time.Second)
	r := &Report{Scenario: "az-failure", Description: "another test", Fault: "az eu-west-1a", StartedAt: t0, FaultAt: fault, EndedAt: t0.Add(12 * time.Second)}
	events := []stack.Event{{Time: fault.Add(2500 * time.Millisecond), Kind: "db_promoted", Message: "db-2 promoted to primary"}}
	regions := map[netip.Addr]string{netip.MustParseAddr("127.3.1.10"): "eu-west-1"}
	r.fill(samples, []Answer{{t0, netip.MustParseAddr("127.3.1.10")}}, events, nil, regions, Options{Sustain: time.Second})
	return r
}

// measureScript is appended to a copy of the page: it records what the
// browser laid out, in a <pre id="measured"> that --dump-dom prints.
// Positions are in CSS pixels of the rendered page.
const measureScript = `<script>
(function () {
  const box = (e) => { const b = e.getBoundingClientRect(); return {left: b.left, right: b.right, top: b.top, bottom: b.bottom}; };
  const svg = document.querySelector("svg");
  const out = {
    title: document.title,
    text: document.body.innerText,
    svg: box(svg),
    ticks: [...svg.querySelectorAll("text.tick")].filter((t) => /^[+-]\d+s$/.test(t.textContent))
      .map((t) => ({label: t.textContent, box: box(t)})),
    markers: [...svg.querySelectorAll("line[stroke-dasharray]")].map((l) => ({label: l.querySelector("title").textContent, box: box(l)})),
    labels: [...svg.querySelectorAll("text.mark")].map((t) => ({label: t.textContent, box: box(t),
      em: parseFloat(getComputedStyle(t).fontSize) * svg.getBoundingClientRect().width / svg.viewBox.baseVal.width})),
    cards: [...document.querySelectorAll(".card")].map((c) => ({
      label: c.querySelector(".l").innerText, value: c.querySelector(".v").innerText,
      overflows: c.scrollWidth > c.clientWidth })),
  };
  const pre = document.createElement("pre");
  pre.id = "measured";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>`

type rect struct{ Left, Right, Top, Bottom float64 }

func (r rect) centreX() float64 { return (r.Left + r.Right) / 2 }

func (r rect) overlaps(o rect) bool {
	const slack = 0.5
	return r.Left < o.Right-slack && o.Left < r.Right-slack && r.Top < o.Bottom-slack && o.Top < r.Bottom-slack
}

// rendered is what measureScript reports.
type rendered struct {
	Title string
	Text  string
	SVG   rect
	Ticks []struct {
		Label string
		Box   rect
	}
	Markers []struct {
		Label string
		Box   rect
	}
	Labels []struct {
		Label string
		Box   rect
		Em    float64 // the font size in pixels
	}
	Cards []struct {
		Label, Value string
		Overflows    bool
	}
}

// render lays r's page out in headless Chromium and returns what it measured.
func render(t *testing.T, chromium string, r *Report) rendered {
	t.Helper()
	var page bytes.Buffer
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page.String(), "<script") {
		t.Fatal("the report has a script; it promises none")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	measured := strings.Replace(page.String(), "</body>", measureScript+"</body>", 1)
	if err := os.WriteFile(file, []byte(measured), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--window-size=1100,1000", "--dump-dom", "file://"+file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "Uncaught") || strings.Contains(stderr.String(), "SyntaxError") {
		t.Fatalf("page errors:\n%s", stderr.String())
	}
	m := regexp.MustCompile(`(?s)<pre id="measured">(.*?)</pre>`).FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("the measuring script left no result; page errors:\n%s", stderr.String())
	}
	var out rendered
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &out); err != nil {
		t.Fatalf("measurements %q: %v", m[1], err)
	}
	return out
}

// TestHTMLReportRendersInChromium lays two different reports out in
// headless Chromium and checks what a reader sees: the title and each
// figure card with the report's own numbers, cards that fit, every marker
// line where its time puts it on the time axis, and marker labels that
// neither overlap nor leave the chart.
func TestHTMLReportRendersInChromium(t *testing.T) {
	chromium := testenv.RequireChromium(t)
	tests := []struct {
		name      string
		report    *Report
		title     string
		cards     map[string]string // label -> value; every card shown
		inText    []string
		notInText []string
	}{
		{
			name: "region failover", report: syntheticReport(),
			title: "hastack drill region-failure: PASSED",
			cards: map[string]string{"Recovery time (RTO)": "1.50 s", "DNS switch": "1.40 s", "Errors": "30 of 200",
				"Writes lost": "0 of 0", "p99 latency": "2.0 → 2.0"},
			inText:    []string{"Fault: region us-east-1", "200 requests over 10.0 s", "to us-west-2", "served by us-west-2", "+1.40 s\tDNS answers us-west-2"},
			notInText: []string{"not recovered", "DB promotion"},
		},
		{
			name: "AZ failure never recovered", report: unrecoveredReport(),
			title: "hastack drill az-failure: FAILED",
			cards: map[string]string{"Recovery time (RTO)": "not recovered", "DB promotion": "2.50 s", "Errors": "80 of 120",
				"Writes lost": "0 of 0", "p99 latency": "5.0 → 0.0"},
			inText:    []string{"Fault: az eu-west-1a", "120 requests over 12.0 s", "served by eu-west-1", "+2.50 s\tdb-2 promoted to primary"},
			notInText: []string{"us-west-2", "DNS switch", "PASSED"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(t, chromium, tt.report)
			if got.Title != tt.title {
				t.Errorf("title %q, want %q", got.Title, tt.title)
			}
			cards := map[string]string{}
			for _, c := range got.Cards {
				cards[c.Label] = c.Value
				if c.Overflows {
					t.Errorf("card %s: %q does not fit", c.Label, c.Value)
				}
			}
			for label, want := range tt.cards {
				if cards[label] != want {
					t.Errorf("card %s shows %q, want %q", label, cards[label], want)
				}
			}
			if len(cards) != len(tt.cards) {
				t.Errorf("cards %v, want %v", cards, tt.cards)
			}
			for _, want := range tt.inText {
				if !strings.Contains(got.Text, want) {
					t.Errorf("the page does not read %q:\n%s", want, got.Text)
				}
			}
			for _, bad := range tt.notInText {
				if strings.Contains(got.Text, bad) {
					t.Errorf("the page reads %q", bad)
				}
			}
			checkMarkerPositions(t, tt.report, got)
			// A text's box is its line box, taller than the glyphs: compare
			// the em boxes (the bottom em of each), which hold the ink.
			for i, a := range got.Labels {
				if a.Box.Left < got.SVG.Left || a.Box.Right > got.SVG.Right {
					t.Errorf("label %q at %+v leaves the chart %+v", a.Label, a.Box, got.SVG)
				}
				if a.Em < 5 || a.Em > a.Box.Bottom-a.Box.Top {
					t.Fatalf("label %q: font size %.1fpx in a box %.1fpx high", a.Label, a.Em, a.Box.Bottom-a.Box.Top)
				}
				ea := rect{a.Box.Left, a.Box.Right, a.Box.Bottom - a.Em, a.Box.Bottom}
				for _, b := range got.Labels[i+1:] {
					if eb := (rect{b.Box.Left, b.Box.Right, b.Box.Bottom - b.Em, b.Box.Bottom}); ea.overlaps(eb) {
						t.Errorf("labels %q %+v and %q %+v overlap", a.Label, ea, b.Label, eb)
					}
				}
			}
		})
	}
}

// checkMarkerPositions: the time axis's ticks give pixels per second; each
// drawn marker line must sit at its time from the fault on that scale.
func checkMarkerPositions(t *testing.T, r *Report, got rendered) {
	t.Helper()
	tickX := map[float64]float64{} // seconds from the fault -> x
	for _, tk := range got.Ticks {
		s, err := strconv.ParseFloat(strings.TrimSuffix(tk.Label, "s"), 64)
		if err != nil {
			t.Fatalf("tick %q", tk.Label)
		}
		tickX[s] = tk.Box.centreX()
	}
	x0, ok0 := tickX[0]
	x5, ok5 := tickX[5]
	if !ok0 || !ok5 {
		t.Fatalf("no +0s and +5s ticks among %v", got.Ticks)
	}
	perSec := (x5 - x0) / 5
	drawn := 0
	for _, m := range r.Markers {
		if _, styled := markerStyle[m.Kind]; !styled {
			continue // a tick at the top, not a line
		}
		drawn++
		want := x0 + perSec*m.At.Sub(r.FaultAt).Seconds()
		i := slices.IndexFunc(got.Markers, func(g struct {
			Label string
			Box   rect
		}) bool {
			return g.Label == m.Label
		})
		if i < 0 {
			t.Errorf("marker %q not drawn", m.Label)
			continue
		}
		if x := got.Markers[i].Box.centreX(); math.Abs(x-want) > 1.5 {
			t.Errorf("marker %q at x %.1f, want %.1f (%+.2f s from the fault)", m.Label, x, want, m.At.Sub(r.FaultAt).Seconds())
		}
	}
	if drawn == 0 || len(got.Markers) != drawn {
		t.Errorf("%d marker lines drawn, want %d", len(got.Markers), drawn)
	}
}
