package asg

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// DefaultUser is the unprivileged system user instances run as when
// hastack runs as root and the launch template names no user. It is
// created when missing, as Debian's postgresql package creates "postgres".
const DefaultUser = "hastack"

// account is the OS user instance processes run as.
type account struct {
	name     string
	uid, gid uint32
	home     string // HOME for the instances
	// switchUser is set when instances must change to this account; unset,
	// they keep hastack's own user and environment.
	switchUser bool
}

// userChoice decides who instances run as: when hastack is not root,
// hastack's own user (it cannot be changed); as root, the launch
// template's user, where "" means DefaultUser and "root" means root.
func userChoice(euid int, templateUser string) (name string, switchUser bool) {
	switch {
	case euid != 0:
		return "", false
	case templateUser == "root":
		return "root", false
	case templateUser == "":
		return DefaultUser, true
	default:
		return templateUser, true
	}
}

// resolveAccount returns the account instances of a launch template run
// as, creating DefaultUser if it does not exist yet. Another named user
// must exist.
func resolveAccount(templateUser string) (account, error) {
	name, switchUser := userChoice(os.Geteuid(), templateUser)
	if !switchUser {
		return account{name: name}, nil
	}
	var u *user.User
	var err error
	if name == DefaultUser {
		u, err = ensureSystemUser(name)
	} else if u, err = user.Lookup(name); err != nil {
		err = fmt.Errorf("launch template user %q: %w", name, err)
	}
	if err != nil {
		return account{}, err
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return account{}, fmt.Errorf("user %s has a non-numeric uid %q or gid %q", name, u.Uid, u.Gid)
	}
	return account{name: name, uid: uint32(uid), gid: uint32(gid), home: homeFor(u.HomeDir), switchUser: true}, nil
}

// homeFor is HOME for an account whose passwd entry says dir: dir if it
// exists, else "/" (system users often have none, e.g. /nonexistent).
func homeFor(dir string) string {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() && filepath.IsAbs(dir) {
		return dir
	}
	return "/"
}

// createUserMu serialises user creation between the groups of one stack.
var createUserMu sync.Mutex

// ensureSystemUser looks up name and creates it as a system user with its
// own group, no home and no login shell if it does not exist.
func ensureSystemUser(name string) (*user.User, error) {
	createUserMu.Lock()
	defer createUserMu.Unlock()
	u, err := user.Lookup(name)
	if err == nil {
		return u, nil
	}
	if !errors.As(err, new(user.UnknownUserError)) {
		return nil, fmt.Errorf("looking up user %s: %w", name, err)
	}
	useradd, lerr := exec.LookPath("useradd")
	if lerr != nil {
		useradd = "/usr/sbin/useradd" // root's PATH may lack sbin
	}
	out, err := exec.Command(useradd, "--system", "--user-group", "--no-create-home",
		"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--comment", "hastack instances", name).CombinedOutput()
	if u, lerr := user.Lookup(name); lerr == nil {
		return u, nil // created now, or by another hastack meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("creating system user %s for the instances (useradd --system %s): %v %s; create it yourself or set user = \"root\" in the launch template",
			name, name, err, strings.TrimSpace(string(out)))
	}
	return nil, fmt.Errorf("user %s was created but cannot be looked up", name)
}

// credential is what an instance process starts with; nil means hastack's
// own. Supplementary groups are cleared: root's must not leak.
func (a account) credential() *syscall.Credential {
	if !a.switchUser {
		return nil
	}
	return &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: []uint32{}}
}

// env is what the account sets in an instance's environment, before the
// launch template's variables (which may override it).
func (a account) env() []string {
	if !a.switchUser {
		return nil
	}
	return []string{"HOME=" + a.home, "USER=" + a.name, "LOGNAME=" + a.name}
}

// may reports whether the account has permission bit (4 read, 2 write,
// 1 execute or search) on fi, by its owner, group and other bits. ACLs are
// not consulted; the account's only group is its primary one.
func (a account) may(fi fs.FileInfo, bit fs.FileMode) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !a.switchUser || a.uid == 0 {
		return true
	}
	perm := fi.Mode().Perm()
	switch {
	case st.Uid == a.uid:
		return perm&(bit<<6) != 0
	case st.Gid == a.gid:
		return perm&(bit<<3) != 0
	default:
		return perm&bit != 0
	}
}

// checkDir reports the first directory from / down to dir (symlinks
// resolved) that the account may not pass through, or nil.
func (a account) checkDir(dir string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", dir, err)
	}
	var chain []string
	for d := real; ; d = filepath.Dir(d) {
		chain = append(chain, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		fi, err := os.Stat(chain[i])
		if err != nil {
			return fmt.Errorf("checking directory %s: %w", chain[i], err)
		}
		if !a.may(fi, 1) {
			return fmt.Errorf("instances run as user %s, which cannot enter directory %s (mode %04o)",
				a.name, chain[i], fi.Mode().Perm())
		}
	}
	return nil
}

// checkExecutable reports why the account cannot run the program at path,
// or nil: every directory on the way must let it pass, and the file must
// be executable by it.
func (a account) checkExecutable(path string) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", path, err)
	}
	if err := a.checkDir(filepath.Dir(real)); err != nil {
		return fmt.Errorf("%w on the way to %s", err, path)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return fmt.Errorf("checking %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() || !a.may(fi, 1) {
		return fmt.Errorf("instances run as user %s, which may not execute %s (mode %04o)", a.name, path, fi.Mode().Perm())
	}
	return nil
}

// program returns the path to execute for command as the account. A
// program the account cannot reach is refused with the reason, except
// hastack's own executable (the bundled demo app, or a test binary):
// being self-contained, it is copied into binDir, root-owned with mode
// 0755, and run from there.
func program(command string, a account, binDir string) (string, error) {
	if !a.switchUser {
		return command, nil
	}
	path, err := exec.LookPath(command)
	if err != nil {
		return "", fmt.Errorf("starting %s: %w", command, err)
	}
	if path, err = filepath.Abs(path); err != nil {
		return "", fmt.Errorf("starting %s: %w", command, err)
	}
	reach := a.checkExecutable(path)
	if reach == nil {
		return path, nil
	}
	if !isOwnExecutable(path) {
		return "", fmt.Errorf("%w; make it reachable (e.g. install it under /usr/local/bin or /opt), or set user = \"root\" in the launch template", reach)
	}
	if binDir == "" {
		return "", fmt.Errorf("%w, and there is no directory to copy it to", reach)
	}
	dst, err := copyOwnExecutable(path, binDir, a)
	if err != nil {
		return "", fmt.Errorf("%w; copying it for them: %w", reach, err)
	}
	return dst, nil
}

// isOwnExecutable reports whether path is the program hastack runs as.
func isOwnExecutable(path string) bool {
	self, err := os.Executable()
	if err != nil {
		return false
	}
	a, err1 := os.Stat(self)
	b, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

// copyOwnExecutable copies the running executable (as the kernel loaded it,
// so an upgrade on disk since does not matter) into binDir under path's
// base name, and returns the copy's path. binDir is made 0755 and must be
// hastack's own, not a symlink; the copy is written to a new file and
// renamed into place, so running instances keep their old copy.
func copyOwnExecutable(path, binDir string, a account) (string, error) {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", binDir, err)
	}
	fi, err := os.Lstat(binDir)
	if err != nil {
		return "", fmt.Errorf("checking %s: %w", binDir, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Geteuid() {
		return "", fmt.Errorf("%s is not a directory of hastack's own user", binDir)
	}
	if err := os.Chmod(binDir, 0o755); err != nil {
		return "", fmt.Errorf("making %s readable: %w", binDir, err)
	}
	if err := a.checkDir(binDir); err != nil {
		return "", err
	}
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return "", fmt.Errorf("opening the running executable: %w", err)
	}
	defer src.Close()
	base := filepath.Base(path)
	tmp, err := os.CreateTemp(binDir, "."+base+"-*") // O_EXCL: never follows a symlink
	if err != nil {
		return "", fmt.Errorf("creating a copy in %s: %w", binDir, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	_, err = io.Copy(tmp, src)
	if err == nil {
		err = tmp.Chmod(0o755)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	dst := filepath.Join(binDir, base)
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("placing %s: %w", dst, err)
	}
	return dst, nil
}
