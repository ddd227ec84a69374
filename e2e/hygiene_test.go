package e2e

import (
	"bytes"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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
	waitFor(t, "every process exits after down", 30*time.Second, allGone(pids))
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

// TestForegroundInterrupt: `hastack up` in the foreground stops everything
// cleanly on Ctrl-C (SIGINT) and exits 0.
func TestForegroundInterrupt(t *testing.T) {
	e := newEnv(t, "quick")
	cmd := exec.Command(binary, "up", "-f", e.file, "--state-dir", e.stateDir)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	reaped := false // only this goroutine reads it; Wait's own fields are not read here
	defer func() {
		if !reaped {
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	waitFor(t, "foreground up reports the stack up", 2*time.Minute, func() bool {
		return strings.Contains(out.String(), "press Ctrl-C to stop it")
	})
	pids := e.stackPIDs()
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		reaped = true
		if err != nil {
			t.Fatalf("up exited with %v after Ctrl-C; output:\n%s", err, out.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("up did not exit within a minute of Ctrl-C; output:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "stack quick stopped; data kept in") {
		t.Fatalf("no goodbye line; output:\n%s", out.String())
	}
	waitFor(t, "every process exits after Ctrl-C", 30*time.Second, allGone(pids))
}

// syncBuffer is a bytes.Buffer safe for a writing process and a reading test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// assertNoSecretInFiles fails if the database password appears in any file
// of the state directory other than the secret itself and the database's
// own data files.
func assertNoSecretInFiles(t *testing.T, stateDir string) {
	t.Helper()
	secret, err := os.ReadFile(filepath.Join(stateDir, "secrets", "db-password"))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(stateDir, "secrets", "db-password"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file mode %v, want 0600", fi.Mode().Perm())
	}
	password := strings.TrimSpace(string(secret))
	if len(password) < 16 {
		t.Fatalf("password of %d characters is too short", len(password))
	}
	checked := 0
	err = filepath.WalkDir(stateDir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "data" || d.Name() == "secrets") {
			return filepath.SkipDir
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		checked++
		if strings.Contains(string(b), password) || strings.Contains(string(b), url.QueryEscape(password)) {
			t.Errorf("the database password appears in %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 3 {
		t.Fatalf("only %d files checked for the password; expected logs and events", checked)
	}
}
