package rds

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"syscall"

	"github.com/hastack/hastack/internal/mariadb"
)

// The MariaDB engine's half on a node's own files and process: the data
// directory is made with mariadb.Init (in data.new, swapped in once
// complete, as PostgreSQL's initdb), the server runs as the mysql OS
// user from an option file in the node's run directory, and a primary
// is opened for writes once it serves. Followers are not run yet.

// mariaLogName is a MariaDB node's server log, in its node directory.
const mariaLogName = "mariadbd.log"

// errMariaFollowers refuses what is not built yet.
var errMariaFollowers = errors.New("MariaDB followers (a Multi-AZ standby, a cross-region replica) are not run yet: a MySQL stack runs its primary alone")

// config is n's server configuration on the data directory dataDir.
func (e *mariaEngine) config(c *Cluster, n *node, dataDir string) mariadb.Config {
	return mariadb.Config{
		Name: n.cfg.Name, DataDir: dataDir, RunDir: n.layout.sockDir, Addr: n.addrPort(),
		ServerID: serverID(c, n), Cred: c.acct.credential(), Binaries: e.binaries,
		LogPath: n.layout.path(mariaLogName), Accounts: e.accounts,
	}
}

// serverID names n in the GTIDs it writes: its place in the
// configuration, from 1, the same at every start.
func serverID(c *Cluster, n *node) uint32 {
	for i, m := range c.nodes {
		if m == n {
			return uint32(i + 1)
		}
	}
	return 0
}

func (e *mariaEngine) prepare(ctx context.Context, c *Cluster, n *node, plan startPlan) error {
	if err := prepareDirs(&n.layout, c.acct, n.port); err != nil {
		return fmt.Errorf("preparing directories: %w", err)
	}
	if plan.conf.follower {
		return errMariaFollowers
	}
	ok, err := complete(n.layout, c.acct, n.cfg.Name)
	if err != nil {
		return err
	}
	if !ok {
		if !plan.allowInit {
			return fmt.Errorf("data directory %s is empty or incomplete, but the cluster state names this node the primary", n.layout.dataDir)
		}
		if err := checkFree(n.addrPort()); err != nil {
			return err
		}
		c.log.Info("initialising database node", "node", n.cfg.Name, "data_dir", n.layout.dataDir)
		if err := mariadb.Init(ctx, e.config(c, n, n.layout.path(newDataName))); err != nil {
			return err
		}
		if err := markComplete(n.layout, c.acct, newDataName, n.cfg.Name); err != nil {
			return err
		}
		if err := swapIn(n.layout); err != nil {
			return err
		}
	}
	return checkFree(n.addrPort())
}

func (e *mariaEngine) launch(ctx context.Context, c *Cluster, n *node, onExit func(error)) (*postmaster, error) {
	p, srv, err := startMariaServer(ctx, e.config(c, n, n.layout.dataDir), onExit)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.servers[n.cfg.Name] = srv
	e.mu.Unlock()
	return p, nil
}

// ready: mariadb.Start returned once the server took hastack's login.
func (e *mariaEngine) ready(context.Context, *Cluster, *node, startPlan) error { return nil }

// primaryReady opens the primary for writes (it starts read-only), or
// keeps it fenced while its region does not hold its write lease.
func (e *mariaEngine) primaryReady(ctx context.Context, c *Cluster, prim *node, _ State) error {
	e.mu.Lock()
	srv := e.servers[prim.cfg.Name]
	e.mu.Unlock()
	if srv == nil || srv.Exited() {
		return fmt.Errorf("primary %s is not running", prim.cfg.Name)
	}
	if c.writesFenced(prim.cfg.Region) {
		return srv.Fence(ctx)
	}
	_, err := srv.Promote(ctx)
	return err
}

func (e *mariaEngine) clientURL(ap netip.AddrPort, user, password, database string) string {
	u := url.URL{Scheme: "mysql", User: url.UserPassword(user, password), Host: ap.String(), Path: "/" + database}
	return u.String()
}

// startMariaServer runs mariadbd for cfg and keeps track of it as it
// does of a postmaster: onExit is called when it ends on its own once
// watched; stop asks for a clean shutdown with SIGTERM (statements
// ended, InnoDB flushed); kill ends it and whatever works in its data
// directory.
func startMariaServer(ctx context.Context, cfg mariadb.Config, onExit func(error)) (*postmaster, *mariadb.Server, error) {
	srv, err := mariadb.Start(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	process, err := os.FindProcess(srv.Pid())
	if err != nil {
		srv.Kill()
		return nil, nil, fmt.Errorf("following %s's process: %w", cfg.Name, err)
	}
	wait := func() error {
		err := srv.Wait()
		srv.Disconnect() // its admin session goes with it
		return err
	}
	return watchProcess(process, syscall.SIGTERM, wait, onExit), srv, nil
}
