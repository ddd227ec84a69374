package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
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

// prepare creates the state directory. It stays traversable (0755) so the
// unprivileged database user can reach its data below; secrets and logs get
// private directories of their own.
func (p Paths) prepare() error {
	if err := os.MkdirAll(p.Dir, 0o755); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	if err := os.Chmod(p.Dir, 0o755); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	for _, d := range []string{p.LogDir(), p.Secrets()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	return nil
}

// lock takes the stack's exclusive lock, held for as long as it runs. The
// kernel drops it when the process dies, so a crash never leaves a stale lock.
func (p Paths) lock() (*os.File, error) {
	f, err := os.OpenFile(p.Lock(), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrRunning
		}
		return nil, fmt.Errorf("locking state directory: %w", err)
	}
	return f, nil
}

// ErrRunning says the stack already runs.
var ErrRunning = errors.New("stack is already running")

// Running reports whether a process holds the stack's lock.
func (p Paths) Running() bool {
	f, err := p.lock()
	if errors.Is(err, ErrRunning) {
		return true
	}
	if f != nil {
		f.Close()
	}
	return false
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

// WriteFileAtomic writes through a temporary file and a rename, so readers
// see the old content or the new, never half of it.
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
