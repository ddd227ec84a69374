package e2e

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var httpClient = &http.Client{Timeout: 3 * time.Second}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func put(t *testing.T, url, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("PUT %s: %v", url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT %s: %s", url, resp.Status)
	}
}

// TestRegionFailover is the walking skeleton's acceptance: up, resolve,
// serve, write, fail the primary region, watch DNS switch within the
// health-check bound, recover, down with nothing left running, and the data
// still there on the next up.
func TestRegionFailover(t *testing.T) {
	e := newEnv(t, "quick")
	out := e.must("up", "-d")
	t.Logf("up -d:\n%s", out)

	st := e.status()
	if !st.Ready || len(st.Regions) != 2 {
		t.Fatalf("status after up -d: ready=%v regions=%d", st.Ready, len(st.Regions))
	}
	if st.DNS.Address != e.dnsAddr || st.DNS.Name != "app.example.com" {
		t.Fatalf("status dns = %+v", st.DNS)
	}
	primary, secondary := st.Regions[0], st.Regions[1]
	if primary.Role != "primary" || secondary.Role != "secondary" {
		t.Fatalf("roles: %s=%s, %s=%s", primary.Name, primary.Role, secondary.Name, secondary.Role)
	}
	primaryIP, _, _ := net.SplitHostPort(primary.LoadBalancer.Address)
	secondaryIP, _, _ := net.SplitHostPort(secondary.LoadBalancer.Address)
	_, lbPort, _ := net.SplitHostPort(primary.LoadBalancer.Address)
	for _, r := range st.Regions {
		if len(r.Instances) != 2 {
			t.Fatalf("region %s has %d instances, want 2", r.Name, len(r.Instances))
		}
		for _, in := range r.Instances {
			if in.State != "in-service" || in.Health != "healthy" {
				t.Fatalf("instance %s: state %s health %s", in.ID, in.State, in.Health)
			}
		}
	}
	if len(st.Database.Nodes) == 0 || st.Database.Nodes[0].Role != "primary" {
		t.Fatalf("database nodes: %+v", st.Database.Nodes)
	}

	// DNS over UDP answers the primary's load balancer with the stack's TTL.
	ip, ttl, err := e.resolve("app.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if ip.String() != primaryIP || ttl != 1 {
		t.Fatalf("DNS answer %s TTL %d, want %s TTL 1", ip, ttl, primaryIP)
	}

	base := "http://" + net.JoinHostPort(ip.String(), lbPort)
	resp, body := get(t, base+"/")
	if resp.StatusCode != 200 || resp.Header.Get("X-Hastack-Region") != "us-east-1" {
		t.Fatalf("GET / via primary: %s region %q body %q", resp.Status, resp.Header.Get("X-Hastack-Region"), body)
	}
	if resp, body := get(t, base+"/health"); resp.StatusCode != 200 {
		t.Fatalf("GET /health via primary: %s %q", resp.Status, body)
	}
	value := "written at " + time.Now().Format(time.RFC3339Nano)
	put(t, base+"/kv/e2e", value)
	if _, body := get(t, base+"/kv/e2e"); body != value {
		t.Fatalf("read back %q, want %q", body, value)
	}

	// The replica is an inter-region round trip away: wait until the
	// secondary region reads the write, so that the fault below cannot
	// catch it on the wire.
	secondaryURL := "http://" + net.JoinHostPort(secondaryIP, lbPort)
	waitFor(t, "the write replicated to the secondary region", 10*time.Second, func() bool {
		_, body := get(t, secondaryURL+"/kv/e2e")
		return body == value
	})

	// Fail the primary region: DNS must switch within interval x threshold + 1s.
	const interval, threshold = 500 * time.Millisecond, 3
	fault := time.Now()
	e.must("fail", "region", "us-east-1")
	waitFor(t, "DNS switches to the secondary", time.Duration(threshold)*interval+10*time.Second, func() bool {
		ip, _, err := e.resolve("app.example.com")
		return err == nil && ip.String() == secondaryIP
	})
	switched := time.Since(fault)
	limit := time.Duration(threshold)*interval + time.Second
	t.Logf("DNS switched to the secondary %.2fs after the fault (bound %.2fs)", switched.Seconds(), limit.Seconds())
	if switched > limit {
		t.Fatalf("DNS switched %s after the fault, want within interval x threshold + 1s = %s", switched, limit)
	}
	// Sooner than the checkers can count their failures would mean the
	// fault leaked to DNS by a path Route53 does not have.
	if floor := time.Duration(threshold-1) * interval; switched < floor {
		t.Fatalf("DNS switched %s after the fault, sooner than interval x (threshold-1) = %s", switched, floor)
	}
	base = "http://" + net.JoinHostPort(secondaryIP, lbPort)
	resp, _ = get(t, base+"/")
	if resp.StatusCode != 200 || resp.Header.Get("X-Hastack-Region") != "us-west-2" {
		t.Fatalf("after failover GET / served by %q (%s)", resp.Header.Get("X-Hastack-Region"), resp.Status)
	}
	if _, body := get(t, base+"/kv/e2e"); body != value {
		t.Fatalf("secondary reads %q, want %q", body, value)
	}

	// Recover: DNS returns to the primary once its checks pass again.
	e.must("recover", "region", "us-east-1")
	back := waitFor(t, "DNS switches back to the primary", 60*time.Second, func() bool {
		ip, _, err := e.resolve("app.example.com")
		return err == nil && ip.String() == primaryIP
	})
	t.Logf("DNS back on the primary %.2fs after recover", back.Seconds())

	// Down leaves nothing running.
	st = e.status()
	pids := []int{st.PID}
	for _, r := range st.Regions {
		for _, in := range r.Instances {
			pids = append(pids, in.PID)
		}
	}
	pids = append(pids, postmasterPIDs(t, e.stateDir)...)
	e.must("down")
	waitFor(t, "every process of the stack exits", 30*time.Second, func() bool {
		for _, pid := range pids {
			if alive(pid) {
				return false
			}
		}
		return true
	})

	// A second up finds the data written before.
	e.must("up", "-d")
	st = e.status()
	base = "http://" + st.Regions[0].LoadBalancer.Address
	if _, body := get(t, base+"/kv/e2e"); body != value {
		t.Fatalf("after down and up the record reads %q, want %q", body, value)
	}
	assertNoSecretInFiles(t, e.stateDir)
	e.must("down", "--purge")
	if _, err := os.Stat(e.stateDir); !os.IsNotExist(err) {
		t.Fatalf("down --purge left %s behind", e.stateDir)
	}
}

// postmasterPIDs reads the PIDs of the stack's PostgreSQL postmasters.
func postmasterPIDs(t *testing.T, stateDir string) []int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(stateDir, "db", "*", "data", "postmaster.pid"))
	var pids []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		first, _, _ := strings.Cut(string(b), "\n")
		if pid, err := strconv.Atoi(strings.TrimSpace(first)); err == nil {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		t.Fatalf("no postmaster.pid under %s", stateDir)
	}
	return pids
}
