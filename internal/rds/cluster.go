package rds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
)

// Cluster is the running database tier.
type Cluster struct {
	cfg      Config
	binDir   string
	acct     account
	password string
	log      *slog.Logger

	mu    sync.Mutex // serialises Start and Stop
	nodes []*node
}

// NodeStatus is what Nodes reports about one node.
type NodeStatus struct {
	Name    string `json:"name"`
	Region  string `json:"region"`
	AZ      string `json:"az"`
	Role    Role   `json:"role"`
	Address string `json:"address"` // "ip:port"
	Running bool   `json:"running"`
	// LagBytes is how far the node's replay is behind the primary's WAL
	// (0 for the primary).
	LagBytes int64 `json:"lag_bytes"`
}

// New checks cfg, finds the PostgreSQL programs and loads the master
// password, generating it on first use, so the endpoints are known
// before Start. It starts nothing.
func New(cfg Config) (*Cluster, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	binDir, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	acct, err := runAsAccount()
	if err != nil {
		return nil, err
	}
	password, err := loadOrCreatePassword(passwordPath(cfg.StateDir))
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{cfg: cfg, binDir: binDir, acct: acct, password: password, log: log}
	for _, nc := range cfg.Nodes {
		c.nodes = append(c.nodes, &node{cfg: nc, port: cfg.Database.Port, layout: nodeLayout(cfg.StateDir, nc.Name)})
	}
	return c, nil
}

// Start brings every node up and returns once they accept connections
// and the application database exists; ctx bounds the wait, not the
// servers' lifetime. Nodes already running are left alone. On failure it
// stops what it started and names the node in the error.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var started []*node
	for _, n := range c.nodes {
		wasRunning := n.running()
		if err := n.start(ctx, c); err != nil {
			c.stopNodes(context.WithoutCancel(ctx), started)
			return fmt.Errorf("starting %s %s: %w", n.cfg.Role, n.cfg.Name, err)
		}
		if !wasRunning {
			started = append(started, n)
		}
	}
	return nil
}

// Stop shuts every node down (fast shutdown: open transactions are rolled
// back) and waits for the servers to exit; when ctx ends first, they are
// killed. Stopping a stopped cluster does nothing.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopNodes(ctx, c.nodes)
}

func (c *Cluster) stopNodes(ctx context.Context, nodes []*node) error {
	var errs []error
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		wasRunning := n.running()
		if err := n.stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping %s %s: %w", n.cfg.Role, n.cfg.Name, err))
		}
		if wasRunning {
			c.log.Info("database node stopped", "node", n.cfg.Name)
			c.emit(EventNodeStopped, fmt.Sprintf("database node %s stopped", n.cfg.Name))
		}
	}
	return errors.Join(errs...)
}

// WriterURL is the writer endpoint: the primary, with the master user's
// credentials, e.g. postgres://hastack:PASSWORD@127.0.10.5:5432/app?sslmode=disable.
func (c *Cluster) WriterURL() string {
	return c.nodeURL(c.primary())
}

// ReaderURL is the reader endpoint for clients in region. For now that is
// the primary as well.
func (c *Cluster) ReaderURL(region string) string {
	return c.nodeURL(c.primary())
}

// PasswordFile is the file holding the master password.
func (c *Cluster) PasswordFile() string {
	return passwordPath(c.cfg.StateDir)
}

// Nodes reports every node's current state.
func (c *Cluster) Nodes() []NodeStatus {
	out := make([]NodeStatus, 0, len(c.nodes))
	for _, n := range c.nodes {
		out = append(out, NodeStatus{
			Name:    n.cfg.Name,
			Region:  n.cfg.Region,
			AZ:      n.cfg.AZ,
			Role:    n.cfg.Role,
			Address: n.addrPort().String(),
			Running: n.running(),
		})
	}
	return out
}

func (c *Cluster) primary() *node {
	for _, n := range c.nodes {
		if n.cfg.Role == RolePrimary {
			return n
		}
	}
	return c.nodes[0] // New guarantees a primary
}

func (c *Cluster) nodeURL(n *node) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(c.cfg.Database.Username, c.password),
		Host:     n.addrPort().String(),
		Path:     "/" + c.cfg.Database.Name,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

func (c *Cluster) emit(kind, msg string) {
	if c.cfg.OnEvent != nil {
		c.cfg.OnEvent(kind, msg)
	}
}

// nodeExited is called when a node's server exits without being stopped.
func (c *Cluster) nodeExited(n *node, err error) {
	c.log.Error("database node exited unexpectedly", "node", n.cfg.Name, "err", err)
	c.emit(EventNodeExited, fmt.Sprintf("database node %s exited unexpectedly: %v", n.cfg.Name, err))
}

// Purge deletes the cluster's data and master password under stateDir.
// The cluster must be stopped.
func Purge(stateDir string) error {
	if err := os.RemoveAll(filepath.Join(stateDir, "db")); err != nil {
		return fmt.Errorf("removing database files: %w", err)
	}
	if err := os.Remove(passwordPath(stateDir)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing database password: %w", err)
	}
	return nil
}
