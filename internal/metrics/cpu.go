package metrics

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Sampler measures the CPU used by process trees, each named by the PID of
// its root: the root, every process in the root's process group, and every
// descendant of either. A tree's CPU time is the user and system time of
// its live members plus that of their children they have reaped
// (utime+stime+cutime+cstime in /proc/<pid>/stat), so a short-lived child
// is counted once its parent waits for it.
//
// One Sample reads the process table once, however many trees it measures.
// A Sampler is safe for concurrent use.
type Sampler struct {
	proc string           // the proc filesystem's mount point
	now  func() time.Time // wall clock
	hz   float64          // clock ticks per second

	mu   sync.Mutex
	prev map[int]reading // by root PID
}

// reading is a tree's cumulative CPU time at one instant.
type reading struct {
	start uint64 // the root's start time, telling a reused PID apart
	ticks uint64
	at    time.Time
}

// NewSampler returns a Sampler reading /proc with the system clock.
func NewSampler() *Sampler {
	return newSampler("/proc", time.Now, clockTicks())
}

func newSampler(proc string, now func() time.Time, hz float64) *Sampler {
	return &Sampler{proc: proc, now: now, hz: hz, prev: map[int]reading{}}
}

// Sample returns, for each root PID, the CPU its tree used since the
// previous Sample that included it, in percent of one core (200 is two
// cores busy). A root seen for the first time, or whose process is gone,
// has no entry. Callers may share a Sampler: each root keeps its own
// baseline, dropped once its process is gone.
func (s *Sampler) Sample(roots []int) map[int]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	procs := readProcs(s.proc)
	now := s.now()
	totals := treeTicks(procs, roots)

	out := make(map[int]float64, len(roots))
	for _, root := range roots {
		leader, ok := procs[root]
		if !ok {
			delete(s.prev, root)
			continue
		}
		cur := reading{start: leader.start, ticks: totals[root], at: now}
		p, had := s.prev[root]
		s.prev[root] = cur
		if !had || p.start != cur.start {
			continue
		}
		secs := cur.at.Sub(p.at).Seconds()
		if secs <= 0 {
			s.prev[root] = p // too soon: keep measuring from the older reading
			continue
		}
		used := 0.0
		if cur.ticks > p.ticks { // a member reaped outside the tree takes its time along
			used = float64(cur.ticks-p.ticks) / s.hz
		}
		out[root] = used / secs * 100
	}
	for root, r := range s.prev {
		if st, ok := procs[root]; !ok || st.start != r.start {
			delete(s.prev, root)
		}
	}
	return out
}

// procStat is what the sampler needs of one /proc/<pid>/stat.
type procStat struct {
	ppid, pgrp int
	ticks      uint64 // utime + stime + cutime + cstime
	start      uint64 // starttime, in ticks after boot
}

// treeTicks adds up each root's tree: processes whose process group is a
// root's, or that descend from such a process or from a root.
func treeTicks(procs map[int]procStat, roots []int) map[int]uint64 {
	isRoot := make(map[int]bool, len(roots))
	for _, r := range roots {
		isRoot[r] = true
	}
	owner := make(map[int]int, len(procs)) // PID -> root, 0 for none
	var find func(pid, depth int) int
	find = func(pid, depth int) int {
		if r, ok := owner[pid]; ok {
			return r
		}
		st, ok := procs[pid]
		r := 0
		switch {
		case !ok || depth > 64: // outside the table, or a loop from PID reuse
		case isRoot[pid]:
			r = pid
		case isRoot[st.pgrp]:
			r = st.pgrp
		case st.ppid > 1:
			r = find(st.ppid, depth+1)
		}
		owner[pid] = r
		return r
	}
	totals := make(map[int]uint64, len(roots))
	for pid, st := range procs {
		if r := find(pid, 0); r != 0 {
			totals[r] += st.ticks
		}
	}
	return totals
}

// readProcs reads every process's stat file; processes that exit while
// being read are left out.
func readProcs(proc string) map[int]procStat {
	d, err := os.Open(proc)
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	out := make(map[int]procStat, len(names))
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(proc, name, "stat"))
		if err != nil {
			continue
		}
		if st, ok := parseStat(b); ok {
			out[pid] = st
		}
	}
	return out
}

// parseStat parses /proc/<pid>/stat (see proc(5)). The command name, in
// parentheses, may itself hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStat(b []byte) (procStat, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 20 {
		return procStat{}, false
	}
	num := func(n int) (uint64, bool) {
		v, err := strconv.ParseUint(string(f[n-3]), 10, 64)
		return v, err == nil
	}
	ppid, ok1 := num(4)
	pgrp, ok2 := num(5)
	utime, ok3 := num(14)
	stime, ok4 := num(15)
	cutime, ok5 := num(16)
	cstime, ok6 := num(17)
	start, ok7 := num(22)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) {
		return procStat{}, false
	}
	return procStat{ppid: int(ppid), pgrp: int(pgrp), ticks: utime + stime + cutime + cstime, start: start}, true
}

// clockTicks returns the kernel's clock ticks per second (AT_CLKTCK from
// the auxiliary vector), or 100, its value on every common Linux build.
func clockTicks() float64 {
	const atClkTck = 17
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil || strconv.IntSize != 64 {
		return 100
	}
	for ; len(b) >= 16; b = b[16:] {
		if binary.NativeEndian.Uint64(b) == atClkTck {
			if v := binary.NativeEndian.Uint64(b[8:]); v > 0 {
				return float64(v)
			}
		}
	}
	return 100
}
