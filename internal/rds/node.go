package rds

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// node is one database server of the cluster and its process, if running.
type node struct {
	cfg    NodeConfig
	port   int
	layout layout

	mu   sync.Mutex // serialises start, stop and rebuilds
	proc atomic.Pointer[postmaster]
	// busy is set while the agent restarts or rebuilds the node in the
	// background; the decider leaves it alone meanwhile.
	busy atomic.Bool
	// logFrom is where the server's log began at its last start; the
	// monitor reads what it reports from there on.
	logFrom atomic.Int64
}

func (n *node) addrPort() netip.AddrPort {
	return netip.AddrPortFrom(n.cfg.Addr, uint16(n.port))
}

// running reports whether the server process is alive; it does not wait
// for a start or stop in progress.
func (n *node) running() bool {
	p := n.proc.Load()
	return p != nil && !p.exited()
}

// stopTimeout bounds the clean-up after a failed start.
const stopTimeout = 15 * time.Second

// sessionTimeout bounds a short administrative session (replication
// slots, a checkpoint), so that a server that stops answering (a network
// cut) holds nothing up for long.
const sessionTimeout = 30 * time.Second

// startPlan is how a node is to start.
type startPlan struct {
	// conf is the node's role and settings, from the cluster state.
	conf serverConf
	// primary is the node a follower copies or rewinds from.
	primary *node
	// allowInit lets an empty primary be created with initdb (a new cluster).
	allowInit bool
	// rejoin makes a follower's existing data go through pg_rewind (on a
	// copy) first.
	rejoin bool
	// recopy gives a follower a new copy of the primary's data: its own
	// was found, at the last attempt, to have left the primary's history.
	recopy bool
}

// mustRecopy is the error of an engine's ready that found the follower's
// data cannot follow the primary (its history holds transactions the
// primary lacks): the start is tried again once, from a new copy.
type mustRecopy struct{ why string }

func (e mustRecopy) Error() string { return e.why }

// start brings the node up in the planned role: files, process,
// readiness, and on a primary the roles and the application database.
// On failure it stops what it started.
func (n *node) start(ctx context.Context, c *Cluster, plan startPlan) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running() {
		return nil
	}
	err := n.startOnce(ctx, c, plan)
	var recopy mustRecopy
	if errors.As(err, &recopy) && !plan.recopy {
		c.log.Warn("database node must be copied afresh", "node", n.cfg.Name, "reason", recopy.why)
		plan.recopy = true
		err = n.startOnce(ctx, c, plan)
	}
	return err
}

// startOnce is one attempt of start; the caller holds n.mu.
func (n *node) startOnce(ctx context.Context, c *Cluster, plan startPlan) error {
	if err := c.eng.prepare(ctx, c, n, plan); err != nil {
		n.removeTempSocketDir()
		return err
	}

	role := "primary"
	if plan.conf.follower {
		role = "follower of " + plan.primary.cfg.Name
	}
	c.emit(EventNodeStarting, fmt.Sprintf("starting database node %s (%s) on %s", n.cfg.Name, role, n.addrPort()))
	files := n.layout.files(c.acct)
	logStart := files.size(logName)
	n.logFrom.Store(logStart)
	proc, err := c.eng.launch(ctx, c, n, func(err error) { c.nodeExited(n, err) })
	if err != nil {
		n.removeTempSocketDir()
		return err
	}
	n.proc.Store(proc)
	err = c.eng.ready(ctx, c, n, plan)
	if err == nil {
		proc.watched.Store(true)
		c.nodeUp(n)
		c.log.Info("database node ready", "node", n.cfg.Name, "role", role, "address", n.addrPort().String(), "pid", proc.pid())
		c.emit(EventNodeReady, fmt.Sprintf("database node %s (%s) is ready on %s", n.cfg.Name, role, n.addrPort()))
		return nil
	}
	if proc.exited() {
		err = fmt.Errorf("the server exited during startup (%v); last lines of %s:%s",
			proc.waitErr, n.layout.logFile, lastLines(string(files.readFrom(logName, logStart, 1<<20)), 10))
	}
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
	defer cancel()
	n.stopLocked(stopCtx) // the start error is the one worth reporting
	return err
}

// prepare readies the node's files for its role and checks nothing is in
// the way of its server.
func (n *node) prepare(ctx context.Context, c *Cluster, plan startPlan) error {
	if err := prepareDirs(&n.layout, c.acct, n.port); err != nil {
		return fmt.Errorf("preparing directories: %w", err)
	}
	if plan.conf.follower {
		if err := n.prepareFollower(ctx, c, plan); err != nil {
			return err
		}
	} else {
		ok, err := complete(n.layout, c.acct, n.cfg.Name)
		if err != nil {
			return err
		}
		if !ok {
			if !plan.allowInit {
				return fmt.Errorf("data directory %s is empty or incomplete, but the cluster state names this node the primary", n.layout.dataDir)
			}
			// Before the long part: the server could not listen anyway.
			if err := checkFree(n.addrPort()); err != nil {
				return err
			}
			// Nothing of a first start that did not finish is used: the
			// new cluster is made in data.new and swapped in once complete.
			c.log.Info("initialising database node", "node", n.cfg.Name, "data_dir", n.layout.dataDir)
			if err := initdb(ctx, c.binDir, n.layout, c.acct, c.adminPassword); err != nil {
				return err
			}
			if err := markComplete(n.layout, c.acct, newDataName, n.cfg.Name); err != nil {
				return err
			}
			if err := swapIn(n.layout); err != nil {
				return err
			}
		}
		// A standby.signal left here means a promotion was recorded but
		// not carried out: the server starts in recovery and becomeReady
		// promotes it, onto a new timeline.
	}
	if err := writeConfig(n.layout, c.acct, plan.conf); err != nil {
		return fmt.Errorf("writing configuration: %w", err)
	}
	if err := clearStale(ctx, n.layout, c.acct); err != nil {
		return err
	}
	return checkFree(n.addrPort())
}

// prepareFollower gives a follower data to start from: a base backup of
// the primary when it has no complete copy, its own data rewound to the
// primary's when it must rejoin (falling back to a base backup), else
// its own. A new copy replaces the old one only once it is complete.
func (n *node) prepareFollower(ctx context.Context, c *Cluster, plan startPlan) error {
	if err := writePassfile(n, c.acct, c.replPassword); err != nil {
		return err
	}
	ok, err := complete(n.layout, c.acct, n.cfg.Name)
	if err != nil {
		return err
	}
	if !ok || plan.rejoin {
		if err := checkFree(n.addrPort()); err != nil {
			return err
		}
		c.log.Info("copying database node", "node", n.cfg.Name, "from", plan.primary.cfg.Name, "rewind", ok)
		how, err := c.rebuildData(ctx, n, plan.primary, !ok)
		if err != nil {
			return err
		}
		c.emit(EventNodeRebuilt, fmt.Sprintf("database node %s %s", n.cfg.Name, how))
	}
	return setStandbySignal(n.layout, c.acct, true)
}

// becomeReady waits for a primary to accept connections, then makes the
// roles and the application database what the config says.
func (n *node) becomeReady(ctx context.Context, c *Cluster) error {
	conn, asMaster, err := n.waitAccepting(ctx, c, n.proc.Load())
	if err != nil {
		return err
	}
	defer func() { conn.Close(context.WithoutCancel(ctx)) }()
	var inRecovery bool
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
		return fmt.Errorf("checking recovery: %w", err)
	}
	if inRecovery {
		c.log.Warn("finishing an interrupted promotion", "node", n.cfg.Name)
		if _, err := conn.Exec(ctx, "SELECT pg_promote(true, 60)"); err != nil {
			return fmt.Errorf("finishing an interrupted promotion: %w", err)
		}
	}
	if asMaster {
		if conn, err = n.takeOver(ctx, c, conn); err != nil {
			return err
		}
	}
	user, db := c.cfg.Database.Username, c.cfg.Database.Name
	if err := ensureSuperUser(ctx, conn, c.adminPassword); err != nil {
		return err
	}
	if err := ensureReplicationRole(ctx, conn, c.replPassword); err != nil {
		return err
	}
	if err := ensureAppRole(ctx, conn, user, c.password); err != nil {
		return err
	}
	if err := ensureAppDatabase(ctx, conn, db, user); err != nil {
		return err
	}
	appDB, err := n.localConn(ctx, superUser, c.adminPassword, db)
	if err != nil {
		return fmt.Errorf("connecting to database %s: %w", db, err)
	}
	err = handOver(ctx, appDB, user)
	appDB.Close(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	// Finally the way clients come in: TCP with the master password,
	// from the node's own address.
	cfg, err := pgx.ParseConfig(c.DirectURL(n.cfg.Name))
	if err != nil {
		return fmt.Errorf("building connection config: %w", err)
	}
	cfg.DialFunc = dialerFrom(n.cfg.Addr).DialContext
	tcp, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connecting to %s with the master password: %w", n.addrPort(), err)
	}
	return tcp.Close(ctx)
}

// takeOver moves a cluster made by an earlier hastack, whose master user
// was its superuser, to hastack's own superuser; conn is a session as
// the master user, which it closes. It returns a session as superUser.
// The master user loses its privileges in ensureAppRole.
func (n *node) takeOver(ctx context.Context, c *Cluster, conn *pgx.Conn) (*pgx.Conn, error) {
	master := c.cfg.Database.Username
	bootstrap, super, err := legacyBootstrap(ctx, conn)
	if err != nil {
		conn.Close(ctx)
		return nil, err
	}
	if !super {
		conn.Close(ctx)
		return nil, fmt.Errorf("cannot log in as hastack's superuser %s with the password in %s, and the master user %s is no superuser; restore that password file",
			superUser, adminPasswordPath(c.cfg.StateDir), master)
	}
	if !bootstrap {
		err := setRolePassword(ctx, conn, superUser, "SUPERUSER LOGIN", c.adminPassword)
		conn.Close(ctx)
		if err != nil {
			return nil, err
		}
	} else {
		// The bootstrap user owns the system catalogs and cannot stop
		// being their owner: it becomes hastack's superuser under its new
		// name, and the master user is made anew. A role of its own
		// renames it, as no session may rename its own user.
		err := setRolePassword(ctx, conn, migrationUser, "SUPERUSER LOGIN", c.adminPassword)
		conn.Close(ctx)
		if err != nil {
			return nil, err
		}
		m, err := n.localConn(ctx, migrationUser, c.adminPassword, "postgres")
		if err != nil {
			return nil, fmt.Errorf("connecting as %s: %w", migrationUser, err)
		}
		defer m.Close(context.WithoutCancel(ctx))
		rename := fmt.Sprintf("ALTER ROLE %s RENAME TO %s", pgx.Identifier{master}.Sanitize(), pgx.Identifier{superUser}.Sanitize())
		if _, err := m.Exec(ctx, rename); err != nil {
			return nil, fmt.Errorf("renaming the bootstrap user %s to %s: %w", master, superUser, err)
		}
		if err := setRolePassword(ctx, m, superUser, "SUPERUSER LOGIN", c.adminPassword); err != nil {
			return nil, err
		}
		if err := setRolePassword(ctx, m, master, appRoleAttrs, c.password); err != nil {
			return nil, err
		}
	}
	c.log.Warn("the master user is no longer a superuser", "node", n.cfg.Name, "user", master, "superuser", superUser)
	admin, err := n.localConn(ctx, superUser, c.adminPassword, "postgres")
	if err != nil {
		return nil, fmt.Errorf("connecting as %s: %w", superUser, err)
	}
	return admin, nil
}

// waitFollowing waits until a follower accepts read-only sessions, which
// it does once its copy is consistent.
func (n *node) waitFollowing(ctx context.Context, c *Cluster, proc *postmaster) error {
	conn, _, err := n.waitAccepting(ctx, c, proc)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// localConfig is a connection over the node's Unix socket as user.
func (n *node) localConfig(user, password, database string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, fmt.Errorf("building connection config: %w", err)
	}
	cfg.Host = n.layout.sockDir
	cfg.Port = uint16(n.port)
	cfg.User = user
	cfg.Password = password
	cfg.Database = database
	cfg.Fallbacks = nil
	cfg.ConnectTimeout = 2 * time.Second
	cfg.RuntimeParams = map[string]string{"application_name": "hastack"}
	return cfg, nil
}

func (n *node) localConn(ctx context.Context, user, password, database string) (*pgx.Conn, error) {
	cfg, err := n.localConfig(user, password, database)
	if err != nil {
		return nil, err
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// connect opens a session on the node over TCP as hastack's superuser,
// from the control address of the node's region (its agent's);
// timeout bounds the connection set-up.
func (c *Cluster) connect(ctx context.Context, n *node, timeout time.Duration) (*pgx.Conn, error) {
	return c.connectFrom(ctx, c.controlAddr(n.cfg.Region), n, timeout)
}

// connectFrom is connect with the session leaving from the address from.
func (c *Cluster) connectFrom(ctx context.Context, from netip.Addr, n *node, timeout time.Duration) (*pgx.Conn, error) {
	return pgConnect(ctx, from, n.addrPort(), c.adminPassword, timeout)
}

// controlAddr is the address hastack's control plane works from in
// region: the address of the region's writer endpoint, which belongs to
// the region and to none of its AZs (the kernel's choice, 127.0.0.1,
// for a region without endpoints).
func (c *Cluster) controlAddr(region string) netip.Addr {
	if ep, ok := c.writers[region]; ok {
		return ep.addr.Addr()
	}
	return netip.Addr{}
}

// waitAccepting polls the node's Unix socket until a session as
// hastack's superuser opens, the process exits or ctx ends. On data of
// an earlier hastack, which has no such user yet, the session is the
// master user's, and asMaster says so.
func (n *node) waitAccepting(ctx context.Context, c *Cluster, proc *postmaster) (conn *pgx.Conn, asMaster bool, err error) {
	admin, err := n.localConfig(superUser, c.adminPassword, "postgres")
	if err != nil {
		return nil, false, err
	}
	master, err := n.localConfig(c.cfg.Database.Username, c.password, "postgres")
	if err != nil {
		return nil, false, err
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := pgx.ConnectConfig(ctx, admin)
		if err == nil {
			return conn, false, nil
		}
		if authFailed(err) {
			if conn, merr := pgx.ConnectConfig(ctx, master); merr == nil {
				return conn, true, nil
			}
		}
		select {
		case <-proc.done:
			return nil, false, errors.New("postgres exited during startup")
		case <-ctx.Done():
			return nil, false, fmt.Errorf("waiting for postgres to accept connections: %w (last attempt: %v)", context.Cause(ctx), err)
		case <-tick.C:
		}
	}
}

// reload makes the running server re-read its configuration files.
func (n *node) reload() error {
	p := n.proc.Load()
	if p == nil || p.exited() {
		return errors.New("not running")
	}
	if err := p.signal(syscall.SIGHUP); err != nil {
		return fmt.Errorf("signalling postgres to reload: %w", err)
	}
	return nil
}

// checkFree fails when something already listens on ap.
func checkFree(ap netip.AddrPort) error {
	ln, err := net.Listen("tcp", ap.String())
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("address %s is already in use", ap)
	}
	if err != nil {
		return fmt.Errorf("checking address %s: %w", ap, err)
	}
	return ln.Close()
}

func (n *node) stop(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stopLocked(ctx)
}

func (n *node) stopLocked(ctx context.Context) error {
	p := n.proc.Load()
	if p == nil {
		return nil
	}
	err := p.stop(ctx, n.layout.dataDir)
	n.proc.Store(nil)
	n.removeTempSocketDir()
	return err
}

// shutdownThrough stops the server with a fast shutdown asked for over
// sess, which it closes, and waits for it to exit; when it has not
// exited after gracefulStop, it is killed. It returns what happened.
func (n *node) shutdownThrough(ctx context.Context, sess session) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.proc.Load()
	if p != nil {
		p.stopping.Store(true)
	}
	ectx, cancel := context.WithTimeout(ctx, gracefulStop)
	sess.shutdown(ectx)
	cancel()
	sess.close(context.WithoutCancel(ctx))
	if p == nil {
		return "shut down"
	}
	how := "shut down"
	t := time.NewTimer(gracefulStop)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		how = "killed after a slow shutdown"
		p.kill(n.layout.dataDir)
	case <-ctx.Done():
		how = "killed"
		p.kill(n.layout.dataDir)
	}
	n.proc.Store(nil)
	n.removeTempSocketDir()
	return how
}

// kill ends the server and all its processes at once with SIGKILL, as a
// power cut would, and waits until the postmaster is reaped. It reports
// whether a server was running.
func (n *node) kill() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.proc.Load()
	if p == nil {
		return false
	}
	wasRunning := p.kill(n.layout.dataDir)
	n.proc.Store(nil)
	n.removeTempSocketDir()
	return wasRunning
}

func (n *node) removeTempSocketDir() {
	if n.layout.sockIsTemp {
		os.RemoveAll(n.layout.sockDir)
		n.layout.sockDir, n.layout.sockIsTemp = filepath.Join(n.layout.nodeDir, "run"), false
	}
}

// since is the time elapsed since t, rounded for messages.
func since(t time.Time) time.Duration {
	return time.Since(t).Round(time.Millisecond)
}
