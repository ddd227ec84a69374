package rds

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/mariadb/mariadbtest"
	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(withTemplates{m}) }

// withTemplates runs the tests, then removes the clusters they copied.
type withTemplates struct{ m *testing.M }

func (w withTemplates) Run() int {
	code := w.m.Run()
	removeTemplates()
	mariadbtest.RemoveTemplate()
	return code
}

// Template clusters: a stopped cluster's state directory (data of every
// node, state document, passwords), made once per test run by a first
// start of haConfig with Multi-AZ, which tests that do not test a first
// start copy, as "down then up" would find it, instead of running initdb
// and base backups again. A configuration with fewer nodes gets the
// copy without the others' directories: at its start the state
// document takes the configured nodes, and the primary drops the
// others' replication slots.
const (
	tmplSingle  = "single"  // testConfig: the primary
	tmplHA      = "ha"      // haConfig, Multi-AZ: primary, standby, replica
	tmplReplica = "replica" // haConfig: primary and cross-region replica
)

var templates struct {
	mu   sync.Mutex
	dirs map[string]string // by engine
}

// removeTemplates deletes the template clusters.
func removeTemplates() {
	templates.mu.Lock()
	defer templates.mu.Unlock()
	for _, dir := range templates.dirs {
		os.RemoveAll(dir)
	}
}

// seededDir is a new state directory holding a copy of the PostgreSQL
// template cluster, with the nodes of kind, made on first use.
func seededDir(t *testing.T, kind string) string {
	t.Helper()
	requirePostgres(t)
	return seeded(t, "postgres", kind)
}

// seededMariaDir is seededDir for MariaDB (engine "mysql"): copies of a
// stopped cluster spare every test mariadb-install-db and two
// mariadb-backup copies, the most CPU a MariaDB test costs. A copied
// follower is told its relay again when it starts.
func seededMariaDir(t *testing.T, kind string) string {
	t.Helper()
	testenv.RequireMariaDB(t)
	return seeded(t, "mysql", kind)
}

func seeded(t *testing.T, engine, kind string) string {
	t.Helper()
	templates.mu.Lock()
	defer templates.mu.Unlock()
	if templates.dirs[engine] == "" {
		dir, err := os.MkdirTemp("", "hastack-rds-template-")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
		cfg := haConfig(dir, 83, true, nil)
		if engine == "mysql" {
			cfg = haConfig(dir, 82, true, nil)
			cfg.Database.Engine, cfg.Database.Port = "mysql", 3306
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
		if err == nil && engine == "postgres" {
			err = trimWAL(ctx, c)
		}
		if err != nil {
			os.RemoveAll(dir)
			t.Fatalf("making the template cluster: %v", err)
		}
		if templates.dirs == nil {
			templates.dirs = map[string]string{}
		}
		templates.dirs[engine] = dir
	}
	dst := stateDir(t)
	// cp -a keeps the owner (the postgres or mysql user) and modes.
	if out, err := exec.Command("cp", "-a", "--", templates.dirs[engine]+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("copying the template cluster: %v: %s", err, out)
	}
	drop := map[string][]string{tmplSingle: {nodeB, nodeW}, tmplReplica: {nodeB}}[kind]
	for _, name := range drop {
		if err := os.RemoveAll(filepath.Join(dst, "db", name)); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// trimWAL removes from the stopped cluster's nodes the WAL segments
// before their last checkpoint, which kept the template (and every copy
// of it) larger than it needs to be.
func trimWAL(ctx context.Context, c *Cluster) error {
	for _, n := range c.nodes {
		out, err := c.toolOutput(ctx, n, c.tool("pg_controldata"), "-D", n.layout.dataDir)
		if err != nil {
			return err
		}
		_, rest, ok := strings.Cut(out, "Latest checkpoint's REDO WAL file:")
		if !ok {
			return fmt.Errorf("no REDO WAL file in the control data of %s", n.cfg.Name)
		}
		keep := strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0])
		if err := c.runTool(ctx, n, c.tool("pg_archivecleanup"), filepath.Join(n.layout.dataDir, "pg_wal"), keep); err != nil {
			return err
		}
	}
	return nil
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
	return testenv.OpenTempDir(t, "hastack-rds-")
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
