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
		{"engine", func(c *Config) { c.Database.Engine = "oracle" }, `database engine "oracle" is not supported; "postgres" and "mysql" are`},
		{"mysql, primary alone", func(c *Config) { c.Database.Engine = "mysql" }, ""},
		{"mysql with followers", func(c *Config) {
			c.Database.Engine = "mysql"
			c.Nodes = append(c.Nodes, NodeConfig{Name: "db-c", Region: "us-west-2", Role: RoleReplica, Addr: netip.MustParseAddr("127.0.12.5")})
		}, ""},
		{"mysql with synchronous cross-region commits", func(c *Config) {
			c.Database.Engine, c.Database.CrossRegionCommit = "mysql", "sync"
		}, `cross_region_commit = "sync" needs engine = "postgres"`},
		{"MariaDB's own accounts", func(c *Config) { c.Database.Engine, c.Database.Username = "mysql", "root" }, `the database username "root" is reserved by MariaDB`},
		{"a PostgreSQL role name is fine on MariaDB", func(c *Config) { c.Database.Engine, c.Database.Username = "mysql", "pg_monitor" }, ""},
		{"port", func(c *Config) { c.Database.Port = 0 }, "port 0 is out of range"},
		{"no state dir", func(c *Config) { c.StateDir = "" }, "no state directory"},
		{"no nodes", func(c *Config) { c.Nodes = nil }, "exactly one primary node, got 0"},
		{"standby and replica", func(c *Config) {
			c.Database.MultiAZ = true
			c.Nodes = append(c.Nodes,
				NodeConfig{Name: "db-b", Region: "us-east-1", Role: RoleStandby, Addr: netip.MustParseAddr("127.0.11.5")},
				NodeConfig{Name: "db-c", Region: "us-west-2", Role: RoleReplica, Addr: netip.MustParseAddr("127.0.12.5")})
		}, ""},
		{"standby without multi-AZ", func(c *Config) {
			c.Nodes = append(c.Nodes, NodeConfig{Name: "db-b", Region: "us-east-1", Role: RoleStandby, Addr: netip.MustParseAddr("127.0.11.5")})
		}, "db-b is a standby, but multi_az is off"},
		{"standby in another region", func(c *Config) {
			c.Database.MultiAZ = true
			c.Nodes = append(c.Nodes, NodeConfig{Name: "db-b", Region: "us-west-2", Role: RoleStandby, Addr: netip.MustParseAddr("127.0.11.5")})
		}, "db-b is configured as standby, but next to primary db-us-east-1a it must be the replica"},
		{"replica where the standby belongs", func(c *Config) {
			c.Database.MultiAZ = true
			c.Nodes = append(c.Nodes, NodeConfig{Name: "db-b", Region: "us-east-1", Role: RoleReplica, Addr: netip.MustParseAddr("127.0.11.5")})
		}, "must be the standby"},
		{"no primary", func(c *Config) { c.Nodes[0].Role = RoleReplica }, "exactly one primary node, got 0"},
		{"two primaries", func(c *Config) {
			c.Nodes = append(c.Nodes, NodeConfig{Name: "db-b", Region: "us-west-2", Role: RolePrimary, Addr: netip.MustParseAddr("127.0.11.5")})
		}, "exactly one primary node, got db-us-east-1a and db-b"},
		{"slot names clash", func(c *Config) {
			c.Nodes = append(c.Nodes, NodeConfig{Name: "db_us_east_1a", Region: "us-west-2", Role: RoleReplica, Addr: netip.MustParseAddr("127.0.11.5")})
		}, "too alike"},
		{"reserved user", func(c *Config) { c.Database.Username = "replicator" }, "reserved for replication"},
		{"hastack's superuser", func(c *Config) { c.Database.Username = "hastack_admin" },
			`the database username "hastack_admin" is reserved for hastack's own superuser; choose another username`},
		{"PostgreSQL's roles", func(c *Config) { c.Database.Username = "pg_monitor" }, "reserved by PostgreSQL"},
		{"public", func(c *Config) { c.Database.Username = "public" }, "reserved by PostgreSQL"},
		{"endpoint clash", func(c *Config) {
			c.Endpoints = []EndpointConfig{{Region: "us-east-1", Writer: netip.MustParseAddr("127.0.10.5"), Reader: netip.MustParseAddr("127.0.10.7")}}
		}, "already used by the database node db-us-east-1a"},
		{"endpoint not loopback", func(c *Config) {
			c.Endpoints = []EndpointConfig{{Region: "us-east-1", Writer: netip.MustParseAddr("10.0.0.6"), Reader: netip.MustParseAddr("127.0.10.7")}}
		}, "not an IPv4 loopback address"},
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
