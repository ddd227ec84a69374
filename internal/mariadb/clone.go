package mariadb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Clone makes target's data directory a copy of source's, taken with
// mariadb-backup while source runs, and returns the position the copy
// holds: the target, once started, must SetReplicaPosition to it before
// it follows. The target must not be running; source and target run as
// the same account. Whatever target held before is moved aside and
// removed only once the copy is complete and in place, so a failed clone
// never costs the only good copy.
func Clone(ctx context.Context, source *Server, target Config) (GTIDSet, error) {
	target, err := target.withDefaults()
	if err != nil {
		return nil, err
	}
	pos, err := clone(ctx, source.cfg, target)
	if err != nil {
		return nil, fmt.Errorf("cloning %s from %s: %w", target.Name, source.cfg.Name, err)
	}
	return pos, nil
}

func clone(ctx context.Context, source, target Config) (GTIDSet, error) {
	if pids := processesIn(target.DataDir); len(pids) > 0 {
		return nil, fmt.Errorf("processes %v still work in %s", pids, target.DataDir)
	}
	copyDir, aside := target.DataDir+".clone", target.DataDir+".old"
	if _, err := os.Stat(aside); err == nil {
		return nil, fmt.Errorf("%s is left from an earlier clone and may be the only good copy; move it away first", aside)
	}
	// An unfinished copy from an earlier attempt is never the good one.
	if err := os.RemoveAll(copyDir); err != nil {
		return nil, err
	}
	if err := makeDir(target.Cred, target.RunDir); err != nil {
		return nil, err
	}
	if err := makeDir(target.Cred, copyDir); err != nil {
		return nil, err
	}
	pos, err := backup(ctx, source, target, copyDir)
	if err != nil {
		os.RemoveAll(copyDir)
		return nil, err
	}
	if err := replaceDir(target.DataDir, copyDir, aside); err != nil {
		return nil, err
	}
	return pos, nil
}

// backup copies source's data into dir and prepares it to be started
// from, returning the position it holds.
func backup(ctx context.Context, source, target Config, dir string) (GTIDSet, error) {
	password, err := optionValue(source.Accounts.AdminPassword)
	if err != nil {
		return nil, err
	}
	login := filepath.Join(target.RunDir, "backup-login.cnf")
	err = writePrivate(target.Cred, login, fmt.Sprintf("[mariadb-backup]\nuser=%s\npassword=%s\nhost=%s\nport=%d\n",
		AdminUser, password, source.Addr.Addr(), source.Addr.Port()))
	if err != nil {
		return nil, err
	}
	defer os.Remove(login)
	logf, err := openLog(target)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	if err := runProgram(ctx, target, dir, logf, nil, target.Binaries.Backup,
		"--defaults-file="+login, "--backup", "--target-dir="+dir, "--datadir="+source.DataDir); err != nil {
		return nil, fmt.Errorf("copying: %w", err)
	}
	if err := runProgram(ctx, target, dir, logf, nil, target.Binaries.Backup,
		"--prepare", "--target-dir="+dir); err != nil {
		return nil, fmt.Errorf("preparing the copy: %w", err)
	}
	info, err := os.ReadFile(filepath.Join(dir, "xtrabackup_binlog_info"))
	if err != nil {
		return nil, fmt.Errorf("reading the copy's position: %w", err)
	}
	return parseBinlogInfo(string(info))
}

// parseBinlogInfo reads mariadb-backup's xtrabackup_binlog_info: the
// source's binary log file, offset and GTID position at the copy. A
// source that has logged no transaction yet has no GTID position: the
// copy starts from the empty one.
func parseBinlogInfo(info string) (GTIDSet, error) {
	fields := strings.Fields(info)
	switch len(fields) {
	case 2:
		return GTIDSet{}, nil
	case 3:
		return ParseGTIDSet(fields[2])
	}
	return nil, fmt.Errorf("the copy's position %q is not file, offset and GTID position", strings.TrimSpace(info))
}

// optionValue quotes a value for an option file.
func optionValue(v string) (string, error) {
	if strings.ContainsAny(v, "\n\r\x00") {
		return "", errors.New("the admin password holds a line break or NUL, which an option file cannot")
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`, nil
}

// replaceDir puts the complete copy in place of dir: dir is moved aside
// first, and removed only once the copy is there; if the copy cannot be
// put there, dir is moved back.
func replaceDir(dir, copyDir, aside string) error {
	if err := os.Chmod(copyDir, 0o700); err != nil {
		return err
	}
	hadOld := true
	if err := os.Rename(dir, aside); errors.Is(err, fs.ErrNotExist) {
		hadOld = false
	} else if err != nil {
		return fmt.Errorf("moving the old data aside: %w", err)
	}
	if err := os.Rename(copyDir, dir); err != nil {
		if hadOld {
			if rerr := os.Rename(aside, dir); rerr != nil {
				return fmt.Errorf("putting the copy in place: %w; the old data is left in %s", err, aside)
			}
		}
		return fmt.Errorf("putting the copy in place: %w", err)
	}
	if hadOld {
		if err := os.RemoveAll(aside); err != nil {
			return fmt.Errorf("removing the old data: %w", err)
		}
	}
	return nil
}
