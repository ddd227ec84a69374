package asg

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// exitWatch records when each of a set of processes exits, from pidfds
// polled by one goroutine: a pidfd turns readable when its process dies,
// whether or not it has been reaped yet.
type exitWatch struct {
	done chan struct{}
	at   map[int]time.Time // by pid; complete once done is closed
	err  error
}

func watchExits(t *testing.T, pids []int) *exitWatch {
	t.Helper()
	w := &exitWatch{done: make(chan struct{}), at: map[int]time.Time{}}
	fds := make([]unix.PollFd, 0, len(pids))
	byFD := map[int32]int{}
	for _, pid := range pids {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			t.Fatalf("pidfd_open %d: %v", pid, err)
		}
		fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		byFD[int32(fd)] = pid
	}
	go func() {
		defer close(w.done)
		// At real-time priority where permitted, so that the stamps are
		// taken as the exits happen, not when a busy machine gets round
		// to it. Never unlocked: the thread ends with the goroutine.
		runtime.LockOSThread()
		_ = unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}, 0)
		defer func() {
			for fd := range byFD {
				unix.Close(int(fd))
			}
		}()
		deadline := time.Now().Add(30 * time.Second)
		for len(fds) > 0 {
			if time.Now().After(deadline) {
				w.err = errors.New("processes still running 30s later")
				return
			}
			n, err := unix.Poll(fds, 100)
			now := time.Now()
			if errors.Is(err, unix.EINTR) || n == 0 {
				continue
			}
			if err != nil {
				w.err = err
				return
			}
			fds = slices.DeleteFunc(fds, func(p unix.PollFd) bool {
				if p.Revents == 0 {
					return false
				}
				w.at[byFD[p.Fd]] = now
				return true
			})
		}
	}()
	return w
}

// termFiles lists the files instances wrote on SIGTERM into dir.
func termFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// writableDir returns a directory instances running as another user may
// write in.
func writableDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(openDir(t), "w")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestGroupCrash: Crash kills every instance with SIGKILL in the same
// instant; no SIGTERM handler runs, nothing is
// deregistered or drained, and nothing is replaced until Resume. After
// Resume the group launches to desired capacity again, and the same
// handler does run on a graceful stop, so its silence above means
// something.
func TestGroupCrash(t *testing.T) {
	termDir := writableDir(t)
	h := start(t, func(c *Config) {
		c.Group.Min, c.Group.Max, c.Group.Desired = 1, 3, 3
		c.Env = append(c.Env, "HASTACK_ASG_TEST_TERM_DIR="+termDir)
		c.StopTimeout = 10 * time.Second // a graceful stop must not need SIGKILL
	})
	insts := h.waitInService(t, 3)
	var pids []int
	for _, in := range insts {
		pids = append(pids, in.PID)
	}
	w := watchExits(t, pids)

	rep, err := h.g.Crash()
	if err != nil {
		t.Fatal(err)
	}
	returned := time.Now()
	<-w.done
	if w.err != nil {
		t.Fatal(w.err)
	}
	var first, last time.Time
	for _, pid := range pids {
		at := w.at[pid]
		if first.IsZero() || at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	spread := last.Sub(first)
	t.Logf("SIGKILL to 3 instances within %s; they exited within %s of each other; Crash returned %s after the first exit",
		rep.Spread, spread, returned.Sub(first))
	// The signals leave together (at real-time priority as root, so the
	// first victims cannot preempt the sender; without it the sender can
	// lose the CPU for a few milliseconds). The exits follow as each
	// victim gets a CPU to die on: 1 to 16 ms apart on a shared two-core
	// machine at a load of 8, under the race detector.
	signalBound := 2 * time.Millisecond
	if os.Geteuid() != 0 {
		signalBound = 20 * time.Millisecond
	}
	if rep.Spread > signalBound || rep.At.After(first) || len(rep.Instances) != 3 {
		t.Errorf("Crash = %+v; want SIGKILL to 3 instances within %s before the first exit at %s", rep, signalBound, first.Format(time.StampMicro))
	}
	if spread > 50*time.Millisecond {
		t.Errorf("instances exited %s apart, want within a few milliseconds", spread)
	}

	// Crash returned with every instance reaped and terminated.
	for _, in := range insts {
		got, _ := instance(h.g, in.ID)
		if got.State != Terminated || !gone(in.PID) {
			t.Errorf("%s is %s after Crash returned (process gone: %v)", in.ID, got.State, gone(in.PID))
		}
	}
	if files := termFiles(t, termDir); len(files) != 0 {
		t.Errorf("a SIGTERM handler ran in %v", files)
	}
	exits := h.events.of(EventExit)
	if len(exits) != 3 {
		t.Errorf("exit events %v", exits)
	}
	for _, e := range exits {
		if !strings.Contains(e.msg, "signal: killed") || strings.Contains(e.msg, "next launch") {
			t.Errorf("exit event %s", e.msg)
		}
	}
	if ev := h.events.of(EventCrash); len(ev) != 1 || !strings.Contains(ev[0].msg, "SIGKILL to 3 instances") {
		t.Errorf("crash events %v", ev)
	}
	if ev := h.events.of(EventTerminate); len(ev) != 0 {
		t.Errorf("a crash terminated instances gracefully: %v", ev)
	}
	if _, calls := h.targets.snapshot(); slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "deregister ") }) {
		t.Errorf("a crash told the load balancer: %v", calls)
	}
	if st := h.g.Status(); !st.Crashed || st.InService+st.Pending+st.Terminating != 0 {
		t.Errorf("status after Crash %+v", st)
	}
	if _, err := h.g.Crash(); err == nil {
		t.Error("crashing a crashed group succeeded")
	}

	// Nothing is replaced while crashed, though the group is poked (each
	// exit, and a change of desired capacity) and its timers run.
	if err := h.g.SetDesired(2); err != nil {
		t.Fatal(err)
	}
	hold := time.NewTimer(time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-hold.C:
			waiting = false
		case <-tick.C:
			if n := len(h.events.of(EventLaunch)); n != 3 || len(h.g.Instances()) != 3 {
				t.Fatalf("a crashed group launched: %d launches, instances %+v", n, h.g.Instances())
			}
		}
	}

	if err := h.g.Resume(); err != nil {
		t.Fatal(err)
	}
	if err := h.g.Resume(); err == nil {
		t.Error("resuming a running group succeeded")
	}
	after := h.waitInService(t, 2) // the lost instances deregistered, two new ones registered
	for _, in := range after {
		if slices.ContainsFunc(insts, func(old Instance) bool { return old.ID == in.ID }) {
			t.Errorf("%s in service again after its crash", in.ID)
		}
	}
	if st := h.g.Status(); st.Crashed {
		t.Errorf("still crashed after Resume: %+v", st)
	}

	// The handler works: a graceful stop runs it on each new instance.
	h.stop()
	files := termFiles(t, termDir)
	slices.Sort(files)
	want := []string{after[0].ID, after[1].ID}
	slices.Sort(want)
	if !slices.Equal(files, want) {
		t.Errorf("SIGTERM handler wrote %v on a graceful stop, want %v", files, want)
	}
}

// TestGroupCrashThenStop: Crash kills what the instances started too (their
// whole process groups); and what the stack does when a crashed region is
// stopped for good: after Crash, Run returns at once, sends no SIGTERM and
// tells the load balancer nothing.
func TestGroupCrashThenStop(t *testing.T) {
	h := start(t, func(c *Config) {
		c.Env = append(c.Env, "HASTACK_ASG_TEST_IGNORE_TERM=1", "HASTACK_ASG_TEST_CHILD=1")
		c.StopTimeout = 10 * time.Second
	})
	var children []int
	for _, in := range h.waitInService(t, 2) {
		child, err := strconv.Atoi(get(t, "http://"+in.Addr+"/child"))
		if err != nil || child <= 0 {
			t.Fatalf("child of %s: %d, %v", in.ID, child, err)
		}
		children = append(children, child)
	}
	if _, err := h.g.Crash(); err != nil {
		t.Fatal(err)
	}
	// SIGKILL went to the whole groups; the children, not the group's to
	// reap, die as soon as the kernel delivers it.
	eventually(t, "the instances' children gone", func() bool {
		return !slices.ContainsFunc(children, func(pid int) bool { return !goneOrZombie(pid) })
	})
	began := time.Now()
	h.stop()
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("Run took %s to return after a crash", d)
	}
	if ev := h.events.of(EventTerminate); len(ev) != 0 {
		t.Errorf("terminate events after a crash %v", ev)
	}
	if _, calls := h.targets.snapshot(); slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "deregister ") }) {
		t.Errorf("the load balancer was told: %v", calls)
	}
	if n := len(inState(h.g, Terminated)); n != 2 || len(h.g.Instances()) != 2 {
		t.Errorf("instances after stop %+v", h.g.Instances())
	}
}

// TestRealtimePriorityKeepsChildren: the thread that sent a crash's
// signals at real-time priority goes back to the pool; it does not end,
// which would SIGKILL every child forked from it with Pdeathsig (a full
// test run saw a database primary die so, seconds before the region's
// crash reached it).
func TestRealtimePriorityKeepsChildren(t *testing.T) {
	started := make(chan *exec.Cmd, 1)
	var spawn func()
	spawn = func() {
		// The child and the real-time section on one thread, which the
		// goroutine leaves as it ends. Not the main thread, which Go
		// never ends: the test would prove nothing there.
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			go spawn()
			return
		}
		cmd := exec.Command("sleep", "60")
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Error(err)
			started <- nil
			return
		}
		atRealtimePriority(func() {})
		runtime.UnlockOSThread()
		started <- cmd
	}
	go spawn()
	cmd := <-started
	if cmd == nil {
		return
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// A thread that ends takes its Pdeathsig children at once; half a
	// second, many times that, shows it did not.
	select {
	case err := <-exited:
		t.Fatalf("the child forked on the real-time thread exited (%v): the thread ended", err)
	case <-time.After(500 * time.Millisecond):
	}
	cmd.Process.Kill()
	<-exited
}
