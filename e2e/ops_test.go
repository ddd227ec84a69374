package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/drill"
	"github.com/hastack/hastack/internal/stack"
)

// TestOperations covers the day-to-day commands on a running stack: who
// the instances run as, hastack psql and db-url, plan and apply of a live change, a refused change, the
// load balancers' metrics on the control socket, and a black-box probe.
func TestOperations(t *testing.T) {
	e := newEnv(t, "quick")
	e.must("up", "-d")
	checkInstanceUsers(t, e.status())

	// hastack psql just works, for the writer and a reader; db-url shows
	// the password only when asked.
	for _, args := range [][]string{{"psql"}, {"psql", "--reader", "--region", "us-west-2"}} {
		if out := e.must(append(args, "-At", "-c", "select current_database()")...); strings.TrimSpace(out) != "app" {
			t.Fatalf("hastack %v: %q, want app", args, out)
		}
	}
	u, err := url.Parse(strings.TrimSpace(e.must("db-url", "--password")))
	if err != nil {
		t.Fatal(err)
	}
	if pw, ok := u.User.Password(); !ok || pw == "" {
		t.Fatalf("db-url --password gives no password")
	} else if plain := e.must("db-url"); strings.Contains(plain, pw) {
		t.Fatalf("db-url shows the password: %q", plain)
	}

	// plan shows a live change, apply makes it, status shows it.
	src, err := os.ReadFile(e.file)
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(filepath.Dir(e.file), "changed.hcl")
	text := strings.Replace(string(src), "max_size         = 4", "max_size         = 5", 1)
	if text == string(src) {
		t.Fatal("examples/quick has no max_size = 4 to change")
	}
	if err := os.WriteFile(changed, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, int) {
		cmd := exec.Command(binary, append(args, "-f", changed, "--state-dir", e.stateDir)...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		return stdout.String(), stderr.String(), code
	}
	if out, _, code := run("plan"); code != 0 || !strings.Contains(out, "autoscaling.max") || !strings.Contains(out, "2 changes") {
		t.Fatalf("plan: exit %d\n%s", code, out)
	}
	if out, stderr, code := run("apply"); code != 0 || !strings.Contains(out, "applied 2 changes") {
		t.Fatalf("apply: exit %d\n%s%s", code, out, stderr)
	}
	for _, r := range e.status().Regions {
		if r.AutoScaling == nil || r.AutoScaling.Max != 5 {
			t.Fatalf("region %s after apply: %+v", r.Name, r.AutoScaling)
		}
	}
	// A change that needs a restart is refused whole, with the reason.
	text = strings.Replace(text, `listen = "`+e.dnsAddr+`"`, `listen = "127.0.0.1:1"`, 1)
	if err := os.WriteFile(changed, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := run("apply"); code != 1 || !strings.Contains(stderr, "dns.listen: DNS settings cannot change while the stack runs") {
		t.Fatalf("apply of a DNS change: exit %d, stderr %q", code, stderr)
	}

	// The load balancers' Prometheus metrics on the control socket.
	st := e.status()
	if _, err := httpClient.Get("http://" + st.Regions[0].LoadBalancer.Address + "/"); err != nil {
		t.Fatal(err)
	}
	sock := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", filepath.Join(e.stateDir, "control.sock"))
	}}, Timeout: 5 * time.Second}
	resp, err := sock.Get("http://stack/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"hastack_alb_requests_total", `region="us-east-1"`, "hastack_alb_healthy_hosts"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	// A black-box probe of the stack's URL through its DNS server.
	_, port, _ := net.SplitHostPort(st.Regions[0].LoadBalancer.Address)
	out, stderr, code := e.hastack("drill", "probe", "--url", "http://app.example.com:"+port, "--resolver", e.dnsAddr, "--duration", "3s", "--json")
	var rep drill.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 {
		t.Fatalf("probe: exit %d, %v\n%s%s", code, err, out, stderr)
	}
	if rep.Requests < 50 || rep.Errors != 0 || !rep.Passed {
		t.Fatalf("probe: %d requests, %d errors, passed %v", rep.Requests, rep.Errors, rep.Passed)
	}
	e.must("down", "--purge")
}

// checkInstanceUsers: with hastack as root, every instance runs as an
// unprivileged user (the launch template names none), with that user's
// HOME, not root's; otherwise as hastack's own user.
func checkInstanceUsers(t *testing.T, st stack.Status) {
	t.Helper()
	n := 0
	for _, r := range st.Regions {
		for _, in := range r.Instances {
			if in.State == "terminated" {
				continue
			}
			n++
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", in.PID))
			if err != nil {
				t.Fatalf("instance %s: %v", in.ID, err)
			}
			m := regexp.MustCompile(`(?m)^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$`).FindStringSubmatch(string(b))
			if m == nil {
				t.Fatalf("instance %s: no Uid line in /proc/%d/status", in.ID, in.PID)
			}
			for _, uid := range m[1:] {
				switch {
				case os.Geteuid() == 0 && uid == "0":
					t.Errorf("instance %s (pid %d) runs as root: Uid %v", in.ID, in.PID, m[1:])
				case os.Geteuid() != 0 && uid != strconv.Itoa(os.Geteuid()):
					t.Errorf("instance %s (pid %d) runs as uid %s, not as hastack's uid %d", in.ID, in.PID, uid, os.Geteuid())
				}
			}
			env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", in.PID))
			if err != nil {
				t.Fatalf("instance %s: %v", in.ID, err)
			}
			if os.Geteuid() == 0 && slices.Contains(strings.Split(string(env), "\x00"), "HOME=/root") {
				t.Errorf("instance %s runs with root's HOME", in.ID)
			}
		}
	}
	if n == 0 {
		t.Fatal("no running instance to check")
	}
}
