package rds

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/hastack/hastack/internal/spec"
)

// Role is a database node's part in the cluster.
type Role string

const (
	// RolePrimary accepts writes; the writer endpoints lead to it.
	RolePrimary Role = "primary"
	// RoleStandby is the synchronous Multi-AZ standby: a node in the
	// primary's region, in another AZ, that holds every acknowledged
	// commit and is promoted automatically when the primary fails.
	RoleStandby Role = "standby"
	// RoleReplica is an asynchronous read replica, normally in another
	// region; it is promoted by Promote or by WatchRegionFailover.
	RoleReplica Role = "replica"
	// RoleSpare is a Multi-AZ standby-to-be: a node in the second AZ of a
	// replica's region that has no server and no data while the primary
	// is elsewhere. When a promotion brings the primary to its region it
	// becomes that primary's standby, made then with a base backup, as
	// promoting a replica with Multi-AZ on creates a standby on AWS; when
	// the primary leaves again it is retired and its data removed.
	RoleSpare Role = "spare"
)

// Defaults for the spec.Database durations left zero.
const (
	DefaultFailoverDetection   = 10 * time.Second
	DefaultRegionFailoverAfter = 60 * time.Second
)

// replicationUser is the role the standby and the replicas log in as.
const replicationUser = "replicator"

// superUser is hastack's own superuser, the bootstrap user of every
// cluster it creates: the monitor, promotions and set-up log in as it,
// with the password in StateDir/secrets/db-admin-password. Applications
// get the master user (Database.Username), which is no superuser.
const superUser = "hastack_admin"

// reservedRoles are names PostgreSQL refuses for a role.
var reservedRoles = map[string]bool{"public": true, "none": true, "current_role": true, "current_user": true, "session_user": true}

// Config describes the cluster to run.
type Config struct {
	// StateDir holds each node's files in StateDir/db/<node> (data directory
	// in its data subdirectory), the cluster state document in
	// StateDir/db/cluster.json, and the master and replication passwords
	// in StateDir/secrets.
	StateDir string
	// Database is the stack file's database block; Engine, Port, Name and
	// Username must be set (the spec package fills in their defaults).
	// FailoverDetection and RegionFailoverAfter default to 10s and 60s.
	Database spec.Database
	// Nodes of the cluster: exactly one primary; with Database.MultiAZ a
	// standby in the primary's region; any number of replicas in other
	// regions. The roles are those of a new cluster: once the cluster has
	// failed over, the state document decides who is primary.
	Nodes []NodeConfig
	// Endpoints are the writer and reader endpoints, at most one pair per
	// region. With none, WriterURL and ReaderURL lead straight to the nodes.
	Endpoints []EndpointConfig
	// Logger receives the cluster's log lines; nil discards them.
	Logger *slog.Logger
	// NewLease, when set (the stack file's fencing = "lease"), makes each
	// region's write lease: the primary takes writes only while its
	// region holds it, and a promotion first takes it for its region.
	NewLease NewLeaseFunc
	// OnEvent, if set, is called with one of the Event kinds when a node
	// starts, stops or fails, and at every step of a failover. It may be
	// called from another goroutine and must not block.
	OnEvent func(kind, message string)
}

// NodeConfig is one database server.
type NodeConfig struct {
	// Name identifies the node and names its directory, e.g. "db-us-east-1a".
	Name   string
	Region string
	AZ     string
	Role   Role
	// Addr is the private loopback address the node listens on, on port
	// Database.Port.
	Addr netip.Addr
}

// EndpointConfig is one region's pair of endpoints, each a TCP proxy
// listening on its address, on port Database.Port.
type EndpointConfig struct {
	Region string
	// Writer always leads to the current primary, wherever it is.
	Writer netip.Addr
	// Reader leads to a healthy replica in Region, else to the primary.
	Reader netip.Addr
}

// mysqlReservedUsers are MariaDB's own accounts.
var mysqlReservedUsers = map[string]bool{"root": true, "mysql": true, "mariadb.sys": true, "PUBLIC": true}

// validate checks cfg and returns it with StateDir made absolute and the
// durations defaulted.
func (cfg Config) validate() (Config, error) {
	if cfg.StateDir == "" {
		return cfg, errors.New("no state directory given")
	}
	abs, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return cfg, fmt.Errorf("resolving state directory: %w", err)
	}
	cfg.StateDir = abs
	db := &cfg.Database
	switch {
	case db.Engine != "postgres" && db.Engine != "mysql":
		return cfg, fmt.Errorf("database engine %q is not supported; \"postgres\" and \"mysql\" are", db.Engine)
	case db.Engine == "mysql" && db.CrossRegionCommit == "sync":
		return cfg, errors.New(`cross_region_commit = "sync" needs engine = "postgres": MariaDB's semi-synchronous replication takes an acknowledgement from any one follower, so it cannot make commits wait for both the standby and the cross-region replica`)
	case db.Engine == "mysql" && mysqlReservedUsers[db.Username]:
		return cfg, fmt.Errorf("the database username %q is reserved by MariaDB; choose another username", db.Username)
	case db.Port < 1 || db.Port > 65535:
		return cfg, fmt.Errorf("database port %d is out of range 1-65535", db.Port)
	case db.Name == "":
		return cfg, errors.New("no database name given")
	case db.Username == "":
		return cfg, errors.New("no database username given")
	case db.Username == replicationUser:
		return cfg, fmt.Errorf("the database username %q is reserved for replication", replicationUser)
	case db.Username == superUser:
		return cfg, fmt.Errorf("the database username %q is reserved for hastack's own superuser; choose another username", superUser)
	case db.Engine == "postgres" && (strings.HasPrefix(db.Username, "pg_") || reservedRoles[db.Username]):
		return cfg, fmt.Errorf("the database username %q is reserved by PostgreSQL; choose another username", db.Username)
	case db.FailoverDetection < 0 || db.RegionFailoverAfter < 0:
		return cfg, errors.New("failover times must not be negative")
	}
	if db.FailoverDetection == 0 {
		db.FailoverDetection = DefaultFailoverDetection
	}
	if db.RegionFailoverAfter == 0 {
		db.RegionFailoverAfter = DefaultRegionFailoverAfter
	}
	if err := validateNodes(cfg.Nodes, db.MultiAZ); err != nil {
		return cfg, err
	}
	return cfg, validateEndpoints(cfg.Endpoints, cfg.Nodes)
}

func validateNodes(nodes []NodeConfig, multiAZ bool) error {
	primary := ""
	seen := make(map[string]bool, len(nodes))
	slots := make(map[string]string, len(nodes))
	for _, n := range nodes {
		switch {
		case n.Name == "" || n.Name == "." || n.Name == ".." || strings.ContainsAny(n.Name, `/\`):
			return fmt.Errorf("database node name %q is not a valid directory name", n.Name)
		case seen[n.Name]:
			return fmt.Errorf("database node name %q is used twice", n.Name)
		case !n.Addr.Is4() || !n.Addr.IsLoopback():
			return fmt.Errorf("database node %s address %v is not an IPv4 loopback address", n.Name, n.Addr)
		case n.Region == "":
			return fmt.Errorf("database node %s has no region", n.Name)
		}
		seen[n.Name] = true
		if other, ok := slots[slotName(n.Name)]; ok {
			return fmt.Errorf("database node names %q and %q are too alike to tell their replication slots apart", other, n.Name)
		}
		slots[slotName(n.Name)] = n.Name
		switch n.Role {
		case RolePrimary:
			if primary != "" {
				return fmt.Errorf("the database cluster needs exactly one primary node, got %s and %s", primary, n.Name)
			}
			primary = n.Name
		case RoleStandby:
			if !multiAZ {
				return fmt.Errorf("database node %s is a standby, but multi_az is off", n.Name)
			}
		case RoleReplica:
		case RoleSpare:
			if !multiAZ {
				return fmt.Errorf("database node %s is a spare Multi-AZ standby, but multi_az is off", n.Name)
			}
		default:
			return fmt.Errorf("database node %s has unknown role %q", n.Name, n.Role)
		}
	}
	if primary == "" {
		return errors.New("the database cluster needs exactly one primary node, got 0")
	}
	roles := rolesFor(nodes, primary, multiAZ)
	for _, n := range nodes {
		if roles[n.Name] != n.Role {
			return fmt.Errorf("database node %s is configured as %s, but next to primary %s it must be the %s (the standby is the one other node in the primary's region)",
				n.Name, n.Role, primary, roles[n.Name])
		}
	}
	return nil
}

func validateEndpoints(eps []EndpointConfig, nodes []NodeConfig) error {
	used := make(map[netip.Addr]string)
	for _, n := range nodes {
		used[n.Addr] = "database node " + n.Name
	}
	regions := make(map[string]bool)
	for _, ep := range eps {
		if regions[ep.Region] {
			return fmt.Errorf("region %q has two database endpoint pairs", ep.Region)
		}
		regions[ep.Region] = true
		for _, a := range []struct {
			kind string
			addr netip.Addr
		}{{"writer", ep.Writer}, {"reader", ep.Reader}} {
			if !a.addr.Is4() || !a.addr.IsLoopback() {
				return fmt.Errorf("database %s endpoint of region %s: address %v is not an IPv4 loopback address", a.kind, ep.Region, a.addr)
			}
			what := a.kind + " endpoint of region " + ep.Region
			if other, ok := used[a.addr]; ok {
				return fmt.Errorf("database %s has address %v, already used by the %s", what, a.addr, other)
			}
			used[a.addr] = what
		}
	}
	return nil
}

// rolesFor gives every node its role when primary is the primary: with
// Multi-AZ the first other node (in configuration order) in the
// primary's region is the synchronous standby; every other node is a
// replica, but for the nodes configured as spares, which stay spares.
func rolesFor(nodes []NodeConfig, primary string, multiAZ bool) map[string]Role {
	region := ""
	for _, n := range nodes {
		if n.Name == primary {
			region = n.Region
		}
	}
	roles := make(map[string]Role, len(nodes))
	standby := !multiAZ // true once the standby is chosen (or there is none)
	for _, n := range nodes {
		switch {
		case n.Name == primary:
			roles[n.Name] = RolePrimary
		case !standby && n.Region == region:
			roles[n.Name] = RoleStandby
			standby = true
		case n.Role == RoleSpare:
			roles[n.Name] = RoleSpare
		default:
			roles[n.Name] = RoleReplica
		}
	}
	return roles
}

// nodeOfSlot is the node whose replication slot and application_name
// is slot; slot itself when no node's is.
func (c *Cluster) nodeOfSlot(slot string) string {
	for _, n := range c.nodes {
		if slotName(n.cfg.Name) == slot {
			return n.cfg.Name
		}
	}
	return slot
}

// slotName is the node's replication slot and application_name on the
// primary: its name in lower case with anything but letters and digits
// turned into underscores, as slot names require.
func slotName(node string) string {
	b := []byte(strings.ToLower(node))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return string(b)
}
