package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hastack/hastack/internal/testenv"
)

// TestDashboardRegionFailover drives the dashboard in headless Chromium:
// it sees both regions, the DNS answer and the database roles, fails
// us-east-1 from the page and sees the answer move to us-west-2 without a
// reload, within interval x threshold + 2 s, then recovers it and sees the
// answer come back. With HASTACK_DASHBOARD_SCREENSHOT=FILE.png it saves the
// page during the failover.
func TestDashboardRegionFailover(t *testing.T) {
	chromium := testenv.RequireChromium(t)
	testenv.RequireNetAdmin(t) // fail region isolates with the packet filter
	e := newEnv(t, "quick")
	dash := e.withDashboard("")
	e.must("up", "-d")
	defer e.must("down")
	url := strings.TrimSpace(e.must("dashboard"))
	if url != "http://"+dash+"/" {
		t.Fatalf("hastack dashboard printed %q, want http://%s/", url, dash)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.WindowSize(1500, 1300))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelTimeout()

	// The quick example: Route53 checks every 0.5 s, failure threshold 3.
	const failoverBound = 3*500*time.Millisecond + 2*time.Second
	answerRegion := func() string {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#dns-answer-region")))
		if err != nil {
			t.Fatalf("reading the DNS answer on the page: %v", err)
		}
		return s
	}
	// The page redraws the topology on every change of the status, so a
	// button is found and clicked in one step, inside the page.
	click := func(sel string) error {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => { const b = document.querySelector(%q); if (!b) throw new Error("no " + %q); b.click(); return true })()`, sel, sel)))
		return err
	}
	press := func(sel string) time.Time {
		t.Helper()
		if err := click(sel); err != nil {
			t.Fatalf("pressing %s: %v", sel, err)
		}
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("#confirm-yes"))); err != nil {
			t.Fatalf("waiting for the confirmation of %s: %v", sel, err)
		}
		pressed := time.Now()
		if err := click("#confirm-yes"); err != nil {
			t.Fatalf("confirming %s: %v", sel, err)
		}
		return pressed
	}

	if err := chromedp.Do(ctx,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`.region[data-region="us-east-1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.region[data-region="us-west-2"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.node[data-role="primary"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.node[data-role="replica"]`)),
		chromedp.Evaluate[chromedp.Void](`window.notReloaded = true`),
	); err != nil {
		t.Fatalf("loading the dashboard: %v", err)
	}
	if answer, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#dns-answer"))); err != nil || answer != "127.1.1.10" {
		t.Fatalf("the page's DNS answer is %q (%v), want 127.1.1.10", answer, err)
	}
	if got := answerRegion(); got != "us-east-1" {
		t.Fatalf("the page says DNS answers %q, want us-east-1", got)
	}

	pressed := press(`button[data-verb="fail"][data-kind="region"][data-name="us-east-1"]`)
	if !settles(failoverBound, func() bool { return answerRegion() == "us-west-2" }) {
		// Say how late, and where the time went, before failing.
		seen := settles(30*time.Second, func() bool { return answerRegion() == "us-west-2" })
		events, _, _ := e.hastack("events")
		t.Fatalf("the page shows DNS answering us-west-2 %.2fs after pressing fail region (seen: %v), over the bound %s; events:\n%s",
			time.Since(pressed).Seconds(), seen, failoverBound, events)
	}
	t.Logf("DNS answer us-west-2 on the page %.2fs after pressing fail region (bound %s)", time.Since(pressed).Seconds(), failoverBound)
	// Route53 health per checker: a chart per region with a series for each
	// of the three checkers.
	waitFor(t, "a chart of each Route53 checker of us-east-1", 10*time.Second, func() bool {
		n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll('.group[data-group="us-east-1"] .chart')]
			.filter((c) => c.querySelector(".ctitle").textContent === "Route53 health per checker")
			.map((c) => c.querySelectorAll(".u-legend .u-series").length - 1)[0] || 0`))
		return n == 3
	})
	if path := os.Getenv("HASTACK_DASHBOARD_SCREENSHOT"); path != "" {
		// Let a few chart samples show the outage before the picture.
		waitFor(t, "the page to show the failed region", 10*time.Second, func() bool {
			n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(".region.failed").length`))
			return n == 1
		})
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	press(`button[data-verb="recover"][data-kind="region"][data-name="us-east-1"]`)
	waitFor(t, "the page to show DNS answering us-east-1 again", 90*time.Second, func() bool { return answerRegion() == "us-east-1" })
	if same, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.notReloaded === true`)); err != nil || !same {
		t.Errorf("the page was reloaded (%v)", err)
	}

	// State-changing requests need the page's token, and its origin.
	attr, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`meta[name="hastack-token"]`), "content"))
	token := attr.Value
	if err != nil || len(token) < 32 {
		t.Fatalf("the page's token %q (%v)", token, err)
	}
	fromPage, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch("/api/action", {method: "POST", body: '{"verb":"fail","kind":"region","name":"us-west-2"}'}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if fromPage != http.StatusForbidden {
		t.Errorf("a request from the page without the token got %d, want 403", fromPage)
	}
	for name, header := range map[string]map[string]string{
		"no token":     {"Origin": "http://" + dash},
		"other origin": {"X-Hastack-Token": token, "Origin": "http://evil.example"},
	} {
		req, _ := http.NewRequest(http.MethodPost, url+"api/action", strings.NewReader(`{"verb":"fail","kind":"region","name":"us-west-2"}`))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d %s, want 403", name, resp.StatusCode, body)
		}
	}
	if st := e.status(); len(st.Faults) != 0 {
		t.Errorf("faults in place after the refused requests: %+v", st.Faults)
	}
}
