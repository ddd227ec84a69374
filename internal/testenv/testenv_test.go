package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeTB records how Require ends a test; its Fatalf and Skipf stop the
// caller as the real ones do, by unwinding (to run).
type fakeTB struct {
	testing.TB
	ended string
}

type stop struct{}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.ended = "fail: " + fmt.Sprintf(format, args...)
	panic(stop{})
}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.ended = "skip: " + fmt.Sprintf(format, args...)
	panic(stop{})
}

// run calls fn and says how it ended: "ran on", or what ended it.
func (f *fakeTB) run(fn func(testing.TB)) (ended string) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(stop); !ok {
				panic(r)
			}
			ended = f.ended
		}
	}()
	fn(f)
	return "ran on"
}

func TestRequire(t *testing.T) {
	const env = "HASTACK_REQUIRE_TESTENV_TEST"
	missing := os.ErrNotExist
	tests := []struct {
		name, envValue string
		err            error
		want           string
	}{
		{"met", "1", nil, "ran on"},
		{"missing, not required", "", missing, "skip: skipping: file does not exist (HASTACK_REQUIRE_TESTENV_TEST=1 makes this a failure)"},
		{"missing, required", "1", missing, "fail: HASTACK_REQUIRE_TESTENV_TEST=1, but file does not exist"},
		{"missing, set to something else", "yes", missing, "skip: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(env, tt.envValue)
			f := &fakeTB{TB: t}
			got := f.run(func(tb testing.TB) { Require(tb, env, tt.err) })
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNetAdmin(t *testing.T) {
	tests := []struct {
		name, status, wantErr string
	}{
		{"root", "Name:\tx\nCapEff:\t000001ffffffffff\n", ""},
		{"only net admin", "CapEff:\t0000000000001000\n", ""},
		{"unprivileged", "CapPrm:\t0000000000001000\nCapEff:\t0000000000000000\n", "needs CAP_NET_ADMIN"},
		{"every capability but net admin", "CapEff:\t000001ffffffefff\n", "needs CAP_NET_ADMIN"},
		{"no line", "Name:\tx\n", "has no CapEff line"},
		{"garbage", "CapEff:\tzz\n", "cannot read the capabilities"},
	}
	for _, tt := range tests {
		p := filepath.Join(t.TempDir(), "status")
		if err := os.WriteFile(p, []byte(tt.status), 0o600); err != nil {
			t.Fatal(err)
		}
		err := netAdmin(p)
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: netAdmin = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
	if err := netAdmin(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("netAdmin without a status file succeeded")
	}
}

func TestFindPostgres(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HASTACK_PG_BINDIR", dir)
	if err := findPostgres(); err == nil || !strings.Contains(err.Error(), "apt-get install -y postgresql") {
		t.Errorf("empty bin directory: %v", err)
	}
	for _, name := range []string{"postgres", "initdb"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := findPostgres(); err != nil {
		t.Errorf("bin directory with the server: %v", err)
	}
}

func TestFindMariaDB(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("HASTACK_MARIADB_BINDIR", dir)
	if err := findMariaDB(); err == nil || !strings.Contains(err.Error(), "apt-get install -y mariadb-server mariadb-backup") {
		t.Errorf("empty bin directory: %v", err)
	}
	for _, name := range []string{"mariadbd", "mariadb-install-db"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := findMariaDB(); err == nil || !strings.Contains(err.Error(), "mariadb-backup is missing") {
		t.Errorf("bin directory without mariadb-backup: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mariadb-backup"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := findMariaDB(); err != nil {
		t.Errorf("bin directory with the server and mariadb-backup: %v", err)
	}
}
