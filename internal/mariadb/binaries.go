package mariadb

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Binaries are the paths of the MariaDB programs hastack runs.
type Binaries struct {
	Server    string // mariadbd
	InstallDB string // mariadb-install-db
	Backup    string // mariadb-backup
}

// installHint is how to get the programs on Debian.
const installHint = "apt-get install -y mariadb-server mariadb-backup"

// FindBinaries finds the MariaDB programs: in $HASTACK_MARIADB_BINDIR
// when it is set, else where Debian puts them (/usr/sbin, /usr/bin) or on
// the PATH.
func FindBinaries() (Binaries, error) {
	dirs := []string{"/usr/sbin", "/usr/bin"}
	if d := os.Getenv("HASTACK_MARIADB_BINDIR"); d != "" {
		dirs = []string{d}
	}
	find := func(name string) (string, error) {
		for _, d := range dirs {
			p := filepath.Join(d, name)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
				return p, nil
			}
		}
		if os.Getenv("HASTACK_MARIADB_BINDIR") == "" {
			if p, err := exec.LookPath(name); err == nil {
				return p, nil
			}
		}
		return "", fmt.Errorf("MariaDB program %s not found in %v; install it with: %s", name, dirs, installHint)
	}
	var b Binaries
	var err error
	if b.Server, err = find("mariadbd"); err != nil {
		return Binaries{}, err
	}
	if b.InstallDB, err = find("mariadb-install-db"); err != nil {
		return Binaries{}, err
	}
	if b.Backup, err = find("mariadb-backup"); err != nil {
		return Binaries{}, err
	}
	return b, nil
}
