package rds

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/testenv"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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
