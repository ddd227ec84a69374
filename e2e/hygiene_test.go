package e2e

import (
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stackPIDs lists every process the running stack owns: the stack process,
// its instances and its PostgreSQL postmasters.
func (e *env) stackPIDs() []int {
	e.t.Helper()
	st := e.status()
	pids := []int{st.PID}
	for _, r := range st.Regions {
		for _, in := range r.Instances {
			if in.State != "terminated" {
				pids = append(pids, in.PID)
			}
		}
	}
	return append(pids, postmasterPIDs(e.t, e.stateDir)...)
}

func allGone(pids []int) func() bool {
	return func() bool {
		for _, pid := range pids {
			if alive(pid) {
				return false
			}
		}
		return true
	}
}

// TestKilledStackTakesEverythingWithIt kills the stack process with SIGKILL,
// which gives it no chance to clean up: the kernel's parent-death signal must
// still take every instance and the database down, and the next up must
// start cleanly over what was left on disk.
func TestKilledStackTakesEverythingWithIt(t *testing.T) {
	e := newEnv(t, "quick")
	e.must("up", "-d")

	// A second up on a running stack says so instead of starting twice.
	_, stderr, code := e.hastack("up", "-d")
	if code != 1 || !strings.Contains(stderr, "stack quick is already running") {
		t.Fatalf("second up: exit %d, stderr %q", code, stderr)
	}

	pids := e.stackPIDs()
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every process of the killed stack exits", 20*time.Second, allGone(pids))

	e.must("up", "-d")
	if st := e.status(); !st.Ready {
		t.Fatal("stack not ready after restarting over a killed one")
	}
	pids = e.stackPIDs()
	e.must("down", "--purge")
	waitFor(t, "every process exits after down", 10*time.Second, allGone(pids))
}

// TestPortInUse: a taken address is named in one sentence, and nothing is
// left running or locked.
func TestPortInUse(t *testing.T) {
	e := newEnv(t, "quick")
	pc, err := net.ListenPacket("udp", e.dnsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	_, stderr, code := e.hastack("up", "-d")
	want := "DNS address " + e.dnsAddr + " is already in use"
	if code != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("up with the DNS port taken: exit %d, stderr %q; want %q", code, stderr, want)
	}
	if strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("want one line on stderr, got %q", stderr)
	}
	if _, _, code := e.hastack("status"); code != 1 {
		t.Fatal("status reports a running stack after a failed up")
	}
}
