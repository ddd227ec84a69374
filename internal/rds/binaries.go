package rds

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/hastack/hastack/internal/mariadb"
)

// ErrNoBinaries is returned by FindBinaries when no PostgreSQL server is installed.
var ErrNoBinaries = errors.New("PostgreSQL server binaries not found; install them with: apt-get install -y postgresql")

// FindBinaries returns the directory holding the PostgreSQL server programs
// (postgres, initdb): $HASTACK_PG_BINDIR if set, else the newest
// /usr/lib/postgresql/<version>/bin, else the directory of pg_ctl on PATH.
func FindBinaries() (dir string, err error) {
	if dir := os.Getenv("HASTACK_PG_BINDIR"); dir != "" {
		if !hasServer(dir) {
			return "", fmt.Errorf("HASTACK_PG_BINDIR is %s, which holds no PostgreSQL server (postgres, initdb); install it with: apt-get install -y postgresql", dir)
		}
		return dir, nil
	}
	for _, dir := range debianBinDirs("/usr/lib/postgresql") {
		if hasServer(dir) {
			return dir, nil
		}
	}
	if ctl, err := exec.LookPath("pg_ctl"); err == nil {
		if dir := filepath.Dir(ctl); hasServer(dir) {
			return dir, nil
		}
	}
	return "", ErrNoBinaries
}

// debianBinDirs lists root/<version>/bin, newest version first.
func debianBinDirs(root string) []string {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	type version struct {
		dir        string
		major, min int
	}
	var vs []version
	for _, e := range entries {
		majorStr, minorStr, _ := strings.Cut(e.Name(), ".")
		major, err := strconv.Atoi(majorStr)
		if err != nil {
			continue
		}
		minor, _ := strconv.Atoi(minorStr)
		vs = append(vs, version{filepath.Join(root, e.Name(), "bin"), major, minor})
	}
	slices.SortFunc(vs, func(a, b version) int {
		if a.major != b.major {
			return b.major - a.major
		}
		return b.min - a.min
	})
	dirs := make([]string, len(vs))
	for i, v := range vs {
		dirs[i] = v.dir
	}
	return dirs
}

func hasServer(dir string) bool {
	for _, prog := range []string{"postgres", "initdb"} {
		fi, err := os.Stat(filepath.Join(dir, prog))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// FindPrograms checks that the server programs of engine ("postgres" or
// "mysql") are installed; the error says how to install them.
func FindPrograms(engine string) error {
	if engine == "mysql" {
		_, err := mariadb.FindBinaries()
		return err
	}
	_, err := FindBinaries()
	return err
}
