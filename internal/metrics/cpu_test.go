package metrics

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// fakeProc is a proc filesystem in a directory.
type fakeProc struct {
	t   *testing.T
	dir string
}

// set writes pid's stat with the given parent, process group, start time
// and the four CPU times (utime, stime, cutime, cstime) in ticks.
func (p fakeProc) set(pid, ppid, pgrp int, start uint64, times [4]uint64) {
	p.t.Helper()
	dir := filepath.Join(p.dir, fmt.Sprint(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	// The command name holds a space and a parenthesis, as it may.
	stat := fmt.Sprintf("%d (we) ird) S %d %d %d 0 -1 4194560 100 0 0 0 %d %d %d %d 20 0 1 0 %d 1000000 100\n",
		pid, ppid, pgrp, pgrp, times[0], times[1], times[2], times[3], start)
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func (p fakeProc) remove(pid int) {
	p.t.Helper()
	if err := os.RemoveAll(filepath.Join(p.dir, fmt.Sprint(pid))); err != nil {
		p.t.Fatal(err)
	}
}

func near(got, want float64) bool { return math.Abs(got-want) < 1e-9 }

func TestSamplerFromProcTable(t *testing.T) {
	p := fakeProc{t, t.TempDir()}
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	s := newSampler(p.dir, func() time.Time { return now }, 100)
	if err := os.WriteFile(filepath.Join(p.dir, "self"), nil, 0o644); err != nil { // not a PID: skipped
		t.Fatal(err)
	}

	// Tree 100: the leader; 101, a child in its process group; 102, a child
	// in a group of its own, and 105, its child; 103, a process that joined
	// the leader's group from elsewhere (ppid 1). Tree 200: a leader alone.
	// 300: unrelated.
	p.set(100, 1, 100, 5000, [4]uint64{10, 10, 0, 0})
	p.set(101, 100, 100, 5001, [4]uint64{0, 0, 0, 0})
	p.set(102, 100, 102, 5002, [4]uint64{0, 0, 0, 0})
	p.set(103, 1, 100, 5003, [4]uint64{0, 0, 0, 0})
	p.set(105, 102, 102, 5005, [4]uint64{0, 0, 0, 0})
	p.set(200, 1, 200, 6000, [4]uint64{7, 0, 0, 0})
	p.set(300, 1, 300, 7000, [4]uint64{0, 0, 0, 0})

	if got := s.Sample([]int{100, 200}); len(got) != 0 {
		t.Fatalf("first sample has values: %v", got)
	}

	// 2 s later: the leader used 20 ticks, 101 50, 102 30 (system), 103 10,
	// 105 10; 200 used 40; 300 used 1000, and counts for nobody.
	now = now.Add(2 * time.Second)
	p.set(100, 1, 100, 5000, [4]uint64{30, 10, 0, 0})
	p.set(101, 100, 100, 5001, [4]uint64{50, 0, 0, 0})
	p.set(102, 100, 102, 5002, [4]uint64{0, 30, 0, 0})
	p.set(103, 1, 100, 5003, [4]uint64{10, 0, 0, 0})
	p.set(105, 102, 102, 5005, [4]uint64{5, 5, 0, 0})
	p.set(200, 1, 200, 6000, [4]uint64{47, 0, 0, 0})
	p.set(300, 1, 300, 7000, [4]uint64{1000, 0, 0, 0})
	got := s.Sample([]int{100, 200})
	// 120 ticks = 1.2 s of CPU in 2 s = 60%; 40 ticks = 0.4 s in 2 s = 20%.
	if len(got) != 2 || !near(got[100], 60) || !near(got[200], 20) {
		t.Fatalf("Sample = %v, want 100:60 200:20", got)
	}

	// 1 s later: 101 exited after 20 more ticks and the leader reaped it
	// (its time moves to the leader's cutime); a new child 104 used 10.
	now = now.Add(time.Second)
	p.remove(101)
	p.set(100, 1, 100, 5000, [4]uint64{30, 10, 70, 0})
	p.set(104, 100, 100, 5004, [4]uint64{10, 0, 0, 0})
	got = s.Sample([]int{100, 200})
	// 20 + 10 ticks in 1 s = 30%; 200 used nothing.
	if len(got) != 2 || !near(got[100], 30) || !near(got[200], 0) {
		t.Fatalf("Sample = %v, want 100:30 200:0", got)
	}

	// Sampling again at the same instant keeps measuring from before.
	if got := s.Sample([]int{100}); len(got) != 0 {
		t.Errorf("a sample at the same instant has values: %v", got)
	}

	// A process that left without being reaped inside the tree takes its
	// time along: never a negative value.
	now = now.Add(time.Second)
	p.remove(102)
	got = s.Sample([]int{100})
	if !near(got[100], 0) {
		t.Errorf("after losing a member: %v, want 100:0", got)
	}

	// The leader's PID reused by another process: a new baseline.
	now = now.Add(time.Second)
	p.set(100, 1, 100, 9999, [4]uint64{500, 0, 0, 0})
	if got := s.Sample([]int{100}); len(got) != 0 {
		t.Errorf("a reused PID has a value: %v", got)
	}

	// A root that is gone has no value.
	now = now.Add(time.Second)
	p.remove(200)
	if got := s.Sample([]int{100, 200}); len(got) != 1 {
		t.Errorf("Sample = %v, want only 100", got)
	}

	// Another caller sharing the sampler leaves 100 out: 100 keeps its
	// baseline, and its next value covers the whole time since.
	now = now.Add(time.Second)
	p.set(300, 1, 300, 7000, [4]uint64{1000, 0, 0, 0})
	s.Sample([]int{300})
	now = now.Add(time.Second)
	p.set(100, 1, 100, 9999, [4]uint64{600, 0, 0, 0})
	if got := s.Sample([]int{100}); !near(got[100], 50) { // 100 ticks in 2 s
		t.Errorf("Sample = %v, want 100:50", got)
	}

	// Baselines of processes that are gone are dropped.
	for _, pid := range []int{100, 103, 104, 105, 300} {
		p.remove(pid)
	}
	s.Sample(nil)
	if len(s.prev) != 0 {
		t.Errorf("baselines of gone processes kept: %v", s.prev)
	}
}

func TestParseStatRejectsGarbage(t *testing.T) {
	for _, b := range []string{"", "1 (x", "1 (x) S 1 2", "1 (x) S a b c d e f g h i j k l m n o p q r s t u"} {
		if _, ok := parseStat([]byte(b)); ok {
			t.Errorf("parsed %q", b)
		}
	}
}

// startHelper runs the test binary as a helper in a process group of its
// own and returns its PID; it is killed, with its group, when the test ends.
func startHelper(t *testing.T, mode string) int {
	t.Helper()
	c := exec.Command(os.Args[0])
	c.Env = append(os.Environ(), "HASTACK_METRICS_TEST_HELPER="+mode)
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		_ = c.Wait()
	})
	return c.Process.Pid
}

// TestSamplerMeasuresRealProcessTree: a helper whose child spins one core
// shows up busy; an idle one does not. The bounds are loose: the machine
// is shared.
func TestSamplerMeasuresRealProcessTree(t *testing.T) {
	if clockTicks() <= 0 {
		t.Fatal("no clock ticks")
	}
	busy := startHelper(t, "parent")
	idle := startHelper(t, "idle")
	s := NewSampler()
	roots := []int{busy, idle}
	s.Sample(roots)

	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var got map[int]float64
	for {
		<-tick.C
		got = s.Sample(roots)
		if got[busy] > 40 && got[idle] < 20 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("last sample %v: want the busy tree (%d) above 40%% and the idle one (%d) below 20%%", got, busy, idle)
		}
	}
}

func TestClockTicks(t *testing.T) {
	if hz := clockTicks(); hz < 10 || hz > 10000 {
		t.Errorf("clock ticks per second: %v", hz)
	}
}
