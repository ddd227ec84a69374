package rds

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clearStale deals with the postmaster.pid a killed earlier run leaves in
// dataDir. PostgreSQL itself ignores a pid file whose process is dead,
// but refuses to start while that pid belongs to another live process or
// while the dead server's backends still hold its shared memory. So:
// a live server on this data directory is an error; a pid reused by an
// unrelated process makes the file stale and it is removed; and the
// orphaned backends of a killed server are waited for (bounded by ctx).
func clearStale(ctx context.Context, l layout, a account) error {
	return clearStaleIn(ctx, l, a, dataName)
}

// clearStaleIn is clearStale for the data directory dir, a name in the
// node directory.
func clearStaleIn(ctx context.Context, l layout, a account, dir string) error {
	dataDir := l.path(dir)
	pidFile := filepath.Join(dir, "postmaster.pid")
	data, err := l.files(a).read(pidFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading postmaster.pid: %w", err)
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) == 0 {
		return nil // PostgreSQL treats an empty pid file as stale
	}
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 0 {
		return nil // let PostgreSQL judge a file it cannot have written
	}
	// A killed server lingers as a zombie until its new parent reaps it;
	// PostgreSQL would take it for a running server, so wait it out.
	if err := waitReaped(ctx, pid); err != nil {
		return err
	}
	if alive(pid) {
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		switch {
		case err != nil:
			// Unknown process: PostgreSQL decides.
		case cwd == dataDir:
			return fmt.Errorf("a PostgreSQL server (pid %d) is already running on data directory %s", pid, dataDir)
		default:
			if err := l.files(a).remove(pidFile); err != nil {
				return fmt.Errorf("removing stale postmaster.pid: %w", err)
			}
		}
	}
	// Line 7 is "<shared memory key> <shared memory id>".
	if len(lines) < 7 {
		return nil
	}
	fields := strings.Fields(lines[6])
	if len(fields) != 2 {
		return nil
	}
	shmID, err := strconv.Atoi(fields[1])
	if err != nil {
		return nil
	}
	return waitDetached(ctx, shmID)
}

// waitDetached waits until no process is attached to the System V shared
// memory segment shmID (or it is gone).
func waitDetached(ctx context.Context, shmID int) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		n, err := shmAttached(shmID)
		if err != nil || n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the processes of a killed earlier server to exit (%d still attached to its shared memory): %w", n, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// shmAttached returns the number of processes attached to segment shmID,
// 0 if there is no such segment.
func shmAttached(shmID int) (int, error) {
	lines, err := readLines("/proc/sysvipc/shm")
	if err != nil {
		return 0, err
	}
	// Columns: key shmid perms size cpid lpid nattch ...
	for _, line := range lines[min(1, len(lines)):] {
		f := strings.Fields(line)
		if len(f) < 7 || f[1] != strconv.Itoa(shmID) {
			continue
		}
		return strconv.Atoi(f[6])
	}
	return 0, nil
}

// waitReaped waits while pid is a zombie.
func waitReaped(ctx context.Context, pid int) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for zombie(pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the killed earlier server (pid %d) to be reaped: %w", pid, context.Cause(ctx))
		case <-tick.C:
		}
	}
	return nil
}

// zombie reports whether pid has exited but not been reaped.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state letter follows the command name, which is in parentheses.
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// alive reports whether a process with this pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, sc.Err()
}
