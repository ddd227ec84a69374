package rds

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// nodeFiles reads and writes the files of one node's directory, which
// the account (the postgres user when hastack is root) owns and can
// change at will: a file or a directory there may have been replaced by
// a symbolic link to anything root can write. So nothing under it is
// reached through a link: every path is walked one component at a time
// with O_NOFOLLOW from the node directory, whose own entry lies in a
// directory only hastack writes.
type nodeFiles struct {
	dir string // the node directory
	acc account
}

// linkError is the sentence for a symbolic link met where a file or a
// directory of the node belongs.
func (f nodeFiles) linkError(rel string) error {
	return fmt.Errorf("%s is a symbolic link or not what hastack created there; hastack does not follow links in %s, which user %s can write: remove it",
		filepath.Join(f.dir, rel), f.dir, f.acc.name)
}

// parent opens the directory holding rel without following any link and
// returns its descriptor and rel's last component.
func (f nodeFiles) parent(rel string) (int, string, error) {
	rel = filepath.Clean(rel)
	if filepath.IsAbs(rel) || rel == "." || strings.HasPrefix(rel, "..") {
		return -1, "", fmt.Errorf("%s is not a path inside %s", rel, f.dir)
	}
	fd, err := unix.Open(f.dir, unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_RDONLY, 0)
	if err != nil {
		return -1, "", fmt.Errorf("opening %s: %w", f.dir, err)
	}
	parts := strings.Split(rel, string(filepath.Separator))
	for i, part := range parts[:len(parts)-1] {
		next, err := unix.Openat(fd, part, unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_RDONLY, 0)
		unix.Close(fd)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return -1, "", f.linkError(filepath.Join(parts[:i+1]...))
		}
		if err != nil {
			return -1, "", fmt.Errorf("opening %s: %w", filepath.Join(f.dir, filepath.Join(parts[:i+1]...)), err)
		}
		fd = next
	}
	return fd, parts[len(parts)-1], nil
}

// maxRead bounds what is read of a configuration or pid file.
const maxRead = 1 << 20

// read returns the content of the regular file rel.
func (f nodeFiles) read(rel string) ([]byte, error) {
	file, err := f.open(rel)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	return io.ReadAll(io.LimitReader(file, maxRead))
}

// open opens the regular file rel for reading.
func (f nodeFiles) open(rel string) (*os.File, error) {
	dfd, name, err := f.parent(rel)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, f.linkError(rel)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: filepath.Join(f.dir, rel), Err: err}
	}
	file := os.NewFile(uintptr(fd), filepath.Join(f.dir, rel))
	if fi, err := file.Stat(); err != nil || !fi.Mode().IsRegular() {
		file.Close()
		return nil, f.linkError(rel)
	}
	return file, nil
}

// exists reports whether rel is there (as whatever; links are not followed).
func (f nodeFiles) exists(rel string) bool {
	dfd, name, err := f.parent(rel)
	if err != nil {
		return false
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	return unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
}

// write replaces rel with data atomically: a new file (mode 0600, owned
// by the account) is created beside it, exclusively and without
// following links, then renamed over it, which replaces a link rather
// than writing through it. Settings are written again at every start,
// so write does not wait for the disk; writeDurable does.
func (f nodeFiles) write(rel string, data []byte) error { return f.writeFile(rel, data, false) }

// writeDurable is write, with the data on disk before the rename.
func (f nodeFiles) writeDurable(rel string, data []byte) error { return f.writeFile(rel, data, true) }

func (f nodeFiles) writeFile(rel string, data []byte, durable bool) error {
	dfd, name, err := f.parent(rel)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	tmp := name + ".hastack-tmp"
	if err := unix.Unlinkat(dfd, tmp, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing %s: %w", filepath.Join(f.dir, filepath.Dir(rel), tmp), err)
	}
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Join(f.dir, filepath.Dir(rel), tmp), err)
	}
	file := os.NewFile(uintptr(fd), tmp)
	err = f.own(file)
	if err == nil {
		_, err = file.Write(data)
	}
	if err == nil && durable {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, name)
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return fmt.Errorf("writing %s: %w", filepath.Join(f.dir, rel), err)
	}
	return nil
}

// remove deletes rel (a link itself, never its target); a missing file
// is not an error.
func (f nodeFiles) remove(rel string) error {
	dfd, name, err := f.parent(rel)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if err := unix.Unlinkat(dfd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("removing %s: %w", filepath.Join(f.dir, rel), err)
	}
	return nil
}

// appendLog opens rel for appending, as a server's stderr. Anything
// there but a regular file of its own, a link included, is replaced by a
// new file.
func (f nodeFiles) appendLog(rel string) (*os.File, error) {
	dfd, name, err := f.parent(rel)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	path := filepath.Join(f.dir, rel)
	for attempt := 0; ; attempt++ {
		flags := unix.O_WRONLY | unix.O_APPEND | unix.O_CREAT | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC
		if attempt > 0 {
			flags |= unix.O_EXCL
		}
		fd, err := unix.Openat(dfd, name, flags, 0o600)
		if err == nil {
			file := os.NewFile(uintptr(fd), path)
			var st unix.Stat_t
			if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink == 1 {
				if err := f.own(file); err != nil {
					file.Close()
					return nil, err
				}
				return file, nil
			}
			file.Close()
		} else if !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.ENXIO) {
			return nil, fmt.Errorf("opening %s: %w", path, err)
		}
		if attempt > 0 {
			return nil, f.linkError(rel)
		}
		if err := unix.Unlinkat(dfd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return nil, fmt.Errorf("%w (%v)", f.linkError(rel), err)
		}
	}
}

// own gives an open file to the account when hastack runs as root.
func (f nodeFiles) own(file *os.File) error {
	if !f.acc.switchUser {
		return nil
	}
	if err := file.Chown(int(f.acc.uid), int(f.acc.gid)); err != nil {
		return fmt.Errorf("giving %s to user %s: %w", file.Name(), f.acc.name, err)
	}
	return nil
}

// size is the size of the regular file rel, 0 when it cannot be told.
func (f nodeFiles) size(rel string) int64 {
	file, err := f.open(rel)
	if err != nil {
		return 0
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readFrom returns up to limit bytes of rel from offset on.
func (f nodeFiles) readFrom(rel string, offset int64, limit int64) []byte {
	file, err := f.open(rel)
	if err != nil {
		return nil
	}
	defer file.Close()
	if _, err := file.Seek(offset, io.SeekStart); err != nil {
		return nil
	}
	data, _ := io.ReadAll(io.LimitReader(file, limit))
	return data
}

// mkdir creates the directory rel (mode 0700) for the account, or
// checks that the one there is a real directory and gives it to the
// account. With strict, an existing directory that belongs to another
// user is refused instead: a data directory is never taken over.
func (f nodeFiles) mkdir(rel string, strict bool) error {
	dfd, name, err := f.parent(rel)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	created := true
	if err := unix.Mkdirat(dfd, name, 0o700); errors.Is(err, unix.EEXIST) {
		created = false
	} else if err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Join(f.dir, rel), err)
	}
	fd, err := unix.Openat(dfd, name, unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_RDONLY, 0)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return f.linkError(rel)
	}
	if err != nil {
		return fmt.Errorf("opening %s: %w", filepath.Join(f.dir, rel), err)
	}
	dir := os.NewFile(uintptr(fd), filepath.Join(f.dir, rel))
	defer dir.Close()
	if strict && !created {
		fi, err := dir.Stat()
		if err != nil {
			return fmt.Errorf("checking %s: %w", dir.Name(), err)
		}
		if !f.acc.owns(fi) {
			return fmt.Errorf("data directory %s is owned by %s, but PostgreSQL runs as user %s; fix it with: chown -R %s %s",
				dir.Name(), fileOwner(fi), f.acc.name, f.acc.name, dir.Name())
		}
	}
	return claimDir(dir, f.acc)
}

// claimDir makes the open directory the account's, mode 0700.
func claimDir(dir *os.File, a account) error {
	if a.switchUser {
		if err := dir.Chown(int(a.uid), int(a.gid)); err != nil {
			return fmt.Errorf("giving %s to user %s: %w", dir.Name(), a.name, err)
		}
	}
	if err := dir.Chmod(0o700); err != nil {
		return fmt.Errorf("restricting %s: %w", dir.Name(), err)
	}
	return nil
}
