package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/network"
	"github.com/hastack/hastack/internal/stack"
	"github.com/hastack/hastack/internal/testenv"
)

// Addresses the tests connect from. Binding a loopback address as the
// source puts the test in that failure domain, as a host there would be.
const (
	outsider  = "127.0.7.7"    // the internet, neither the operator nor a checker
	operator  = "127.0.0.1"    // the internet, where the operator sits
	eastHost  = "127.1.11.200" // us-east-1's VPC (us-east-1a), no part of the stack
	westHost  = "127.2.11.200" // us-west-2's VPC
	eastLBIP  = "127.1.1.10"
	westLBIP  = "127.2.1.10"
	dropWait  = 400 * time.Millisecond // a dropped SYN is retried after 1 s: a dial this long fails
	dialWait  = 3 * time.Second        // a connection that is let in, on a busy machine
	tableName = "hastack_quick"
)

// dialFrom opens a TCP connection to addr from the address src, within
// timeout.
func dialFrom(src, addr string, timeout time.Duration) error {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: timeout}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// mustReach fails the test unless addr takes a connection from src.
func mustReach(t *testing.T, src, addr string) {
	t.Helper()
	if err := dialFrom(src, addr, dialWait); err != nil {
		t.Fatalf("a connection from %s to %s fails: %v", src, addr, err)
	}
}

// mustNotReach fails the test if addr takes a connection from src: the
// packets are dropped, so the dial times out.
func mustNotReach(t *testing.T, src, addr string) {
	t.Helper()
	err := dialFrom(src, addr, dropWait)
	if err == nil {
		t.Fatalf("a connection from %s to %s got through", src, addr)
	}
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("a connection from %s to %s: %v, want a timeout (dropped packets)", src, addr, err)
	}
}

// getFrom sends GET url from the address src on a new connection and
// returns the status, the region that answered and how long it took.
func getFrom(src, url string) (int, string, time.Duration, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: dialWait}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", time.Since(start), err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Hastack-Region"), time.Since(start), nil
}

// mustServe fails the test unless GET url from src answers 200 from region.
func mustServe(t *testing.T, src, url, region string) time.Duration {
	t.Helper()
	code, from, took, err := getFrom(src, url)
	if err != nil || code != http.StatusOK || from != region {
		t.Fatalf("GET %s from %s: %d from %q, %v; want 200 from %s", url, src, code, from, err, region)
	}
	return took
}

// tableLeft reports whether the quick stack's nftables table is in the kernel.
func tableLeft(t *testing.T) bool {
	t.Helper()
	left, err := network.Leftovers()
	if err != nil {
		t.Fatal(err)
	}
	return slices.Contains(left, "ip "+tableName)
}

// regionPIDs lists the processes of a region: its instances and the
// postmasters of its database nodes.
func (e *env) regionPIDs(st stack.Status, region string) []int {
	e.t.Helper()
	var pids []int
	for _, r := range st.Regions {
		if r.Name != region {
			continue
		}
		for _, in := range r.Instances {
			if in.State != "terminated" {
				pids = append(pids, in.PID)
			}
		}
	}
	for _, n := range st.Database.Nodes {
		if n.Region != region {
			continue
		}
		b, err := os.ReadFile(filepath.Join(e.stateDir, "db", n.Name, "data", "postmaster.pid"))
		if err != nil {
			e.t.Fatalf("database node %s: %v", n.Name, err)
		}
		first, _, _ := strings.Cut(string(b), "\n")
		pid, err := strconv.Atoi(strings.TrimSpace(first))
		if err != nil {
			e.t.Fatalf("database node %s: postmaster.pid: %v", n.Name, err)
		}
		pids = append(pids, pid)
	}
	if len(pids) < 3 {
		e.t.Fatalf("region %s has only processes %v", region, pids)
	}
	return pids
}

// fails runs hastack, which must refuse with exit code 1 and one line
// holding want.
func (e *env) fails(want string, args ...string) {
	e.t.Helper()
	_, stderr, code := e.hastack(args...)
	if code != 1 || !strings.Contains(stderr, want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		e.t.Fatalf("hastack %s: exit %d, stderr %q; want exit 1 and one line with %q", strings.Join(args, " "), code, stderr, want)
	}
}

// waitServed polls GET url from src until region answers 200.
func (e *env) waitServed(src, url, region string) {
	e.t.Helper()
	waitFor(e.t, region+" serves "+url+" again", 60*time.Second, func() bool {
		code, from, _, err := getFrom(src, url)
		return err == nil && code == http.StatusOK && from == region
	})
}

func (e *env) waitAnswer(ip string) time.Duration {
	e.t.Helper()
	return waitFor(e.t, "DNS answers "+ip, 30*time.Second, func() bool {
		got, _, err := e.resolve("app.example.com")
		return err == nil && got.String() == ip
	})
}

// TestNetwork: on the quick example, with CAP_NET_ADMIN: the security
// groups hold, the regions are as far apart as us-east-1 and us-west-2,
// and each network fault takes effect, is listed and recorded, and is
// undone by recover; down leaves no table behind.
func TestNetwork(t *testing.T) {
	testenv.RequireNetAdmin(t)
	e := newEnv(t, "quick")
	out := e.must("up", "-d")
	if !strings.Contains(out, "security groups enforced in nftables table "+tableName) {
		t.Fatalf("up -d does not say the network is enforced:\n%s", out)
	}
	if !tableLeft(t) {
		t.Fatal("no nftables table while the stack runs")
	}
	st := e.status()
	if !st.Network.Enforced || len(st.Network.InterRegion) != 1 || st.Network.InterRegion[0].RTTSeconds != 0.064 || st.Faults == nil {
		t.Fatalf("status network %+v, faults %v", st.Network, st.Faults)
	}
	east, west := st.Regions[0], st.Regions[1]
	eastLB, westLB := "http://"+east.LoadBalancer.Address, "http://"+west.LoadBalancer.Address
	instance := east.Instances[0].Address
	var eastNode, eastEndpoint string
	for _, n := range st.Database.Nodes {
		if n.Name == "db-us-east-1a" {
			eastNode = n.Address
		}
	}
	for _, ep := range st.Database.Endpoints {
		if ep.Region == "us-east-1" {
			eastEndpoint = ep.Writer
		}
	}

	t.Run("security groups", func(t *testing.T) {
		// An instance takes connections only from its load balancer.
		mustNotReach(t, outsider, instance)
		mustNotReach(t, westLBIP, instance)
		mustNotReach(t, eastHost, instance)
		mustReach(t, eastLBIP, instance)
		mustServe(t, outsider, eastLB+"/", "us-east-1") // through the load balancer, from anywhere
		// A database node and an endpoint only from their VPC, their peers
		// and the operator.
		mustNotReach(t, outsider, eastNode)
		mustNotReach(t, outsider, eastEndpoint)
		mustNotReach(t, westHost, eastNode)
		mustReach(t, eastHost, eastNode)
		mustReach(t, eastHost, eastEndpoint)
		mustReach(t, operator, eastNode)
		mustReach(t, "127.2.11.5", eastNode) // the replica's address
	})

	t.Run("distance", func(t *testing.T) {
		// A TCP connect takes one round trip: us-east-1 <-> us-west-2 is
		// 64 ms apart; from the internet the load balancer is not delayed.
		far, near := time.Hour, time.Hour
		for range 5 {
			start := time.Now()
			mustReach(t, westHost, eastLBIP+":8080")
			far = min(far, time.Since(start))
			start = time.Now()
			mustReach(t, operator, eastLBIP+":8080")
			near = min(near, time.Since(start))
		}
		t.Logf("connect round trip us-west-2 -> us-east-1 %s, internet -> us-east-1 %s", far, near)
		if far < 64*time.Millisecond {
			t.Errorf("a connection from us-west-2 to us-east-1 took %s, less than the 64 ms round trip", far)
		}
		if near >= 64*time.Millisecond {
			t.Errorf("a connection from the internet to us-east-1 took %s: delayed as if across regions", near)
		}
	})

	t.Run("isolate", func(t *testing.T) {
		pids := e.regionPIDs(e.status(), "us-east-1")
		if out := e.must("fail", "region", "us-east-1"); !strings.Contains(out, "the fault is in place") {
			t.Fatalf("fail region: %q", out)
		}
		defer func() { // a failed check must not leave the region cut off for the next ones
			if t.Failed() {
				e.hastack("recover", "region", "us-east-1")
			}
		}()
		fault := time.Now()
		// Inside, everything runs and talks: the load balancer reaches its
		// instances from its own address; a host of the VPC reaches the
		// database.
		mustServe(t, eastLBIP, "http://"+instance+"/", "us-east-1")
		mustReach(t, eastHost, eastNode)
		// Outside, nothing gets in or out.
		mustNotReach(t, operator, eastLBIP+":8080")
		mustNotReach(t, westHost, eastNode)
		mustServe(t, operator, westLB+"/", "us-west-2")
		// Route53's checkers are outside too: DNS fails over.
		e.waitAnswer(westLBIP)
		t.Logf("DNS answered us-west-2 %.2fs after the isolation", time.Since(fault).Seconds())
		for _, pid := range pids {
			if !alive(pid) {
				t.Errorf("process %d of us-east-1 died in the isolation (%v)", pid, pids)
			}
		}
		// Clients inside the region are still served by it.
		if code, from, _, err := getFrom(eastHost, eastLB+"/"); err != nil || code != http.StatusOK || from != "us-east-1" {
			t.Errorf("GET through the isolated region's load balancer from inside it: %d from %q, %v; want 200 from us-east-1", code, from, err)
		}
		st := e.status()
		if r := st.Regions[0]; !r.Failed || r.Fault != "isolate" || !r.LoadBalancer.Running {
			t.Fatalf("status of the isolated region: %+v", r)
		}
		for _, n := range st.Database.Nodes {
			if n.Region == "us-east-1" && !n.Running {
				t.Errorf("database node %s is not running in the isolated region", n.Name)
			}
		}
		if len(st.Faults) != 1 || st.Faults[0].Kind != "region" || st.Faults[0].Target != "us-east-1" || st.Faults[0].Mode != "isolate" {
			t.Fatalf("status faults %+v", st.Faults)
		}
		e.fails("region us-east-1 is already failed (isolate); recover it first", "fail", "region", "us-east-1", "--mode", "crash")

		e.must("recover", "region", "us-east-1")
		e.waitServed(operator, eastLB+"/", "us-east-1")
		e.waitAnswer(eastLBIP)
		for _, pid := range pids {
			if !alive(pid) {
				t.Fatalf("process %d of us-east-1 died", pid)
			}
		}
		e.fails("region us-east-1 is not failed", "recover", "region", "us-east-1")
	})

	t.Run("partitions", func(t *testing.T) {
		e.must("fail", "partition", "internet", "us-east-1", "--one-way")
		e.must("fail", "partition", "dns", "us-west-2")
		// internet -> us-east-1 is dropped, us-east-1 -> internet is not:
		// datagrams show each direction on its own.
		mustNotReach(t, outsider, eastLBIP+":8080")
		if !udpPasses(t, eastHost, outsider) {
			t.Error("a datagram from us-east-1 to the internet was dropped by a one-way partition the other way")
		}
		if udpPasses(t, outsider, eastHost) {
			t.Error("a datagram from the internet to us-east-1 passed a one-way partition")
		}
		// dns / us-west-2: the checkers are cut off, clients are not.
		mustServe(t, outsider, westLB+"/", "us-west-2")
		mustNotReach(t, "127.0.53.9", westLBIP+":8080")
		mustServe(t, eastHost, westLB+"/", "us-west-2")
		defer func() {
			if t.Failed() {
				e.hastack("recover", "partition", "internet", "us-east-1")
				e.hastack("recover", "partition", "dns", "us-west-2")
			}
		}()

		st := e.status()
		if len(st.Faults) != 2 || st.Faults[0].Kind != "partition" || !st.Faults[0].OneWay || st.Faults[1].Target != "dns" || st.Faults[1].Other != "us-west-2" {
			t.Fatalf("status faults %+v", st.Faults)
		}
		e.fails("is already in place", "fail", "partition", "us-west-2", "dns")
		e.fails("there is no partition between us-east-1 and internet to recover", "recover", "partition", "us-east-1", "internet")

		e.must("recover", "partition", "internet", "us-east-1")
		e.waitServed(outsider, eastLB+"/", "us-east-1")
		mustNotReach(t, "127.0.53.9", westLBIP+":8080") // the other one holds
		e.must("recover", "partition", "us-west-2", "dns")
		mustReach(t, "127.0.53.9", westLBIP+":8080")
		if f := e.status().Faults; len(f) != 0 {
			t.Fatalf("faults after recovering both: %+v", f)
		}
	})

	t.Run("network delay", func(t *testing.T) {
		e.waitServed(operator, eastLB+"/", "us-east-1")
		base := mustServe(t, operator, eastLB+"/", "us-east-1")
		e.must("fail", "network", "us-east-1", "--delay", "200ms")
		defer func() {
			if t.Failed() {
				e.hastack("recover", "network", "us-east-1")
			}
		}()
		// A new connection and one request: two round trips of 2 x 200 ms.
		took := mustServe(t, operator, eastLB+"/", "us-east-1")
		t.Logf("GET through the delayed load balancer took %s (before: %s)", took, base)
		if took < 800*time.Millisecond {
			t.Errorf("a request through a load balancer 200 ms away each way took %s, less than two round trips", took)
		}
		mustServe(t, operator, westLB+"/", "us-west-2") // elsewhere: undelayed
		if f := e.status().Faults; len(f) != 1 || f[0].Kind != "network" || f[0].DelaySeconds != 0.2 {
			t.Fatalf("status faults %+v", f)
		}
		e.fails("there is no network fault on us-west-2 to recover", "recover", "network", "us-west-2")
		e.must("recover", "network", "us-east-1")
		e.waitServed(operator, eastLB+"/", "us-east-1")
		if took := mustServe(t, operator, eastLB+"/", "us-east-1"); took >= 400*time.Millisecond {
			t.Errorf("after recover a request took %s", took)
		}
	})

	// Each fault, network ones included, was recorded as added and removed.
	var injected, recovered int
	for line := range strings.SplitSeq(strings.TrimSpace(e.must("events", "--json")), "\n") {
		var ev stack.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("events --json: %v in %q", err, line)
		}
		switch ev.Kind {
		case "fault.inject":
			injected++
		case "fault.recover":
			recovered++
		}
	}
	if injected != 4 || recovered != 4 {
		t.Errorf("events: %d faults injected, %d recovered; want 4 and 4", injected, recovered)
	}

	e.must("down")
	if tableLeft(t) {
		t.Fatal("down left the nftables table behind")
	}
}

// udpPasses reports whether a datagram from src reaches a socket on dst.
func udpPasses(t *testing.T, src, dst string) bool {
	t.Helper()
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(dst)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP(src)}, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	if _, err := tx.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	_ = rx.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 8)
	n, _, err := rx.ReadFromUDP(buf)
	return err == nil && string(buf[:n]) == "ping"
}

// TestRegionCrash: --mode crash takes every process of the region at
// once, with no drain; recover brings the region back. A killed stack
// leaves its rules behind, and down removes them.
func TestRegionCrash(t *testing.T) {
	testenv.RequireNetAdmin(t)
	e := newEnv(t, "quick")
	e.must("up", "-d")
	st := e.status()
	pids := e.regionPIDs(st, "us-east-1")
	eastLB := "http://" + st.Regions[0].LoadBalancer.Address

	e.must("fail", "region", "us-east-1", "--mode", "crash")
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d of us-east-1 is alive once fail region --mode crash returned (%v)", pid, pids)
		}
	}
	// Its network is dark: a connection to it is not even refused, it
	// goes unanswered, as with a host that lost power.
	if err := dialFrom(operator, eastLBIP+":8080", dialWait); err == nil || strings.Contains(err.Error(), "refused") {
		t.Errorf("a connection to the crashed load balancer: %v, want no answer", err)
	}
	st = e.status()
	if r := st.Regions[0]; !r.Failed || r.Fault != "crash" || r.LoadBalancer.Running {
		t.Fatalf("status of the crashed region: %+v", r)
	}
	if len(st.Faults) != 1 || st.Faults[0].Mode != "crash" {
		t.Fatalf("status faults %+v", st.Faults)
	}
	e.waitAnswer(westLBIP)

	e.must("recover", "region", "us-east-1")
	e.waitServed(operator, eastLB+"/", "us-east-1")
	e.waitAnswer(eastLBIP)
	if f := e.status().Faults; len(f) != 0 {
		t.Fatalf("faults after recover: %+v", f)
	}

	// SIGKILL gives the stack no chance to clean up: its table stays
	// until down (or the next up) removes it.
	rec, err := stack.Paths{Dir: e.stateDir}.ReadRecord()
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(rec.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stack process exits", 10*time.Second, func() bool { return !alive(rec.PID) })
	if !tableLeft(t) {
		t.Fatal("no table left after SIGKILL; the test cannot tell that down removes it")
	}
	if out := e.must("down"); !strings.Contains(out, "is not running") {
		t.Fatalf("down of a killed stack: %q", out)
	}
	if tableLeft(t) {
		t.Fatalf("down of a killed stack left table %s behind", tableName)
	}
}
