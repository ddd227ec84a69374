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

// waitListening polls addr until it accepts a TCP connection (true), or
// until timeout, done or ctx ends (false).
func waitListening(ctx context.Context, addr string, done <-chan struct{}, timeout, interval time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	d := net.Dialer{Timeout: time.Second}
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
