package rds

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	base := func() Config { return testConfig("/var/lib/hastack/demo", "127.0.10.5", nil) }
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // substring of the error; "" for success
	}{
		{"valid", func(*Config) {}, ""},
		{"engine", func(c *Config) { c.Database.Engine = "mysql" }, `database engine "mysql" is not supported`},
		{"port", func(c *Config) { c.Database.Port = 0 }, "port 0 is out of range"},
		{"no state dir", func(c *Config) { c.StateDir = "" }, "no state directory"},
		{"no nodes", func(c *Config) { c.Nodes = nil }, "exactly one primary node, got 0"},
		{"standby", func(c *Config) {
			c.Nodes = append(c.Nodes, NodeConfig{Name: "db-b", Role: RoleStandby, Addr: netip.MustParseAddr("127.0.11.5")})
		}, "standby/replica nodes are not supported yet"},
		{"replica", func(c *Config) { c.Nodes[0].Role = RoleReplica }, "standby/replica nodes are not supported yet"},
		{"not loopback", func(c *Config) { c.Nodes[0].Addr = netip.MustParseAddr("10.0.0.1") }, "not an IPv4 loopback address"},
		{"bad name", func(c *Config) { c.Nodes[0].Name = "../x" }, "not a valid directory name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base()
			tt.modify(&cfg)
			_, err := cfg.validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestCheckTraversable(t *testing.T) {
	me := uint32(os.Geteuid())
	other := account{name: "nobody-test", uid: me + 4242, gid: 4242}
	dir := stateDir(t)
	open := filepath.Join(dir, "open")
	closed := filepath.Join(dir, "closed")
	for d, mode := range map[string]os.FileMode{open: 0o755, closed: 0o700} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkTraversable(filepath.Join(open, "db", "x"), other); err != nil {
		t.Errorf("open path: %v", err)
	}
	err := checkTraversable(filepath.Join(closed, "db"), other)
	if err == nil || !strings.Contains(err.Error(), "cannot enter directory "+closed+";") {
		t.Errorf("closed path error = %v", err)
	}
	self := account{name: "me", uid: me, gid: uint32(os.Getegid())}
	if err := checkTraversable(filepath.Join(closed, "db"), self); err != nil {
		t.Errorf("owner cannot enter its own directory: %v", err)
	}
}

func TestSocketPathFallback(t *testing.T) {
	requirePostgres(t)
	long := filepath.Join(stateDir(t), strings.Repeat("d", 80))
	if err := os.Mkdir(long, 0o755); err != nil {
		t.Fatal(err)
	}
	l := nodeLayout(long, "db-us-east-1a")
	a, err := runAsAccount()
	if err != nil {
		t.Fatal(err)
	}
	if err := prepareDirs(&l, a, 5432); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(l.sockDir)
	if !l.sockIsTemp || !strings.HasPrefix(l.sockDir, "/tmp/hastack-pg-") {
		t.Fatalf("socket dir %s (temp %v), want one under /tmp", l.sockDir, l.sockIsTemp)
	}
	if n := len(socketPath(l.sockDir, 5432)); n > maxSocketPath {
		t.Fatalf("socket path still %d bytes", n)
	}
}
