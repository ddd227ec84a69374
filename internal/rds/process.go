package rds

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// childAttr makes a child die with hastack and lets hastack signal its
// whole process group; it also drops root for the account.
func childAttr(a account) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
		Credential: a.credential(),
	}
}

// childEnv is the environment of PostgreSQL programs: nothing of
// hastack's own (which may hold credentials), English messages.
func childEnv() []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	return []string{"PATH=" + path, "LC_ALL=C"}
}

// postmaster is a running database server process, a child of hastack:
// a postgres postmaster, or a mariadbd.
type postmaster struct {
	process *os.Process
	// stopSignal asks the server for a clean, quick shutdown.
	stopSignal syscall.Signal
	done       chan struct{} // closed once the process has exited and been reaped
	waitErr    error         // valid after done
	stopping   atomic.Bool
	// watched is set once the server is up; only then is an exit reported
	// to onExit (a failed start is reported by its error).
	watched atomic.Bool
}

// watchProcess keeps track of a server process that wait reaps: onExit
// is called when it ends while watched and not being stopped.
func watchProcess(process *os.Process, stopSignal syscall.Signal, wait func() error, onExit func(error)) *postmaster {
	p := &postmaster{process: process, stopSignal: stopSignal, done: make(chan struct{})}
	go func() {
		p.waitErr = wait()
		close(p.done)
		if p.watched.Load() && !p.stopping.Load() && onExit != nil {
			onExit(p.waitErr)
		}
	}()
	return p
}

// startPostmaster runs postgres on l.dataDir with its stderr appended to
// l.logFile. onExit is called when the process ends while watched and
// not being stopped.
func startPostmaster(binDir string, l layout, a account, onExit func(error)) (*postmaster, error) {
	logf, err := l.files(a).appendLog(logName)
	if err != nil {
		return nil, fmt.Errorf("opening server log: %w", err)
	}
	defer logf.Close() // the child keeps its own copy

	cmd := exec.Command(filepath.Join(binDir, "postgres"), "-D", l.dataDir)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = l.dataDir
	cmd.Env = childEnv()
	cmd.SysProcAttr = childAttr(a)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("running postgres: %w", err)
	}
	// SIGINT is PostgreSQL's fast shutdown: roll back open transactions,
	// checkpoint, exit.
	return watchProcess(cmd.Process, syscall.SIGINT, cmd.Wait, onExit), nil
}

func (p *postmaster) pid() int { return p.process.Pid }

// signal sends the server process sig.
func (p *postmaster) signal(sig syscall.Signal) error { return p.process.Signal(sig) }

func (p *postmaster) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks for a quick, clean shutdown (stopSignal) and waits for it.
// When ctx ends first, the server and its processes are killed instead.
func (p *postmaster) stop(ctx context.Context, dataDir string) error {
	p.stopping.Store(true)
	if p.exited() {
		return nil
	}
	if err := p.signal(p.stopSignal); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signalling the server to stop: %w", err)
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
	}
	p.kill(dataDir)
	return fmt.Errorf("fast shutdown did not finish in time, killed the server: %w", context.Cause(ctx))
}

// kill ends the server at once: the postmaster and every process working
// in its data directory get SIGKILL (backends call setsid, so they are
// not in the postmaster's process group; after a crash of the
// postmaster they linger as orphans). It waits until the postmaster is
// reaped and reports whether it was still running.
func (p *postmaster) kill(dataDir string) bool {
	p.stopping.Store(true)
	wasRunning := !p.exited()
	if wasRunning {
		syscall.Kill(p.pid(), syscall.SIGSTOP) // no new children meanwhile
	}
	for _, pid := range processesIn(dataDir) {
		if pid != p.pid() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if wasRunning {
		syscall.Kill(p.pid(), syscall.SIGKILL)
	}
	<-p.done
	return wasRunning
}

// processesIn lists the processes whose working directory is dir; every
// PostgreSQL server process works in its data directory.
func processesIn(dir string) []int {
	return processesInDirs([]string{dir})[dir]
}

// processesInDirs lists, for each of dirs, the processes working in it,
// from one pass over /proc.
func processesInDirs(dirs []string) map[string][]int {
	want := make(map[string]bool, len(dirs))
	for _, d := range dirs {
		want[d] = true
	}
	out := make(map[string][]int, len(dirs))
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err == nil && want[cwd] {
			out[cwd] = append(out[cwd], pid)
		}
	}
	return out
}

// crashAll ends the servers at once, as a power cut would: every
// postmaster is frozen (so that it forks no new child), the processes
// working in their data directories are found, and then all of them get
// SIGKILL in one go. It waits until every postmaster is reaped and the
// other processes are gone (a process busy in the kernel dies when it
// leaves it; bounded by killWait), and returns how far apart the first
// and the last SIGKILL were, and which servers were still running.
func crashAll(servers map[*postmaster]string) (spread time.Duration, wasRunning map[*postmaster]bool) {
	wasRunning = make(map[*postmaster]bool, len(servers))
	dirs := make([]string, 0, len(servers))
	for p, dataDir := range servers {
		p.stopping.Store(true)
		if wasRunning[p] = !p.exited(); wasRunning[p] {
			syscall.Kill(p.pid(), syscall.SIGSTOP)
		}
		dirs = append(dirs, dataDir)
	}
	children := processesInDirs(dirs)
	first := time.Now()
	for p, dataDir := range servers {
		if wasRunning[p] {
			syscall.Kill(p.pid(), syscall.SIGKILL)
		}
		for _, pid := range children[dataDir] {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	spread = time.Since(first)
	for p := range servers {
		<-p.done
	}
	deadline := time.NewTimer(killWait)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for _, pids := range children {
		for _, pid := range pids {
			for alive(pid) && !zombie(pid) {
				select {
				case <-deadline.C:
					return spread, wasRunning
				case <-tick.C:
				}
			}
		}
	}
	return spread, wasRunning
}

// killWait bounds the wait for killed processes to be gone.
const killWait = 5 * time.Second
