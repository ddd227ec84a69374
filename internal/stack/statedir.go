package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultStateDir is where a stack keeps its data when no directory is
// given: /var/lib/hastack/NAME for root (a path the unprivileged database
// user can traverse), else $XDG_STATE_HOME/hastack/NAME.
func DefaultStateDir(name string) string {
	if os.Geteuid() == 0 {
		return filepath.Join("/var/lib/hastack", name)
	}
	base := os.Getenv("XDG_STATE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		base = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(base, "hastack", name)
}

// Paths names the files of a state directory.
type Paths struct{ Dir string }

func (p Paths) Lock() string    { return filepath.Join(p.Dir, "hastack.lock") }
func (p Paths) State() string   { return filepath.Join(p.Dir, "state.json") }
func (p Paths) Socket() string  { return filepath.Join(p.Dir, "control.sock") }
func (p Paths) Events() string  { return filepath.Join(p.Dir, "events.jsonl") }
func (p Paths) Log() string     { return filepath.Join(p.Dir, "hastack.log") }
func (p Paths) LogDir() string  { return filepath.Join(p.Dir, "logs") }
func (p Paths) Secrets() string { return filepath.Join(p.Dir, "secrets") }

// Record is state.json: what a running stack tells other hastack commands.
type Record struct {
	Name      string    `json:"name"`
	StackFile string    `json:"stack_file"`
	PID       int       `json:"pid"`
	Socket    string    `json:"socket"`
	StartedAt time.Time `json:"started_at"`
}

// prepare creates the state directory, refusing one another user could
// tamper with. It stays traversable (0755) so the unprivileged database
// user can reach its data below; secrets and logs get private directories
// of their own.
func (p Paths) prepare() error {
	if err := EnsureStateDir(p.Dir); err != nil {
		return err
	}
	for _, d := range []string{p.LogDir(), p.Secrets()} {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("creating %s: %w", d, err)
		}
		if err := checkOwnDir(d); err != nil {
			return err
		}
	}
	return nil
}

// EnsureStateDir creates dir (0755) if it is missing and refuses it, with
// one sentence naming the fix, unless the running user owns it and no one
// else may write to it: hastack writes there as that user, often root, and
// trusts what it reads back.
func EnsureStateDir(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("creating state directory: %w", err)
		}
		// A umask of 002 would leave a new directory group-writable.
		if err := os.Chmod(dir, 0o755); err != nil {
			return fmt.Errorf("creating state directory: %w", err)
		}
	}
	return checkOwnDir(dir)
}

// CheckStateDir refuses dir as EnsureStateDir does, if it exists; it
// creates nothing.
func CheckStateDir(dir string) error {
	if err := checkOwnDir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func checkOwnDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("checking state directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("checking state directory %s: no owner information", dir)
	}
	if problem := dirProblem(dir, fi.IsDir(), st.Uid, fi.Mode().Perm(), os.Geteuid()); problem != "" {
		return errors.New(problem)
	}
	return nil
}

// dirProblem decides whether a state directory is safe to use: a
// directory owned by euid that only its owner may write to. It returns
// the sentence that refuses it, or "".
func dirProblem(dir string, isDir bool, owner uint32, perm fs.FileMode, euid int) string {
	switch {
	case !isDir:
		return fmt.Sprintf("state directory %s is not a directory; choose another with --state-dir", dir)
	case int64(owner) != int64(euid):
		return fmt.Sprintf("state directory %s belongs to uid %d, not to you (uid %d); choose a directory of your own with --state-dir, or chown it", dir, owner, euid)
	case perm&0o022 != 0:
		return fmt.Sprintf("state directory %s can be written by others (mode %04o); run chmod go-w %s", dir, perm, dir)
	}
	return ""
}

// The stack's lock is an open file description lock on hastack.lock, held
// for as long as the stack runs. The kernel drops it when the process
// dies, so a crash never leaves a stale lock; other commands only test it
// (F_OFD_GETLK), so `status` during `up` can never make `up` fail.
func (p Paths) lock() (*os.File, error) {
	f, err := os.OpenFile(p.Lock(), os.O_CREATE|os.O_RDWR|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock: %w", err)
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		f.Close()
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
			return nil, ErrRunning
		}
		return nil, fmt.Errorf("locking state directory: %w", err)
	}
	return f, nil
}

// ErrRunning says the stack already runs.
var ErrRunning = errors.New("stack is already running")

// Running reports whether a process holds the stack's lock. It only
// tests the lock, never takes it.
func (p Paths) Running() bool {
	f, err := os.OpenFile(p.Lock(), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk); err != nil {
		return false
	}
	return lk.Type != unix.F_UNLCK
}

// ReadRecord reads state.json.
func (p Paths) ReadRecord() (Record, error) {
	var r Record
	b, err := os.ReadFile(p.State())
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("state file %s is corrupt: %w", p.State(), err)
	}
	return r, nil
}

// writeRecord replaces state.json atomically.
func (p Paths) writeRecord(r Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(p.State(), append(b, '\n'), 0o644)
}

// WriteFileAtomic writes through a new temporary file and a rename, so
// readers see the old content or the new, never half of it. Neither step
// follows a symbolic link: the temporary file is created exclusively, and
// the rename replaces a link at path rather than writing where it points.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// OpenAppend opens a log file of the state directory for appending,
// creating it private (0600), and refuses a symbolic link in its place.
func OpenAppend(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|syscall.O_NOFOLLOW, 0o600)
}
