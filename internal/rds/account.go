package rds

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// account is the OS user the database programs run as. PostgreSQL and
// MariaDB refuse to run as root, so when hastack is root it drops to
// "postgres" or "mysql".
type account struct {
	name     string
	uid, gid uint32
	// switchUser is set when children must change to this account.
	switchUser bool
}

const postgresUser = "postgres"

// runAsAccount returns the account PostgreSQL runs as: the current user,
// or the postgres OS user when hastack runs as root.
func runAsAccount() (account, error) {
	return runAs(postgresUser, "PostgreSQL", "apt-get install -y postgresql")
}

// mysqlUser is the OS user MariaDB runs as when hastack is root.
const mysqlUser = "mysql"

// runAs returns the account a server runs as: the current user, or the
// OS user osUser when hastack runs as root; install is the command that
// creates that user with the server.
func runAs(osUser, server, install string) (account, error) {
	if os.Geteuid() != 0 {
		name := strconv.Itoa(os.Geteuid())
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
		return account{name: name, uid: uint32(os.Geteuid()), gid: uint32(os.Getegid())}, nil
	}
	u, err := user.Lookup(osUser)
	if err != nil {
		return account{}, fmt.Errorf("%s refuses to run as root and the OS user %s does not exist; create it with: %s", server, osUser, install)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return account{}, fmt.Errorf("OS user %s has a non-numeric uid %q or gid %q", osUser, u.Uid, u.Gid)
	}
	return account{name: osUser, uid: uint32(uid), gid: uint32(gid), switchUser: true}, nil
}

// credential is what a child process must run with; nil means unchanged.
func (a account) credential() *syscall.Credential {
	if !a.switchUser {
		return nil
	}
	// An empty Groups list drops root's supplementary groups.
	return &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: []uint32{}}
}

// chown gives path to the account when hastack runs as root.
func (a account) chown(path string) error {
	if !a.switchUser {
		return nil
	}
	if err := os.Lchown(path, int(a.uid), int(a.gid)); err != nil {
		return fmt.Errorf("giving %s to user %s: %w", path, a.name, err)
	}
	return nil
}

// owns reports whether fi belongs to the account.
func (a account) owns(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == a.uid
}

// canEnter reports whether the account may traverse the directory fi.
func (a account) canEnter(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || a.uid == 0 {
		return true
	}
	perm := fi.Mode().Perm()
	switch {
	case st.Uid == a.uid:
		return perm&0o100 != 0
	case st.Gid == a.gid:
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

// checkTraversable makes sure the account can reach dir: every existing
// directory from / down to dir must let it pass.
func checkTraversable(dir string, a account) error {
	dir = filepath.Clean(dir)
	var chain []string
	for d := dir; ; d = filepath.Dir(d) {
		chain = append(chain, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		fi, err := os.Stat(chain[i])
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("checking directory %s: %w", chain[i], err)
		}
		if !a.canEnter(fi) {
			return fmt.Errorf("PostgreSQL runs as user %s, which cannot enter directory %s; use a state directory under /var/lib/hastack or run: chmod o+x %s",
				a.name, chain[i], chain[i])
		}
	}
	return nil
}

// fileOwner names the owner of fi for error messages.
func fileOwner(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "another user"
	}
	id := strconv.FormatUint(uint64(st.Uid), 10)
	if u, err := user.LookupId(id); err == nil {
		return "user " + u.Username
	}
	return "uid " + id
}
