package stack

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPeerAllowed(t *testing.T) {
	for _, tt := range []struct {
		peer  int64
		owner int
		want  bool
	}{
		{1000, 1000, true},  // the owner
		{0, 1000, true},     // root
		{0, 0, true},        // root's own stack
		{1001, 1000, false}, // another user
		{1000, 0, false},    // a user at root's stack
		{65534, 0, false},   // nobody
		{-1, 1000, false},   // the kernel could not tell
		{-1, 0, false},
	} {
		if got := peerAllowed(tt.peer, tt.owner); got != tt.want {
			t.Errorf("peerAllowed(%d, %d) = %v, want %v", tt.peer, tt.owner, got, tt.want)
		}
	}
}

// TestControlSocketMode: the socket is private from its creation, whatever
// the umask, and the umask is given back.
func TestControlSocketMode(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "control.sock")
	ln, err := listenControl(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket mode %v, want a 0600 socket", fi.Mode())
	}
	if now := syscall.Umask(0); now != 0 {
		t.Fatalf("umask after binding is %04o, want it given back (0000)", now)
	}
}

// TestControlSocketRefusesOtherUsers: a process of another user cannot
// connect to the socket, and if the socket's mode were loosened, the
// server would still refuse it with one sentence; its owner is served.
func TestControlSocketRefusesOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("running a client as another user needs root")
	}
	dir, err := os.MkdirTemp("", "hastack-control-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// The test binary is the client; nobody must be able to run it.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	client := filepath.Join(dir, "client.test")
	copyFile(t, exe, client, 0o755)

	st := newTestStack(t, newFakeDB(0), false)
	sock := filepath.Join(dir, "control.sock")
	ln, err := listenControl(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done, _ := st.serveAPI(ctx, ln)
	defer func() { cancel(); <-done }()

	dial := func(uid uint32) string {
		cmd := exec.Command(client)
		cmd.Env = []string{"HASTACK_STACK_TEST_DIAL=" + sock}
		if uid != 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		}
		// A refused connection exits 1, printing why.
		out, err := cmd.CombinedOutput()
		if _, exited := err.(*exec.ExitError); err != nil && !exited {
			t.Fatalf("client as uid %d: %v\n%s", uid, err, out)
		}
		return string(out)
	}
	const nobody = 65534
	if out := dial(0); !strings.HasPrefix(out, "200 ") {
		t.Fatalf("the owner got: %s", out)
	}
	if out := dial(nobody); !strings.Contains(out, "permission denied") {
		t.Fatalf("nobody connecting to the 0600 socket got: %s", out)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	want := `403 {"error":"the control socket only serves uid 0, the stack's owner, and root; this request came from uid 65534"}`
	if out := strings.TrimSpace(dial(nobody)); out != want {
		t.Fatalf("nobody through a loosened socket got:\n%s\nwant:\n%s", out, want)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestDownOfAStackGoingAway: a stack killed a moment ago may still hold
// its lock and take a connection, then drop it as its last threads
// close its files. Down then reports it not running, rather than
// failing on the dropped request; a stack that keeps running and drops
// the request is still an error.
func TestDownOfAStackGoingAway(t *testing.T) {
	for _, tc := range []struct {
		name    string
		release bool
	}{{"released", true}, {"kept", false}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Chmod(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			p := Paths{Dir: dir}
			lock, err := p.lock()
			if err != nil {
				t.Fatal(err)
			}
			defer lock.Close()
			ln, err := net.Listen("unix", p.Socket())
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				// Drop the request unanswered; a dying stack lets go of its lock.
				conn.Close()
				if tc.release {
					lock.Close()
				}
			}()
			c, err := Dial(dir)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = c.Down(ctx)
			<-done
			switch {
			case tc.release && !errors.Is(err, ErrNotRunning):
				t.Errorf("Down of a stack that let go of its lock: %v, want ErrNotRunning", err)
			case !tc.release && (err == nil || errors.Is(err, ErrNotRunning)):
				t.Errorf("Down of a stack that holds its lock and dropped the request: %v, want its error", err)
			}
		})
	}
}
