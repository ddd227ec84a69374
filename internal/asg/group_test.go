package asg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/testenv"
)

// fakeTargets records what the group tells the load balancer and answers
// with verdicts the test sets.
type fakeTargets struct {
	mu         sync.Mutex
	registered map[string]string
	calls      []string
	deregAt    map[string]time.Time
	verdicts   map[string]string        // TargetHealth answers; "healthy" when unset
	hold       bool                     // Deregister returns a channel that release closes
	drains     map[string]chan struct{} // held channels by ID
}

func (f *fakeTargets) Register(id, addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.registered == nil {
		f.registered = map[string]string{}
	}
	f.registered[id] = addr
	f.calls = append(f.calls, "register "+id+" "+addr)
}

func (f *fakeTargets) Deregister(id string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.registered, id)
	f.calls = append(f.calls, "deregister "+id)
	if f.deregAt == nil {
		f.deregAt = map[string]time.Time{}
	}
	f.deregAt[id] = time.Now()
	ch := make(chan struct{})
	if !f.hold {
		close(ch)
		return ch
	}
	if f.drains == nil {
		f.drains = map[string]chan struct{}{}
	}
	f.drains[id] = ch
	return ch
}

func (f *fakeTargets) TargetHealth(id string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if v, ok := f.verdicts[id]; ok {
		return v
	}
	if _, ok := f.registered[id]; ok {
		return "healthy"
	}
	return "unused"
}

func (f *fakeTargets) setVerdict(id, v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.verdicts == nil {
		f.verdicts = map[string]string{}
	}
	f.verdicts[id] = v
}

// deregistered returns when id was deregistered.
func (f *fakeTargets) deregistered(id string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.deregAt[id]
	return t, ok
}

// release ends the drain of id, as the load balancer does once its
// in-flight requests are done.
func (f *fakeTargets) release(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.drains[id])
}

func (f *fakeTargets) snapshot() (map[string]string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.registered), slices.Clone(f.calls)
}

type event struct {
	kind, msg string
	at        time.Time
}

type recorder struct {
	mu     sync.Mutex
	events []event
}

func (r *recorder) record(kind, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{kind, msg, time.Now()})
}

func (r *recorder) of(kind string) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, e := range r.events {
		if e.kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// harness is a group running on the test binary as its instance program.
type harness struct {
	g       *Group
	targets *fakeTargets
	events  *recorder
	logDir  string
	port    int
	stop    func() // cancels Run and waits for it
}

// freePort returns a port nothing listens on at the test addresses.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.77.10:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func addrs(prefix string) []netip.Addr {
	var out []netip.Addr
	for i := 10; i < 13; i++ {
		out = append(out, netip.MustParseAddr(prefix+strconv.Itoa(i)))
	}
	return out
}

// openDir returns a new directory every user may enter (0755), unlike
// t.TempDir's: instances run as an unprivileged user when the tests run as
// root, and must reach the files a test shares with them.
func openDir(t *testing.T) string {
	return testenv.OpenTempDir(t, "hastack-asg-test-")
}

// start runs a group with desired 2 (min 1, max 3) over AZs a (127.0.77.x)
// and b (127.0.78.x); edit adjusts the config first.
func start(t *testing.T, edit func(*Config)) *harness {
	t.Helper()
	h := &harness{targets: &fakeTargets{}, events: &recorder{}, port: freePort(t)}
	h.logDir = filepath.Join(t.TempDir(), "logs")
	cfg := Config{
		Region: "test-1",
		Group: spec.AutoScaling{Min: 1, Max: 3, Desired: 2, LaunchTemplate: spec.LaunchTemplate{
			Port: h.port,
			Env:  map[string]string{"TEMPLATE_VAR": "from-template"},
		}},
		AZs:          []AZ{{Name: "test-1a", Addrs: addrs("127.0.77.")}, {Name: "test-1b", Addrs: addrs("127.0.78.")}},
		Command:      os.Args[0],
		Env:          []string{"HASTACK_ASG_TEST_HELPER=1", "BASE_VAR=from-base"},
		LogDir:       h.logDir,
		BinDir:       filepath.Join(openDir(t), "bin"), // the test binary's directory is closed to others
		Targets:      h.targets,
		OnEvent:      h.events.record,
		StopTimeout:  2 * time.Second,
		StartTimeout: 20 * time.Second,
	}
	if edit != nil {
		edit(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.g = g
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not return within 30s of cancel")
			}
		})
	}
	t.Cleanup(h.stop)
	return h
}

// eventually polls cond until it holds or 20s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, what, 20*time.Second, cond)
}

func inState(g *Group, s State) []Instance {
	var out []Instance
	for _, inst := range g.Instances() {
		if inst.State == s {
			out = append(out, inst)
		}
	}
	return out
}

// waitInService waits until exactly n instances are in service and
// registered with the load balancer, and returns them.
func (h *harness) waitInService(t *testing.T, n int) []Instance {
	t.Helper()
	var got []Instance
	eventually(t, fmt.Sprintf("%d instances in service and registered", n), func() bool {
		got = inState(h.g, InService)
		registered, _ := h.targets.snapshot()
		if len(got) != n || len(registered) != n {
			return false
		}
		for _, inst := range got {
			if registered[inst.ID] != inst.Addr {
				return false
			}
		}
		return len(inState(h.g, Pending)) == 0
	})
	return got
}

func get(t *testing.T, url string) string {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// gone reports whether pid no longer exists. Only for the group's own
// children, which it reaps.
func gone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

// goneOrZombie reports whether pid has exited; an orphan may stay a zombie
// when PID 1 does not reap.
func goneOrZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(after, "Z") || strings.HasPrefix(after, "X")
}

var idPattern = regexp.MustCompile(`^i-[0-9a-f]{17}$`)

func TestGroupLaunchesAcrossAZs(t *testing.T) {
	h := start(t, nil)
	insts := h.waitInService(t, 2)

	wantAddr := map[string]string{
		"test-1a": fmt.Sprintf("127.0.77.10:%d", h.port),
		"test-1b": fmt.Sprintf("127.0.78.10:%d", h.port),
	}
	for _, inst := range insts {
		if !idPattern.MatchString(inst.ID) {
			t.Errorf("instance ID %q does not look like EC2's", inst.ID)
		}
		if inst.Addr != wantAddr[inst.AZ] {
			t.Errorf("%s in %s at %s, want %s", inst.ID, inst.AZ, inst.Addr, wantAddr[inst.AZ])
		}
		delete(wantAddr, inst.AZ)
		if inst.PID <= 0 || inst.LaunchedAt.IsZero() || inst.Health != Healthy {
			t.Errorf("incomplete instance %+v", inst)
		}

		var env map[string]string
		if err := json.Unmarshal([]byte(get(t, "http://"+inst.Addr+"/env")), &env); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"LISTENER":            inst.Addr, // it listens on its own address
			"HASTACK_LISTEN":      inst.Addr,
			"PORT":                strconv.Itoa(h.port),
			"HASTACK_REGION":      "test-1",
			"HASTACK_AZ":          inst.AZ,
			"HASTACK_INSTANCE_ID": inst.ID,
			"TEMPLATE_VAR":        "from-template",
			"BASE_VAR":            "from-base",
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s: %s=%q, want %q", inst.ID, k, env[k], v)
			}
		}

		log := filepath.Join(h.logDir, inst.ID+".log")
		fi, err := os.Stat(log)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", log, fi.Mode().Perm())
		}
		b, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range []string{"helper " + inst.ID + " starting on " + inst.Addr, "helper " + inst.ID + " stderr"} {
			if !strings.Contains(string(b), line) {
				t.Errorf("%s lacks %q; has:\n%s", log, line, b)
			}
		}
	}
	if len(wantAddr) != 0 {
		t.Errorf("no instance in %v", slices.Collect(maps.Keys(wantAddr)))
	}
	if fi, err := os.Stat(h.logDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("log directory: %v, %v; want mode 0700", fi.Mode().Perm(), err)
	}
	for _, kind := range []string{EventLaunch, EventInService} {
		if evs := h.events.of(kind); len(evs) != 2 || !strings.HasPrefix(evs[0].msg, "test-1 ") {
			t.Errorf("%s events: %v", kind, evs)
		}
	}
}

func TestGroupReplacesKilledInstance(t *testing.T) {
	h := start(t, nil)
	before := h.waitInService(t, 2)
	victim := before[0]

	if err := h.g.Kill(victim.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the killed instance terminated", func() bool {
		return slices.ContainsFunc(inState(h.g, Terminated), func(i Instance) bool { return i.ID == victim.ID })
	})
	after := h.waitInService(t, 2)
	for _, inst := range after {
		if inst.ID == victim.ID {
			t.Fatalf("killed instance %s still in service", victim.ID)
		}
		if inst.AZ == victim.AZ && inst.Addr != victim.Addr {
			t.Errorf("replacement %s at %s, want the freed %s", inst.ID, inst.Addr, victim.Addr)
		}
	}
	if azs := []string{after[0].AZ, after[1].AZ}; azs[0] == azs[1] {
		t.Errorf("replacement not balanced: both in %s", azs[0])
	}
	if got := inState(h.g, Terminated); len(got) != 1 || got[0].ID != victim.ID {
		t.Errorf("terminated instances %v, want %s", got, victim.ID)
	}
	if !gone(victim.PID) {
		t.Errorf("killed process %d still exists", victim.PID)
	}
	if _, calls := h.targets.snapshot(); !slices.Contains(calls, "deregister "+victim.ID) {
		t.Errorf("%s not deregistered: %v", victim.ID, calls)
	}
	exits := h.events.of(EventExit)
	if len(exits) != 1 || !strings.Contains(exits[0].msg, victim.ID) || !strings.Contains(exits[0].msg, "signal: killed") {
		t.Errorf("exit events %v", exits)
	}
	if strings.Contains(exits[0].msg, "next launch") {
		t.Errorf("an injected kill delayed the replacement: %s", exits[0].msg)
	}
	if err := h.g.Kill(victim.ID); err == nil {
		t.Error("killing a terminated instance succeeded")
	}
	if err := h.g.Kill("i-00000000000000000"); err == nil {
		t.Error("killing an unknown instance succeeded")
	}
}

func TestGroupSetDesired(t *testing.T) {
	h := start(t, nil)
	h.waitInService(t, 2)
	for _, n := range []int{0, 4, -1} {
		if err := h.g.SetDesired(n); err == nil {
			t.Errorf("SetDesired(%d) outside [1, 3] succeeded", n)
		}
	}

	if err := h.g.SetDesired(3); err != nil {
		t.Fatal(err)
	}
	insts := h.waitInService(t, 3)
	perAZ := map[string]int{}
	for _, inst := range insts {
		perAZ[inst.AZ]++
	}
	if perAZ["test-1a"] != 2 || perAZ["test-1b"] != 1 {
		t.Errorf("3 instances spread %v, want 2 in test-1a and 1 in test-1b", perAZ)
	}

	if err := h.g.SetDesired(1); err != nil {
		t.Fatal(err)
	}
	left := h.waitInService(t, 1)
	eventually(t, "two instances terminated", func() bool { return len(inState(h.g, Terminated)) == 2 })
	if left[0].AZ != "test-1a" || left[0].Addr != fmt.Sprintf("127.0.77.10:%d", h.port) {
		t.Errorf("kept %s at %s, want the oldest in test-1a", left[0].AZ, left[0].Addr)
	}
	if evs := h.events.of(EventTerminate); len(evs) != 2 {
		t.Errorf("terminate events %v", evs)
	}
	if evs := h.events.of(EventExit); len(evs) != 0 {
		t.Errorf("scale-in reported as unexpected exits: %v", evs)
	}
}

func TestGroupShutdownEndsEveryProcess(t *testing.T) {
	for _, ignoreTerm := range []bool{false, true} {
		t.Run(fmt.Sprintf("ignore SIGTERM %v", ignoreTerm), func(t *testing.T) {
			h := start(t, func(c *Config) {
				c.Env = append(c.Env, "HASTACK_ASG_TEST_CHILD=1")
				if ignoreTerm {
					c.Env = append(c.Env, "HASTACK_ASG_TEST_IGNORE_TERM=1")
				}
				c.StopTimeout = 300 * time.Millisecond
			})
			insts := h.waitInService(t, 2)
			var children []int
			for _, inst := range insts {
				pid, err := strconv.Atoi(get(t, "http://"+inst.Addr+"/child"))
				if err != nil || pid <= 0 {
					t.Fatalf("child of %s: %d, %v", inst.ID, pid, err)
				}
				children = append(children, pid)
			}
			if err := h.g.Run(context.Background()); err == nil {
				t.Error("a second Run succeeded")
			}

			h.stop()

			for _, inst := range h.g.Instances() {
				if inst.State != Terminated {
					t.Errorf("%s is %s after Run returned", inst.ID, inst.State)
				}
			}
			for _, inst := range insts {
				if !gone(inst.PID) {
					t.Errorf("instance process %d outlived Run", inst.PID)
				}
			}
			// SIGKILL has been sent to the whole group; the children, which
			// are not the group's to reap, die as soon as the kernel delivers it.
			eventually(t, "children of the instances gone", func() bool {
				return !slices.ContainsFunc(children, func(pid int) bool { return !goneOrZombie(pid) })
			})
			if registered, _ := h.targets.snapshot(); len(registered) != 0 {
				t.Errorf("still registered after shutdown: %v", registered)
			}
			if evs := h.events.of(EventTerminate); len(evs) != 2 {
				t.Errorf("terminate events %v", evs)
			}
			if evs := h.events.of(EventExit); len(evs) != 0 {
				t.Errorf("shutdown reported as unexpected exits: %v", evs)
			}
		})
	}
}

func TestGroupBacksOffWhenInstancesCrash(t *testing.T) {
	h := start(t, func(c *Config) {
		c.Env = []string{"HASTACK_ASG_TEST_HELPER=exit"}
		c.Group.Desired = 1
	})
	eventually(t, "two launches", func() bool { return len(h.events.of(EventLaunch)) >= 2 })
	launches := h.events.of(EventLaunch)
	if gap := launches[1].at.Sub(launches[0].at); gap < 900*time.Millisecond {
		t.Errorf("relaunched %s after a crash, want a back-off of about 1s", gap)
	}
	exits := h.events.of(EventExit)
	if len(exits) == 0 || !strings.Contains(exits[0].msg, "exit status 3") || !strings.Contains(exits[0].msg, "next launch in 1s") {
		t.Errorf("exit events %v", exits)
	}
	if _, calls := h.targets.snapshot(); len(calls) != 0 {
		t.Errorf("crashing instances touched the load balancer: %v", calls)
	}
}

func TestGroupRetriesMissingCommand(t *testing.T) {
	h := start(t, func(c *Config) { c.Command = "/nonexistent/hastack-asg-test" })
	eventually(t, "a failed launch", func() bool { return len(h.events.of(EventLaunchFailed)) >= 1 })
	ev := h.events.of(EventLaunchFailed)[0]
	if !strings.Contains(ev.msg, "/nonexistent/hastack-asg-test") || !strings.Contains(ev.msg, "retrying in 1s") {
		t.Errorf("launch failure event: %s", ev.msg)
	}
	if insts := h.g.Instances(); len(insts) != 0 {
		t.Errorf("instances without a process: %v", insts)
	}
	h.stop()
	if entries, _ := os.ReadDir(h.logDir); len(entries) != 0 {
		t.Errorf("log files for instances never started: %v", entries)
	}
}

func TestGroupReplacesInstanceThatNeverListens(t *testing.T) {
	h := start(t, func(c *Config) {
		c.Env = []string{"HASTACK_ASG_TEST_HELPER=sleep"}
		c.Group.Desired = 1
		c.StartTimeout = 200 * time.Millisecond
		c.StopTimeout = 100 * time.Millisecond
	})
	eventually(t, "the silent instance replaced", func() bool {
		return len(h.events.of(EventTerminate)) >= 1 && len(h.events.of(EventLaunch)) >= 2
	})
	if ev := h.events.of(EventTerminate)[0]; !strings.Contains(ev.msg, "unhealthy: not accepting connections") {
		t.Errorf("terminate event: %s", ev.msg)
	}
	if _, calls := h.targets.snapshot(); len(calls) != 0 {
		t.Errorf("an instance that never listened touched the load balancer: %v", calls)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	good := func() Config {
		return Config{
			Region:  "r",
			Group:   spec.AutoScaling{Min: 1, Max: 2, Desired: 1, LaunchTemplate: spec.LaunchTemplate{Port: 8080}},
			AZs:     []AZ{{Name: "a", Addrs: addrs("127.0.77.")}},
			Command: "/bin/true",
			LogDir:  "/tmp/x",
		}
	}
	if _, err := New(good()); err != nil {
		t.Fatalf("good config: %v", err)
	}
	tests := map[string]func(*Config){
		"no region":            func(c *Config) { c.Region = "" },
		"no command":           func(c *Config) { c.Command = "" },
		"no log dir":           func(c *Config) { c.LogDir = "" },
		"no AZs":               func(c *Config) { c.AZs = nil },
		"AZ without addresses": func(c *Config) { c.AZs[0].Addrs = nil },
		"AZ without name":      func(c *Config) { c.AZs[0].Name = "" },
		"AZ twice":             func(c *Config) { c.AZs = append(c.AZs, c.AZs[0]) },
		"invalid address":      func(c *Config) { c.AZs[0].Addrs = []netip.Addr{{}} },
		"max below min":        func(c *Config) { c.Group.Max = 0 },
		"desired above max":    func(c *Config) { c.Group.Desired = 3 },
		"desired below min":    func(c *Config) { c.Group.Desired = 0 },
		"no port":              func(c *Config) { c.Group.LaunchTemplate.Port = 0 },
		"ELB without targets":  func(c *Config) { c.Group.HealthCheckType = HealthCheckELB },
		"unknown health check": func(c *Config) { c.Group.HealthCheckType = "TCP" },
		"negative grace":       func(c *Config) { c.Group.HealthCheckGracePeriod = -time.Second },
		"bad scale-out policy": func(c *Config) { c.Group.ScaleOut = spec.ScalingPolicy{Period: time.Second} },
	}
	for name, edit := range tests {
		c := good()
		edit(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}
