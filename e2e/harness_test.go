package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/hastack/hastack/internal/ledger"
	"github.com/hastack/hastack/internal/stack"
	"github.com/hastack/hastack/internal/testenv"
)

// binary is the hastack binary built once for all tests.
var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// run builds hastack, then runs the tests; each test says what it needs
// of the machine (newEnv: PostgreSQL) and is skipped, with the reason,
// or fails when that is missing.
func run(m *testing.M) int {
	// A directory closed to others, as a build under /root would be: the
	// stack copies itself where its unprivileged instances can run it.
	dir, err := os.MkdirTemp("", "hastack-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "hastack")
	build := exec.Command("go", "build", "-o", binary, "../cmd/hastack")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hastack:", err)
		return 1
	}
	code := m.Run()
	// The failed tests' stack logs come last, after every test's verdict:
	// a reader of a truncated log sees each failure's own lines first and
	// the last stack's final events at the end.
	if dumps := failureDumps.String(); dumps != "" {
		fmt.Printf("\n=== what the stacks of failed tests logged ===\n%s", dumps)
	}
	return code
}

// failureDumps collects, per failed test, its stack's events and the
// last lines of its database logs, for run to print at the end.
var failureDumps dumpBuffer

type dumpBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (d *dumpBuffer) add(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintf(&d.b, format, args...)
}

func (d *dumpBuffer) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.b.String()
}

// env is one stack under test: its own stack file and state directory.
type env struct {
	t        *testing.T
	file     string
	stateDir string
	dnsAddr  string
	// eventsLogged: a failed test's events are in its log already.
	eventsLogged bool
}

// newEnv copies an example stack file with the DNS server moved to a free
// port, and a state directory the unprivileged database user can traverse.
func newEnv(t *testing.T, example string) *env {
	t.Helper()
	testenv.RequirePostgres(t) // every example has a database
	root, err := os.MkdirTemp("", "hastack-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	src, err := os.ReadFile(filepath.Join("..", "examples", example, "stack.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	dnsAddr := freeDNSAddr(t)
	text := strings.Replace(string(src), `"127.0.0.1:5353"`, fmt.Sprintf("%q", dnsAddr), 1)
	if !strings.Contains(text, dnsAddr) {
		t.Fatalf("examples/%s/stack.hcl has no listen = \"127.0.0.1:5353\" to move", example)
	}
	e := &env{t: t, file: filepath.Join(root, "stack.hcl"), stateDir: filepath.Join(root, "state"), dnsAddr: dnsAddr}
	if err := os.WriteFile(e.file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.forceDown)
	t.Cleanup(e.logEventsIfFailed) // before the stack goes down
	return e
}

// logEventsIfFailed keeps the stack's event log and the last lines of
// its database logs when the test failed, so that a failure seen once (on
// a loaded machine, say) can be told from them: the directory with the
// state is gone after the test. They are printed after all tests.
func (e *env) logEventsIfFailed() {
	if !e.t.Failed() || e.eventsLogged {
		return
	}
	if _, err := os.Stat(e.stateDir); err != nil {
		return
	}
	e.eventsLogged = true
	e.t.Logf("the stack's events and database logs are printed after all tests")
	var dump strings.Builder
	fmt.Fprintf(&dump, "\n--- %s\n", e.t.Name())
	// The database servers' own words (a hung start, a refused login)
	// are often what the events cannot tell.
	logs, _ := filepath.Glob(filepath.Join(e.stateDir, "db", "*", "*.log"))
	for _, name := range logs {
		text, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(text), "\n"), "\n")
		fmt.Fprintf(&dump, "last lines of %s:\n%s\n", strings.TrimPrefix(name, e.stateDir+"/"), strings.Join(lines[max(0, len(lines)-25):], "\n"))
	}
	// The events last: their end is what a truncated log keeps.
	out, _, _ := e.hastack("events")
	fmt.Fprintf(&dump, "events of the stack (%s):\n%s", e.t.Name(), out)
	failureDumps.add("%s", dump.String())
}

// freeDNSAddr finds a port free for both UDP and TCP on 127.0.0.1, below
// the kernel's ephemeral range (32768 and up), so no outgoing connection
// of another test can take it between this check and the stack binding it.
func freeDNSAddr(t *testing.T) string {
	t.Helper()
	for range 200 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			continue
		}
		ln, err := net.Listen("tcp", addr)
		pc.Close()
		if err != nil {
			continue
		}
		ln.Close()
		return addr
	}
	t.Fatal("no free port for the DNS server")
	return ""
}

// hastack runs the binary and returns its stdout, stderr and exit code.
// A command gets 5 minutes: a drill that goes wrong waits out each of its
// phases (the failback drill's restore and rejoin alone up to 63 s and
// 90 s on quick) and should still report what it saw.
func (e *env) hastack(args ...string) (string, string, int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args = append(args, "-f", e.file, "--state-dir", e.stateDir)
	cmd := exec.CommandContext(ctx, binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			e.t.Fatalf("hastack %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return stdout.String(), stderr.String(), code
}

// must runs hastack and fails the test unless it exits 0.
func (e *env) must(args ...string) string {
	e.t.Helper()
	if len(args) > 0 && args[0] == "down" {
		// A test that failed and goes on to take its stack down would
		// leave no events for logEventsIfFailed.
		e.logEventsIfFailed()
	}
	out, errOut, code := e.hastack(args...)
	if code != 0 {
		e.t.Fatalf("hastack %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

func (e *env) status() stack.Status {
	e.t.Helper()
	var st stack.Status
	if err := json.Unmarshal([]byte(e.must("status", "--json")), &st); err != nil {
		e.t.Fatalf("status --json is not JSON: %v", err)
	}
	return st
}

// forceDown stops the stack if a failed test left it running, and kills the
// stack process if even that fails, so no test leaks processes.
func (e *env) forceDown() {
	p := stack.Paths{Dir: e.stateDir}
	if p.Running() {
		e.hastack("down")
		if rec, err := p.ReadRecord(); err == nil && p.Running() {
			_ = syscall.Kill(rec.PID, syscall.SIGKILL)
		}
	}
	// Whatever still runs from the state directory (a database server)
	// outlived its stack: that fails this test, and is killed so that it
	// does not hold its addresses against the next one.
	deadline := time.Now().Add(10 * time.Second)
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	left := processesUnder(e.stateDir)
	for len(left) > 0 && time.Now().Before(deadline) {
		<-poll.C
		left = processesUnder(e.stateDir)
	}
	if len(left) == 0 {
		return
	}
	e.t.Errorf("still running 10 s after the stack went down:\n%s", strings.Join(left, "\n"))
	for _, l := range left {
		pid, _, _ := strings.Cut(l, " ")
		if n, err := strconv.Atoi(pid); err == nil {
			_ = syscall.Kill(n, syscall.SIGKILL)
		}
	}
}

// processesUnder lists, as "pid command line", the processes whose
// command line names a path under dir.
func processesUnder(dir string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		cmd := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		if strings.Contains(cmd, dir+"/") {
			pid := filepath.Base(filepath.Dir(f))
			if n, _ := strconv.Atoi(pid); alive(n) {
				out = append(out, pid+" "+cmd)
			}
		}
	}
	return out
}

// resolve asks the hastack DNS server for name's A record over UDP.
func (e *env) resolve(name string) (net.IP, uint32, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	c := &dns.Client{Net: "udp", Timeout: time.Second}
	in, _, err := c.Exchange(m, e.dnsAddr)
	if err != nil {
		return nil, 0, err
	}
	if in.Rcode != dns.RcodeSuccess || len(in.Answer) == 0 {
		return nil, 0, fmt.Errorf("answer %s with %d records", dns.RcodeToString[in.Rcode], len(in.Answer))
	}
	a, ok := in.Answer[0].(*dns.A)
	if !ok {
		return nil, 0, fmt.Errorf("first answer is %T, not A", in.Answer[0])
	}
	return a.A, a.Hdr.Ttl, nil
}

// waitFor polls cond every 20ms until it holds or the deadline passes, and
// returns how long it took.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	return testenv.WaitFor(t, what, within, cond)
}

// alive reports whether a process has not yet exited. A zombie has exited:
// what is left is only its parent's to reap.
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state letter follows the command name in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// runLedger starts a ledger of cfg writing until the returned stop is
// called (stop returns Run's error; later calls return it again) or the
// test ends.
func runLedger(t *testing.T, cfg ledger.Config) (*ledger.Ledger, func() error) {
	t.Helper()
	l, err := ledger.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	stop := sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() { _ = stop() })
	return l, stop
}
