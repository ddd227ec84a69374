package rds

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(withTemplates{m}) }

// withTemplates runs the tests, then removes the clusters they copied.
type withTemplates struct{ m *testing.M }

func (w withTemplates) Run() int {
	code := w.m.Run()
	templates.mu.Lock()
	defer templates.mu.Unlock()
	for _, dir := range templates.dirs {
		os.RemoveAll(dir)
	}
	return code
}

// Template clusters: a stopped cluster's state directory (data of every
// node, state document, passwords), made once per test run by a first
// start, which tests that do not test a first start copy, as "down then
// up" would find it, instead of running initdb and base backups again.
const (
	tmplSingle  = "single"  // testConfig: one primary
	tmplHA      = "ha"      // haConfig, Multi-AZ
	tmplReplica = "replica" // haConfig, primary and cross-region replica
)

var templates struct {
	mu   sync.Mutex
	dirs map[string]string
}

// seededDir is a new state directory holding a copy of the template
// cluster kind, made on first use.
func seededDir(t *testing.T, kind string) string {
	t.Helper()
	requirePostgres(t)
	templates.mu.Lock()
	defer templates.mu.Unlock()
	src, ok := templates.dirs[kind]
	if !ok {
		dir, err := os.MkdirTemp("", "hastack-rds-template-")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
		var cfg Config
		switch kind {
		case tmplSingle:
			cfg = testConfig(dir, "127.0.82.5", nil)
		case tmplHA:
			cfg = haConfig(dir, 83, true, nil)
		case tmplReplica:
			cfg = haConfig(dir, 81, false, nil)
		}
		c, err := New(cfg)
		if err != nil {
			os.RemoveAll(dir)
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		defer cancel()
		err = c.Start(ctx)
		if stopErr := c.Stop(context.WithoutCancel(ctx)); err == nil {
			err = stopErr
		}
		if err != nil {
			os.RemoveAll(dir)
			t.Fatalf("making the template cluster %s: %v", kind, err)
		}
		if templates.dirs == nil {
			templates.dirs = map[string]string{}
		}
		templates.dirs[kind], src = dir, dir
	}
	dst := stateDir(t)
	// cp -a keeps the owner (the postgres user) and modes.
	if out, err := exec.Command("cp", "-a", "--", src+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("copying the template cluster %s: %v: %s", kind, err, out)
	}
	return dst
}

// requirePostgres skips the test when PostgreSQL is not installed, unless
// HASTACK_REQUIRE_POSTGRES=1 (CI), where that is a failure.
func requirePostgres(t *testing.T) {
	t.Helper()
	testenv.RequirePostgres(t)
}

// stateDir makes a state directory the postgres user can reach even when
// the tests run as root (t.TempDir's parent is private to root).
func stateDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hastack-rds-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// recorder collects events and log output.
type recorder struct {
	mu     sync.Mutex
	events []string
	log    bytes.Buffer
	exited chan struct{} // closed at the first EventNodeExited
}

func newRecorder() *recorder { return &recorder{exited: make(chan struct{})} }

func (r *recorder) onEvent(kind, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, kind+": "+msg)
	if kind == EventNodeExited && !strings.Contains(strings.Join(r.events[:len(r.events)-1], "\n"), EventNodeExited) {
		close(r.exited)
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.Write(p)
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String() + strings.Join(r.events, "\n")
}

func testConfig(dir, addr string, rec *recorder) Config {
	cfg := Config{
		StateDir: dir,
		Database: spec.Database{Engine: "postgres", Port: 5432, Name: "app", Username: "hastack"},
		Nodes: []NodeConfig{{
			Name: "db-us-east-1a", Region: "us-east-1", AZ: "us-east-1a",
			Role: RolePrimary, Addr: netip.MustParseAddr(addr),
		}},
	}
	if rec != nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(rec, nil))
		cfg.OnEvent = rec.onEvent
	}
	return cfg
}

// newCluster builds a cluster that is stopped when the test ends.
func newCluster(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return c
}

func startCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func pidGone(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return os.IsNotExist(err)
}
