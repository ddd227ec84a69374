package rds

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/hastack/hastack/internal/spec"
)

// Role is a database node's part in the cluster.
type Role string

const (
	// RolePrimary accepts writes; the writer endpoint points at it.
	RolePrimary Role = "primary"
	// RoleStandby is the synchronous Multi-AZ standby (not supported yet).
	RoleStandby Role = "standby"
	// RoleReplica is an asynchronous cross-region read replica (not supported yet).
	RoleReplica Role = "replica"
)

// Event kinds passed to Config.OnEvent.
const (
	EventNodeStarting = "db_node_starting"
	EventNodeReady    = "db_node_ready"
	EventNodeStopped  = "db_node_stopped"
	// EventNodeExited reports a node that exited without being asked to.
	EventNodeExited = "db_node_exited"
)

// Config describes the cluster to run.
type Config struct {
	// StateDir holds each node's files in StateDir/db/<node> (data directory
	// in its data subdirectory) and the master password in
	// StateDir/secrets/db-password.
	StateDir string
	// Database is the stack file's database block; Engine, Port, Name and
	// Username must be set (the spec package fills in their defaults).
	Database spec.Database
	// Nodes of the cluster; for now exactly one, the primary.
	Nodes []NodeConfig
	// Logger receives the cluster's log lines; nil discards them.
	Logger *slog.Logger
	// OnEvent, if set, is called with one of the Event kinds when a node
	// starts, becomes ready, stops or exits on its own. It may be called
	// from another goroutine and must not block.
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

// validate checks cfg and returns it with StateDir made absolute.
func (cfg Config) validate() (Config, error) {
	if cfg.StateDir == "" {
		return cfg, errors.New("no state directory given")
	}
	abs, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return cfg, fmt.Errorf("resolving state directory: %w", err)
	}
	cfg.StateDir = abs
	db := cfg.Database
	switch {
	case db.Engine != "postgres":
		return cfg, fmt.Errorf("database engine %q is not supported; only \"postgres\" is", db.Engine)
	case db.Port < 1 || db.Port > 65535:
		return cfg, fmt.Errorf("database port %d is out of range 1-65535", db.Port)
	case db.Name == "":
		return cfg, errors.New("no database name given")
	case db.Username == "":
		return cfg, errors.New("no database username given")
	}
	return cfg, validateNodes(cfg.Nodes)
}

func validateNodes(nodes []NodeConfig) error {
	primaries := 0
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		switch {
		case n.Name == "" || n.Name == "." || n.Name == ".." || strings.ContainsAny(n.Name, `/\`):
			return fmt.Errorf("database node name %q is not a valid directory name", n.Name)
		case seen[n.Name]:
			return fmt.Errorf("database node name %q is used twice", n.Name)
		case !n.Addr.Is4() || !n.Addr.IsLoopback():
			return fmt.Errorf("database node %s address %v is not an IPv4 loopback address", n.Name, n.Addr)
		}
		seen[n.Name] = true
		switch n.Role {
		case RolePrimary:
			primaries++
		case RoleStandby, RoleReplica:
			return errors.New("standby/replica nodes are not supported yet")
		default:
			return fmt.Errorf("database node %s has unknown role %q", n.Name, n.Role)
		}
	}
	if primaries != 1 {
		return fmt.Errorf("the database cluster needs exactly one primary node, got %d", primaries)
	}
	return nil
}
