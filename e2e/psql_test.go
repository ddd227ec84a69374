package e2e

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hastack/hastack/internal/stack"
)

// TestPsqlKeepsThePasswordOffCommandLines: hastack psql runs queries
// against the running stack, passes psql's exit status on, and while it
// runs no process's command line holds the database password; its
// password file is private and gone once psql exits. The stack process
// runs with its open-file soft limit raised to the hard limit.
func TestPsqlKeepsThePasswordOffCommandLines(t *testing.T) {
	e := newEnv(t, "quick")
	e.must("up", "-d")

	if out := e.must("psql", "-At", "-c", "select 1"); out != "1\n" {
		t.Fatalf("hastack psql -c 'select 1' printed %q", out)
	}
	// hastack sql runs the engine's client, psql on a PostgreSQL stack.
	if out := e.must("sql", "-At", "-c", "select 2"); out != "2\n" {
		t.Fatalf("hastack sql -c 'select 2' printed %q", out)
	}
	if _, stderr, code := e.hastack("psql", "-c", "select * from no_such_table"); code != 1 || !strings.Contains(stderr, `relation "no_such_table" does not exist`) {
		t.Fatalf("a failing query: exit %d, stderr %q; want psql's exit 1 and its message", code, stderr)
	}

	u, err := url.Parse(strings.TrimSpace(e.must("db-url", "--password")))
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()
	if len(password) < 8 {
		t.Fatalf("db-url --password gives %q, not a password", password)
	}

	cmd := exec.Command(binary, "psql", "-f", e.file, "--state-dir", e.stateDir, "--", "-At", "-c", "select pg_sleep(1.5), 'slept'")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var scans int
	var passfile string
	done := false
	for !done {
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("hastack psql: %v\n%s", err, stderr.String())
			}
			done = true
		default:
		}
		// Every process's command line, psql's and hastack's included.
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			b, err := os.ReadFile(p)
			if err != nil {
				continue // gone meanwhile
			}
			if bytes.Contains(b, []byte(password)) {
				t.Fatalf("%s holds the password: %q", p, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
			}
			if bytes.Contains(b, []byte("pg_sleep(1.5)")) && bytes.HasPrefix(b, []byte("/")) && filepath.Base(string(bytes.SplitN(b, []byte{0}, 2)[0])) == "psql" {
				scans++
				if env, err := os.ReadFile(filepath.Join(filepath.Dir(p), "environ")); err == nil {
					if bytes.Contains(env, []byte(password)) {
						t.Fatal("psql's environment holds the password")
					}
					for _, kv := range bytes.Split(env, []byte{0}) {
						if f, ok := bytes.CutPrefix(kv, []byte("PGPASSFILE=")); ok {
							passfile = string(f)
						}
					}
				}
			}
		}
	}
	if scans == 0 {
		t.Fatal("no scan of /proc saw psql running")
	}
	if stdout.String() != "|slept\n" {
		t.Fatalf("the slow query printed %q", stdout.String())
	}
	if passfile == "" {
		t.Fatal("psql had no PGPASSFILE")
	}
	if _, err := os.Stat(passfile); !os.IsNotExist(err) {
		t.Fatalf("the password file %s is still there after psql exited: %v", passfile, err)
	}

	// The stack process's open-file soft limit is its hard limit.
	rec, err := stack.Paths{Dir: e.stateDir}.ReadRecord()
	if err != nil {
		t.Fatal(err)
	}
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", rec.PID))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(limits), "\n") {
		if f := strings.Fields(strings.TrimPrefix(line, "Max open files")); strings.HasPrefix(line, "Max open files") && (len(f) < 2 || f[0] != f[1]) {
			t.Fatalf("the stack process's %q: soft limit below the hard one", line)
		}
	}
	e.must("down", "--purge")
}
