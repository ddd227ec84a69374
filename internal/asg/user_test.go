package asg

import (
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hastack/hastack/internal/spec"
)

func TestUserChoice(t *testing.T) {
	tests := []struct {
		euid       int
		template   string
		wantName   string
		wantSwitch bool
	}{
		{0, "", DefaultUser, true},
		{0, "root", "root", false},
		{0, "www-data", "www-data", true},
		{1000, "", "", false},
		{1000, "root", "", false},
		{1000, "www-data", "", false},
	}
	for _, tt := range tests {
		name, sw := userChoice(tt.euid, tt.template)
		if name != tt.wantName || sw != tt.wantSwitch {
			t.Errorf("userChoice(%d, %q) = %q, %v; want %q, %v", tt.euid, tt.template, name, sw, tt.wantName, tt.wantSwitch)
		}
	}
}

// procIDs returns the Uid, Gid and Groups lines of /proc/PID/status.
func procIDs(t *testing.T, pid int) (uids, gids, groups string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v = strings.Join(strings.Fields(v), " ")
		switch k {
		case "Uid":
			uids = v
		case "Gid":
			gids = v
		case "Groups":
			groups = v
		}
	}
	return uids, gids, groups
}

// TestInstancesRunAs checks who instance processes run as: as root, the
// unprivileged DefaultUser (created if missing) unless the template says
// root; otherwise the test's own user, whatever the template says.
func TestInstancesRunAs(t *testing.T) {
	root := os.Geteuid() == 0
	for _, templateUser := range []string{"", "root"} {
		t.Run("user="+templateUser, func(t *testing.T) {
			h := start(t, func(c *Config) {
				c.Group.Desired = 1
				c.Group.LaunchTemplate.User = templateUser
				c.Env = append(c.Env, "HOME=/root", "HASTACK_ASG_TEST_CHILD=1")
			})
			inst := h.waitInService(t, 1)[0]
			wantUID, wantGID, wantHome := strconv.Itoa(os.Geteuid()), strconv.Itoa(os.Getegid()), "/root"
			if root && templateUser == "" {
				u, err := user.Lookup(DefaultUser)
				if err != nil {
					t.Fatalf("running as root, yet user %s was not created: %v", DefaultUser, err)
				}
				wantUID, wantGID, wantHome = u.Uid, u.Gid, homeFor(u.HomeDir)
				if wantUID == "0" {
					t.Fatalf("user %s has uid 0", DefaultUser)
				}
			}
			child, err := strconv.Atoi(get(t, "http://"+inst.Addr+"/child"))
			if err != nil {
				t.Fatal(err)
			}
			for _, pid := range []int{inst.PID, child} {
				uids, gids, groups := procIDs(t, pid)
				if want := strings.Repeat(wantUID+" ", 3) + wantUID; uids != want {
					t.Errorf("pid %d: Uid %q, want %q", pid, uids, want)
				}
				if want := strings.Repeat(wantGID+" ", 3) + wantGID; gids != want {
					t.Errorf("pid %d: Gid %q, want %q", pid, gids, want)
				}
				if root && templateUser == "" && groups != "" {
					t.Errorf("pid %d kept supplementary groups %q", pid, groups)
				}
			}
			var env map[string]string
			if err := json.Unmarshal([]byte(get(t, "http://"+inst.Addr+"/env")), &env); err != nil {
				t.Fatal(err)
			}
			if env["HOME"] != wantHome {
				t.Errorf("HOME = %q, want %q", env["HOME"], wantHome)
			}
			if root && templateUser == "" && (env["USER"] != DefaultUser || env["LOGNAME"] != DefaultUser) {
				t.Errorf("USER %q, LOGNAME %q, want %s", env["USER"], env["LOGNAME"], DefaultUser)
			}
		})
	}
}

func TestNewRejectsUnknownUser(t *testing.T) {
	cfg := Config{
		Region: "r",
		Group: spec.AutoScaling{Min: 1, Max: 1, Desired: 1,
			LaunchTemplate: spec.LaunchTemplate{Port: 8080, User: "no-such-user-hastack-test"}},
		AZs:     []AZ{{Name: "a", Addrs: addrs("127.0.77.")}},
		Command: "/bin/true",
		LogDir:  t.TempDir(),
	}
	_, err := New(cfg)
	if os.Geteuid() != 0 {
		if err != nil {
			t.Errorf("not root, the user is ignored, yet New failed: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), `launch template user "no-such-user-hastack-test"`) {
		t.Errorf("New with an unknown user: %v", err)
	}
}

// TestProgram checks the reachability rules with a made-up account, so it
// needs no such user: closed directories and files are refused with the
// reason, except hastack's own executable, which is copied.
func TestProgram(t *testing.T) {
	if os.Geteuid() == 54321 {
		t.Fatal("the test's made-up uid is the test's own")
	}
	a := account{name: "nobody-test", uid: 54321, gid: 54321, home: "/", switchUser: true}
	base := openDir(t)
	mk := func(dir string, dirMode, fileMode os.FileMode) string {
		d := filepath.Join(base, dir)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(d, "app")
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, fileMode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, dirMode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name              string
		dirMode, fileMode os.FileMode
		wantErr           string
	}{
		{"open", 0o755, 0o755, ""},
		{"search-only dir, execute-only file", 0o711, 0o711, ""},
		{"closed dir", 0o700, 0o755, "cannot enter directory " + filepath.Join(base, "closed dir") + " (mode 0700) on the way to"},
		{"closed file", 0o755, 0o750, "may not execute " + filepath.Join(base, "closed file", "app") + " (mode 0750)"},
	}
	for _, tt := range tests {
		p := mk(tt.name, tt.dirMode, tt.fileMode)
		got, err := program(p, a, filepath.Join(base, "bin"))
		switch {
		case tt.wantErr == "" && (err != nil || got != p):
			t.Errorf("%s: program = %q, %v; want %q", tt.name, got, err, p)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `user = "root"`)):
			t.Errorf("%s: program = %q, %v; want an error with %q and the way out", tt.name, got, err, tt.wantErr)
		}
	}

	// Not an account change: the command is left to exec as it is.
	if got, err := program("some-command", account{}, ""); err != nil || got != "some-command" {
		t.Errorf("without a user change: %q, %v", got, err)
	}

	// The test binary is this process's own executable, in a directory
	// closed to others (go test's work directory is 0700).
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if a.checkExecutable(self) == nil {
		t.Fatalf("the test binary %s is reachable by anyone; the copy cannot be tested", self)
	}
	if _, err := program(self, a, ""); err == nil || !strings.Contains(err.Error(), "no directory to copy it to") {
		t.Errorf("own executable without a bin directory: %v", err)
	}
	binDir := filepath.Join(base, "bin")
	got, err := program(self, a, binDir)
	if err != nil {
		t.Fatalf("own executable: %v", err)
	}
	if got != filepath.Join(binDir, filepath.Base(self)) {
		t.Errorf("copy at %s, want it in %s", got, binDir)
	}
	want, _ := os.Stat(self)
	fi, err := os.Stat(got)
	if err != nil || fi.Size() != want.Size() || fi.Mode().Perm() != 0o755 {
		t.Errorf("copy %v, %v; want mode 0755 and %d bytes", fi, err, want.Size())
	}
	if err := a.checkExecutable(got); err != nil {
		t.Errorf("the copy is not reachable: %v", err)
	}
	// A second copy replaces the first in place.
	if again, err := program(self, a, binDir); err != nil || again != got {
		t.Errorf("second copy: %q, %v", again, err)
	}
	if entries, _ := os.ReadDir(binDir); len(entries) != 1 {
		t.Errorf("bin directory holds %d entries, want the copy alone", len(entries))
	}
}
