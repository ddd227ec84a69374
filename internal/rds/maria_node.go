package rds

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"syscall"
	"time"

	"github.com/hastack/hastack/internal/mariadb"
)

// The MariaDB engine's half on a node's own files and process: the data
// directory is made with mariadb.Init (in data.new, swapped in once
// complete, as PostgreSQL's initdb), or for a follower copied from the
// primary with mariadb-backup; the server runs as the mysql OS user from
// an option file in the node's run directory; a primary is opened for
// writes once it serves, a follower told whom to follow (its relay), and
// whether to acknowledge as the standby, through an admin session.

// mariaLogName is a MariaDB node's server log, in its node directory.
const mariaLogName = "mariadbd.log"

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
	ok, err := complete(n.layout, c.acct, n.cfg.Name)
	if err != nil {
		return err
	}
	if plan.conf.follower {
		if !ok || plan.recopy {
			if err := checkFree(n.addrPort()); err != nil {
				return err
			}
			how, err := e.copyFrom(ctx, c, n, plan.primary, true)
			if err != nil {
				return err
			}
			c.emit(EventNodeRebuilt, fmt.Sprintf("database node %s %s", n.cfg.Name, how))
		}
		return checkFree(n.addrPort())
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

// server is the latest server process of the node named name, nil if
// it never ran.
func (e *mariaEngine) server(name string) *mariadb.Server {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.servers[name]
}

// running is name's server, or an error when it does not run.
func (e *mariaEngine) running(name string) (*mariadb.Server, error) {
	srv := e.server(name)
	if srv == nil || srv.Exited() {
		return nil, fmt.Errorf("%s is not running", name)
	}
	return srv, nil
}

// admin is a session with n's running server from its region's control
// address, as the monitor's probes come: a session from the address the
// kernel picks (127.0.0.1, the internet's domain) would be cut with the
// region when it is isolated, and the region's own failover would wait
// on it. The caller disconnects it.
func (e *mariaEngine) admin(c *Cluster, n *node) (*mariadb.Admin, error) {
	if _, err := e.running(n.cfg.Name); err != nil {
		return nil, err
	}
	return mariadb.Dial(n.cfg.Name, c.controlAddr(n.cfg.Region), n.addrPort(), e.accounts), nil
}

// ready: mariadb.Start returned once the server took hastack's login. A
// follower is told to follow: from the position of its copy when it was
// just made, else from where its own history ends, unless that history
// holds transactions the primary lacks (a former primary's writes that
// never reached the promoted node), when it must be copied afresh.
func (e *mariaEngine) ready(ctx context.Context, c *Cluster, n *node, plan startPlan) error {
	if !plan.conf.follower {
		return nil
	}
	srv, err := e.admin(c, n)
	if err != nil {
		return err
	}
	defer srv.Disconnect()
	e.mu.Lock()
	pos, copied := e.copiedAt[n.cfg.Name]
	e.mu.Unlock()
	if copied {
		if err := srv.SetReplicaPosition(ctx, pos); err != nil {
			return err
		}
		e.mu.Lock()
		delete(e.copiedAt, n.cfg.Name)
		e.mu.Unlock()
	} else if why := e.diverged(ctx, srv, n, plan.primary); why != "" {
		return mustRecopy{why}
	}
	return srv.Follow(ctx, plan.conf.follows, plan.conf.acknowledges)
}

// divergedCheckTimeout bounds the look at the primary's history before a
// follower starts following; without an answer the follower follows,
// and its primary refuses a diverged history (cannotFollow).
const divergedCheckTimeout = 3 * time.Second

// diverged tells why srv, to follow primary, holds transactions primary
// lacks ("" when it does not, or when the primary cannot be asked). It
// asks from the follower's own address, as its stream would connect.
func (e *mariaEngine) diverged(ctx context.Context, srv *mariadb.Admin, n, primary *node) string {
	ctx, cancel := context.WithTimeout(ctx, divergedCheckTimeout)
	defer cancel()
	own, err := srv.Position(ctx)
	if err != nil {
		return ""
	}
	admin := mariadb.Dial(primary.cfg.Name, n.cfg.Addr, primary.addrPort(), e.accounts)
	defer admin.Disconnect()
	theirs, err := admin.Position(ctx)
	if err != nil || !mariadb.Diverged(own.BinlogState, theirs.BinlogState) {
		return ""
	}
	return fmt.Sprintf("its history (%s) holds transactions that primary %s (%s) does not", own.BinlogState, primary.cfg.Name, theirs.BinlogState)
}

// primaryReady opens the primary for writes (it starts read-only), or
// keeps it fenced while its region does not hold its write lease, and
// makes its commits wait for the standby as st says.
func (e *mariaEngine) primaryReady(ctx context.Context, c *Cluster, prim *node, st State) error {
	srv, err := e.admin(c, prim)
	if err != nil {
		return fmt.Errorf("primary %w", err)
	}
	defer srv.Disconnect()
	if c.writesFenced(prim.cfg.Region) {
		err = srv.Fence(ctx)
	} else {
		_, err = srv.Promote(ctx)
	}
	if err != nil {
		return err
	}
	return srv.SetSemiSync(ctx, c.serverConf(prim, st).waitsForStandby)
}

// configure: a primary's wait for its standby is switched; a follower
// follows again, which restarts its stream from where it is.
func (e *mariaEngine) configure(ctx context.Context, c *Cluster, n *node, sc serverConf) error {
	srv, err := e.admin(c, n)
	if err != nil {
		return err
	}
	defer srv.Disconnect()
	if !sc.follower {
		return srv.SetSemiSync(ctx, sc.waitsForStandby)
	}
	return srv.Follow(ctx, sc.follows, sc.acknowledges)
}

// copyFrom clones primary's data with mariadb-backup into data.new,
// which replaces n's data once complete. The copy's position is kept
// for ready, where n starts following from it. MariaDB has no rewind:
// every copy is a fresh one.
func (e *mariaEngine) copyFrom(ctx context.Context, c *Cluster, n, primary *node, _ bool) (string, error) {
	begin := time.Now()
	src, err := e.running(primary.cfg.Name)
	if err != nil {
		return "", fmt.Errorf("primary %w", err)
	}
	// An unfinished copy is never the good one.
	for _, dir := range []string{newDataName, newDataName + ".clone", newDataName + ".old"} {
		if err := os.RemoveAll(n.layout.path(dir)); err != nil {
			return "", fmt.Errorf("removing an unfinished copy: %w", err)
		}
	}
	pos, err := mariadb.Clone(ctx, src, e.config(c, n, n.layout.path(newDataName)))
	if err != nil {
		return "", err
	}
	if err := markComplete(n.layout, c.acct, newDataName, n.cfg.Name); err != nil {
		return "", err
	}
	if err := swapIn(n.layout); err != nil {
		return "", err
	}
	e.mu.Lock()
	e.copiedAt[n.cfg.Name] = pos
	e.mu.Unlock()
	return fmt.Sprintf("copied from %s with mariadb-backup in %s, at %s", primary.cfg.Name, since(begin), pos), nil
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
