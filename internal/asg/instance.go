package asg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// errExited is returned when signalling a process that has been reaped.
var errExited = errors.New("process has exited")

// process is one instance's OS process, the leader of a process group of
// its own, so that terminating the instance ends everything it started.
type process struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed once the process is reaped

	mu     sync.Mutex // orders signals before reaping: a reaped pgid may be reused
	reaped bool
	state  *os.ProcessState
}

// launchSpec is everything needed to start one instance process.
type launchSpec struct {
	command string
	args    []string
	env     []string
	logPath string
	cred    *syscall.Credential // nil: hastack's own user
}

// startProcess starts the instance process with stdout and stderr appended
// to its log file. The caller must call wait.
func startProcess(s launchSpec) (*process, error) {
	if err := os.MkdirAll(filepath.Dir(s.logPath), 0o700); err != nil {
		return nil, fmt.Errorf("creating log directory: %w", err)
	}
	f, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening log file: %w", err)
	}
	defer f.Close() // the child has its own copy

	cmd := exec.Command(s.command, s.args...)
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = f, f
	// Go sets Pdeathsig after changing the credentials, which would clear it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: s.cred}
	if err := cmd.Start(); err != nil {
		_ = os.Remove(s.logPath)
		return nil, fmt.Errorf("starting %s: %w", s.command, err)
	}
	return &process{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}, nil
}

// wait blocks until the process exits, kills whatever is left of its
// process group, reaps it and closes done.
func (p *process) wait() {
	var info unix.Siginfo
	// WNOWAIT leaves the leader a zombie, which keeps its process group ID
	// from being reused while the stragglers are killed.
	err := unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
	for errors.Is(err, unix.EINTR) {
		err = unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
	}
	if err == nil {
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	}
	p.mu.Lock()
	_ = p.cmd.Wait() // the exit status is in ProcessState
	p.state = p.cmd.ProcessState
	p.reaped = true
	p.mu.Unlock()
	close(p.done)
}

// exitStatus describes how the process ended, e.g. "exit status 1" or
// "signal: killed". Valid once done is closed.
func (p *process) exitStatus() string {
	if p.state == nil {
		return "unknown exit status"
	}
	return p.state.String()
}

// signal sends sig to the process group.
func (p *process) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return errExited
	}
	if err := syscall.Kill(-p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("sending %s to process group %d: %w", sig, p.pid, err)
	}
	return nil
}

// killAll sends SIGKILL to the process groups of procs back to back: each
// process is first held against being reaped (which would free its process
// group ID for reuse), so that between the first signal and the last there
// is nothing but the kill system calls. It returns how many it signalled,
// when the first signal went and how long until the last had; processes
// already reaped are skipped.
//
// The signals go out at real-time priority where hastack may set it
// (root, or CAP_SYS_NICE; see atRealtimePriority): otherwise the first
// victims, woken to die, preempt the sender on a busy machine and the last
// signal leaves milliseconds after the first.
func killAll(procs []*process) (int, time.Time, time.Duration, error) {
	held := make([]*process, 0, len(procs))
	for _, p := range procs {
		p.mu.Lock()
		if p.reaped {
			p.mu.Unlock()
			continue
		}
		held = append(held, p)
	}
	var (
		errs   []error
		first  time.Time
		spread time.Duration
		done   = make(chan struct{})
	)
	go func() {
		defer close(done)
		atRealtimePriority(func() {
			first = time.Now()
			for _, p := range held {
				if err := syscall.Kill(-p.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
					errs = append(errs, fmt.Errorf("sending SIGKILL to process group %d: %w", p.pid, err))
				}
			}
			spread = time.Since(first)
		})
	}()
	<-done
	for _, p := range held {
		p.mu.Unlock()
	}
	return len(held), first, spread, errors.Join(errs...)
}

// atRealtimePriority runs fn on its OS thread at real-time priority
// (SCHED_FIFO), where the process may set it, and gives the thread its
// normal priority back before letting it go. The thread must not end
// with the goroutine, as a locked thread does: every child forked from
// it with Pdeathsig (database servers, instances) would get SIGKILL, its
// "parent" gone. Only if the priority cannot be reset does the thread
// end, rather than run other goroutines at real-time priority.
func atRealtimePriority(fn func()) {
	runtime.LockOSThread()
	raised := unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}, 0) == nil
	fn()
	if raised && unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}, 0) != nil {
		return // the thread ends with the goroutine
	}
	runtime.UnlockOSThread()
}

// stop sends SIGTERM to the process group, then SIGKILL if the process has
// not exited after grace. It returns once the process is reaped or killed.
func (p *process) stop(grace time.Duration) error {
	if err := p.signal(syscall.SIGTERM); err != nil {
		if errors.Is(err, errExited) {
			return nil
		}
		return err
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	}
	if err := p.signal(syscall.SIGKILL); err != nil && !errors.Is(err, errExited) {
		return err
	}
	return nil
}

// waitListening polls addr, from the address from when valid, until it
// accepts a TCP connection (true), or until timeout, done or ctx ends (false).
func waitListening(ctx context.Context, addr string, from netip.Addr, done <-chan struct{}, timeout, interval time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	d := net.Dialer{Timeout: time.Second}
	if from.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: from.AsSlice()}
	}
	for {
		if conn, err := d.DialContext(ctx, "tcp", addr); err == nil {
			_ = conn.Close()
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-done:
			return false
		case <-tick.C:
		}
	}
}

// newID returns an EC2-style instance ID: "i-" and 17 random hex digits.
func newID() string {
	var b [9]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	return "i-" + hex.EncodeToString(b[:])[:17]
}

// instanceEnv is an instance's environment: the base, then the launch
// template's variables, then the per-instance ones, later entries winning.
func instanceEnv(base []string, tmpl map[string]string, region, az, id string, addr netip.AddrPort) []string {
	env := slices.Clone(base)
	for _, k := range slices.Sorted(maps.Keys(tmpl)) {
		env = append(env, k+"="+tmpl[k])
	}
	return append(env,
		"HASTACK_LISTEN="+addr.String(),
		"PORT="+strconv.Itoa(int(addr.Port())),
		"HASTACK_REGION="+region,
		"HASTACK_AZ="+az,
		"HASTACK_INSTANCE_ID="+id,
	)
}
