package alb

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"
)

// DefaultAccessLogMaxBytes is where an access log file rotates when
// OpenAccessLog is given no size: 64 MiB, so a log takes at most 128 MiB
// with the one old file kept.
const DefaultAccessLogMaxBytes = 64 << 20

// AccessLogFile is an access log file that rotates by size: once a write
// would take it past its limit, the file becomes path.1 (replacing the one
// before) and a new one starts. Writes come in whole lines (Config.AccessLog
// gets batches of them), so no line is split across the two files.
type AccessLogFile struct {
	path string
	max  int64

	mu     sync.Mutex
	f      *os.File // nil after a failed reopen; the next write tries again
	size   int64
	closed bool
}

// OpenAccessLog opens (or creates, mode 0600) the access log file at path
// for appending, rotating at maxBytes (DefaultAccessLogMaxBytes when 0 or
// less). It does not follow a symbolic link at path.
func OpenAccessLog(path string, maxBytes int64) (*AccessLogFile, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultAccessLogMaxBytes
	}
	l := &AccessLogFile{path: path, max: maxBytes}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *AccessLogFile) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("opening access log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("opening access log: %w", err)
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return fmt.Errorf("opening access log: %s is not a regular file", l.path)
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Write appends p, rotating first when p would take the file past its
// limit. A p larger than the limit goes whole into a new file.
func (l *AccessLogFile) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, os.ErrClosed
	}
	if l.f != nil && l.size > 0 && l.size+int64(len(p)) > l.max {
		if err := l.rotate(); err != nil {
			return 0, err
		}
	}
	if l.f == nil {
		if err := l.open(); err != nil {
			return 0, err
		}
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	return n, err
}

// rotate makes the file path.1 and starts a new one.
func (l *AccessLogFile) rotate() error {
	// A file removed meanwhile (by hand) is simply started anew.
	if err := os.Rename(l.path, l.path+".1"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("rotating access log: %w", err)
	}
	err := l.f.Close()
	l.f = nil
	if oerr := l.open(); oerr != nil {
		return errors.Join(err, oerr)
	}
	return err
}

// Close closes the file.
func (l *AccessLogFile) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
