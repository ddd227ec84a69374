package stack

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, content := range []string{"first", "second"} {
		if err := WriteFileAtomic(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestLockIsExclusive(t *testing.T) {
	p := Paths{Dir: t.TempDir()}
	if p.Running() {
		t.Fatal("an unlocked state dir reports running")
	}
	f, err := p.lock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.lock(); !errors.Is(err, ErrRunning) {
		t.Fatalf("second lock: %v, want ErrRunning", err)
	}
	if !p.Running() {
		t.Fatal("a locked state dir reports not running")
	}
	f.Close()
	if p.Running() {
		t.Fatal("lock not released on close")
	}
}

func TestRecordRoundTrip(t *testing.T) {
	p := Paths{Dir: t.TempDir()}
	want := Record{Name: "quick", StackFile: "/x/stack.hcl", PID: 42, Socket: p.Socket(), StartedAt: time.Unix(1700000000, 0).UTC()}
	if err := p.writeRecord(want); err != nil {
		t.Fatal(err)
	}
	got, err := p.ReadRecord()
	if err != nil || got != want {
		t.Fatalf("ReadRecord = %+v, %v; want %+v", got, err, want)
	}
	if err := os.WriteFile(p.State(), []byte("{half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ReadRecord(); err == nil {
		t.Fatal("a corrupt state file reads without error")
	}
}

func TestHostOfURLHidesCredentials(t *testing.T) {
	got := hostOfURL("postgres://hastack:s3cr%2Ft@127.1.11.5:5432/app?sslmode=disable")
	if got != "127.1.11.5:5432" {
		t.Fatalf("hostOfURL = %q", got)
	}
}

func TestEventLog(t *testing.T) {
	p := Paths{Dir: t.TempDir()}
	l, err := openEventLog(p.Events(), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	l.Add("fault.inject", "region us-east-1 failed")
	l.Add("dns.failover", "app.example.com now answers 127.2.1.10")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	events, err := ReadEvents(p)
	if err != nil || len(events) != 2 || events[1].Kind != "dns.failover" {
		t.Fatalf("ReadEvents = %+v, %v", events, err)
	}
	fi, _ := os.Stat(p.Events())
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("event log mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestDirProblem(t *testing.T) {
	for _, tt := range []struct {
		name  string
		isDir bool
		owner uint32
		perm  os.FileMode
		euid  int
		want  string
	}{
		{"own private", true, 1000, 0o700, 1000, ""},
		{"own traversable", true, 0, 0o755, 0, ""},
		{"another user's", true, 65534, 0o755, 0,
			"state directory /s belongs to uid 65534, not to you (uid 0); choose a directory of your own with --state-dir, or chown it"},
		{"root's, for a user", true, 0, 0o755, 1000,
			"state directory /s belongs to uid 0, not to you (uid 1000); choose a directory of your own with --state-dir, or chown it"},
		{"world-writable", true, 0, 0o777, 0, "state directory /s can be written by others (mode 0777); run chmod go-w /s"},
		{"group-writable", true, 1000, 0o770, 1000, "state directory /s can be written by others (mode 0770); run chmod go-w /s"},
		{"a file", false, 0, 0o644, 0, "state directory /s is not a directory; choose another with --state-dir"},
	} {
		if got := dirProblem("/s", tt.isDir, tt.owner, tt.perm, tt.euid); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestEnsureStateDir: a missing directory is created 0755; one that
// others may write to, or that another user owns, is refused.
func TestEnsureStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	old := syscall.Umask(0o002) // as with user private groups
	err := EnsureStateDir(dir)
	syscall.Umask(old)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("created state dir: %v, %v", fi, err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	want := "state directory " + dir + " can be written by others (mode 0777); run chmod go-w " + dir
	if err := EnsureStateDir(dir); err == nil || err.Error() != want {
		t.Fatalf("0777 state dir: %v, want %q", err, want)
	}
	if err := (Paths{Dir: dir}).prepare(); err == nil || err.Error() != want {
		t.Fatalf("prepare of a 0777 state dir: %v", err)
	}
	if os.Geteuid() != 0 {
		return // only root can give a directory away
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	want = "state directory " + dir + " belongs to uid 65534, not to you (uid 0); choose a directory of your own with --state-dir, or chown it"
	if err := EnsureStateDir(dir); err == nil || err.Error() != want {
		t.Fatalf("nobody's state dir: %v, want %q", err, want)
	}
}

// TestRunningNeverTakesTheLock: `status` asking whether the stack runs,
// however often, never makes `up` find the lock taken.
func TestRunningNeverTakesTheLock(t *testing.T) {
	p := Paths{Dir: t.TempDir()}
	f, err := p.lock()
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	stop := make(chan struct{})
	probed := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				probed <- n
				return
			default:
				p.Running()
				n++
			}
		}
	}()
	for i := range 2000 {
		f, err := p.lock()
		if err != nil {
			close(stop)
			<-probed
			t.Fatalf("lock %d failed while status probed: %v", i, err)
		}
		f.Close()
	}
	close(stop)
	if n := <-probed; n == 0 {
		t.Fatal("no probe ran alongside")
	}
}

// TestStateFilesDoNotFollowLinks: a link planted where hastack writes in
// the state directory is replaced or refused, never written through.
func TestStateFilesDoNotFollowLinks(t *testing.T) {
	p := Paths{Dir: t.TempDir()}
	target := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(target, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{p.State(), p.Events(), p.Lock(), p.Log()} {
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.writeRecord(Record{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(p.State()); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("state.json after writing: %v, %v; want a regular file", fi, err)
	}
	if _, err := openEventLog(p.Events(), discardLogger()); !errors.Is(err, syscall.ELOOP) {
		t.Fatalf("event log through a link: %v, want ELOOP", err)
	}
	if _, err := OpenAppend(p.Log()); !errors.Is(err, syscall.ELOOP) {
		t.Fatalf("log through a link: %v, want ELOOP", err)
	}
	if _, err := p.lock(); !errors.Is(err, syscall.ELOOP) {
		t.Fatalf("lock through a link: %v, want ELOOP", err)
	}
	if got, _ := os.ReadFile(target); string(got) != "precious" {
		t.Fatalf("the link's target now holds %q", got)
	}
}
