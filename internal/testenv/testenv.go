package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Variables that turn a missing requirement from a skip into a failure.
const (
	EnvPostgres = "HASTACK_REQUIRE_POSTGRES"
	EnvChromium = "HASTACK_REQUIRE_CHROMIUM"
	EnvNetAdmin = "HASTACK_REQUIRE_NETADMIN"
	EnvMariaDB  = "HASTACK_REQUIRE_MARIADB"
)

// Require skips t with the reason err (nil: the requirement is met), or
// fails it when the environment variable env is 1.
func Require(t testing.TB, env string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv(env) == "1" {
		t.Fatalf("%s=1, but %v", env, err)
	}
	t.Skipf("skipping: %v (%s=1 makes this a failure)", err, env)
}

// RequirePostgres needs a PostgreSQL server installed where hastack looks
// for one: $HASTACK_PG_BINDIR, /usr/lib/postgresql/*/bin, or beside pg_ctl
// on the PATH.
func RequirePostgres(t testing.TB) {
	t.Helper()
	Require(t, EnvPostgres, findPostgres())
}

func findPostgres() error {
	var dirs []string
	if d := os.Getenv("HASTACK_PG_BINDIR"); d != "" {
		dirs = append(dirs, d)
	} else {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		dirs = append(dirs, found...)
		if ctl, err := exec.LookPath("pg_ctl"); err == nil {
			dirs = append(dirs, filepath.Dir(ctl))
		}
	}
	for _, d := range dirs {
		if isFile(filepath.Join(d, "postgres")) && isFile(filepath.Join(d, "initdb")) {
			return nil
		}
	}
	return errors.New("PostgreSQL is not installed (apt-get install -y postgresql)")
}

// RequireMariaDB needs the MariaDB server and mariadb-backup installed
// where hastack looks for them: $HASTACK_MARIADB_BINDIR, or /usr/sbin,
// /usr/bin and the PATH.
func RequireMariaDB(t testing.TB) {
	t.Helper()
	Require(t, EnvMariaDB, findMariaDB())
}

func findMariaDB() error {
	dirs := []string{"/usr/sbin", "/usr/bin"}
	if d := os.Getenv("HASTACK_MARIADB_BINDIR"); d != "" {
		dirs = []string{d}
	} else {
		dirs = append(dirs, filepath.SplitList(os.Getenv("PATH"))...)
	}
	for _, prog := range []string{"mariadbd", "mariadb-install-db", "mariadb-backup"} {
		found := false
		for _, d := range dirs {
			found = found || isFile(filepath.Join(d, prog))
		}
		if !found {
			return fmt.Errorf("MariaDB is not installed, %s is missing (apt-get install -y mariadb-server mariadb-backup)", prog)
		}
	}
	return nil
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// RequireChromium needs Chromium on the PATH and returns its path.
func RequireChromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	Require(t, EnvChromium, errors.New("chromium is not installed (apt-get install -y chromium)"))
	return ""
}

// RequireNetAdmin needs the right to change the host's packet filter and
// network devices (CAP_NET_ADMIN, which root has).
func RequireNetAdmin(t testing.TB) {
	t.Helper()
	Require(t, EnvNetAdmin, netAdmin("/proc/self/status"))
}

const capNetAdmin = 12 // linux/capability.h

// netAdmin reports why the process lacks CAP_NET_ADMIN, read from the
// CapEff line of status (a /proc/PID/status file), or nil.
func netAdmin(status string) error {
	b, err := os.ReadFile(status)
	if err != nil {
		return fmt.Errorf("cannot tell whether the process may change the packet filter: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		v, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return fmt.Errorf("cannot read the capabilities %q: %w", strings.TrimSpace(v), err)
		}
		if caps&(1<<capNetAdmin) == 0 {
			return errors.New("changing the packet filter needs CAP_NET_ADMIN (run as root)")
		}
		return nil
	}
	return fmt.Errorf("%s has no CapEff line", status)
}

// OpenTempDir returns a new directory, removed after the test, that every
// user may enter (0755), unlike t.TempDir's: PostgreSQL and the instances
// run as unprivileged users when the tests run as root, and must reach
// the files a test shares with them.
func OpenTempDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// WaitFor polls cond every few milliseconds until it holds, and fails t
// when it does not within the time given; it returns how long it took.
// Tests wait for a condition with it rather than sleeping.
func WaitFor(t testing.TB, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %s", what, within)
		}
		<-tick.C
	}
	return time.Since(start)
}
