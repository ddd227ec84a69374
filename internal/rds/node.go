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
	"github.com/jackc/pgx/v5/pgconn"
)

// node is one database server of the cluster and its process, if running.
type node struct {
	cfg    NodeConfig
	port   int
	layout layout

	mu   sync.Mutex // serialises start, stop and rebuilds
	proc atomic.Pointer[postmaster]
	// busy is set while the agent rebuilds the node; the decider leaves
	// it alone meanwhile.
	busy atomic.Bool
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

// startPlan is how a node is to start.
type startPlan struct {
	// conf is the node's role and settings, from the cluster state.
	conf serverConf
	// primary is the node a follower copies or rewinds from.
	primary *node
	// allowInit lets an empty primary be created with initdb (a new cluster).
	allowInit bool
	// rejoin makes a follower's existing data go through pg_rewind first.
	rejoin bool
}

// start brings the node up in the planned role: files, process,
// readiness, and on a primary the credentials and the application
// database. On failure it stops what it started.
func (n *node) start(ctx context.Context, c *Cluster, plan startPlan) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running() {
		return nil
	}
	if err := n.prepare(ctx, c, plan); err != nil {
		n.removeTempSocketDir()
		return err
	}

	role := "primary"
	if plan.conf.follower {
		role = "follower of " + plan.primary.cfg.Name
	}
	c.emit(EventNodeStarting, fmt.Sprintf("starting database node %s (%s) on %s", n.cfg.Name, role, n.addrPort()))
	logStart := fileSize(n.layout.logFile)
	proc, err := startPostmaster(c.binDir, n.layout, c.acct, func(err error) { c.nodeExited(n, err) })
	if err != nil {
		n.removeTempSocketDir()
		return err
	}
	n.proc.Store(proc)
	if plan.conf.follower {
		err = n.waitFollowing(ctx, c, proc)
	} else {
		err = n.becomeReady(ctx, c)
	}
	if err == nil {
		proc.watched.Store(true)
		c.log.Info("database node ready", "node", n.cfg.Name, "role", role, "address", n.addrPort().String(), "pid", proc.pid())
		c.emit(EventNodeReady, fmt.Sprintf("database node %s (%s) is ready on %s", n.cfg.Name, role, n.addrPort()))
		return nil
	}
	if proc.exited() {
		err = fmt.Errorf("postgres exited during startup (%v); last lines of %s:%s",
			proc.waitErr, n.layout.logFile, lastLines(readFrom(n.layout.logFile, logStart), 10))
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
		if !initialized(n.layout.dataDir) {
			if !plan.allowInit {
				return fmt.Errorf("data directory %s is empty, but the cluster state names this node the primary", n.layout.dataDir)
			}
			c.log.Info("initialising database node", "node", n.cfg.Name, "data_dir", n.layout.dataDir)
			if err := initdb(ctx, c.binDir, n.layout, c.acct, c.cfg.Database.Username, c.password); err != nil {
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
	if err := clearStale(ctx, n.layout.dataDir); err != nil {
		return err
	}
	return checkFree(n.addrPort())
}

// prepareFollower gives a follower data to start from: a base backup of
// the primary when it has none, its own data rewound to the primary's
// when it must rejoin (falling back to a base backup), else its own.
func (n *node) prepareFollower(ctx context.Context, c *Cluster, plan startPlan) error {
	if err := writePassfile(n, c.acct, c.replPassword); err != nil {
		return err
	}
	begin := time.Now()
	switch {
	case !initialized(n.layout.dataDir):
		c.log.Info("copying database node", "node", n.cfg.Name, "from", plan.primary.cfg.Name)
		if err := c.baseBackup(ctx, n, plan.primary); err != nil {
			return err
		}
		c.emit(EventNodeRebuilt, fmt.Sprintf("database node %s copied from %s with pg_basebackup in %s", n.cfg.Name, plan.primary.cfg.Name, since(begin)))
	case plan.rejoin:
		err := c.rewind(ctx, n, plan.primary)
		if err == nil {
			c.emit(EventNodeRebuilt, fmt.Sprintf("database node %s rewound to follow %s with pg_rewind in %s", n.cfg.Name, plan.primary.cfg.Name, since(begin)))
			break
		}
		if ctx.Err() != nil {
			return err
		}
		c.log.Warn("pg_rewind failed, taking a fresh base backup", "node", n.cfg.Name, "err", err)
		if err := c.baseBackup(ctx, n, plan.primary); err != nil {
			return err
		}
		c.emit(EventNodeRebuilt, fmt.Sprintf("database node %s could not be rewound (%v); copied afresh from %s with pg_basebackup in %s", n.cfg.Name, err, plan.primary.cfg.Name, since(begin)))
	}
	return setStandbySignal(n.layout, c.acct, true)
}

// becomeReady waits for a primary to accept connections, then makes the
// master password, the replication role and the application database
// what the config says.
func (n *node) becomeReady(ctx context.Context, c *Cluster) error {
	conn, err := n.waitAccepting(ctx, c.cfg.Database.Username, n.proc.Load())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
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
	if err := setPassword(ctx, conn, c.cfg.Database.Username, c.password); err != nil {
		return err
	}
	if err := ensureReplicationRole(ctx, conn, c.replPassword); err != nil {
		return err
	}
	if err := createDatabase(ctx, conn, c.cfg.Database.Name); err != nil {
		return err
	}
	// Finally the way clients come in: TCP with the password.
	tcp, err := pgx.Connect(ctx, c.DirectURL(n.cfg.Name))
	if err != nil {
		return fmt.Errorf("connecting to %s with the master password: %w", n.addrPort(), err)
	}
	return tcp.Close(ctx)
}

// waitFollowing waits until a follower accepts read-only sessions, which
// it does once its copy is consistent.
func (n *node) waitFollowing(ctx context.Context, c *Cluster, proc *postmaster) error {
	conn, err := n.waitAccepting(ctx, c.cfg.Database.Username, proc)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// localConfig is a connection over the node's Unix socket as user, which
// the node trusts.
func (n *node) localConfig(user string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, fmt.Errorf("building connection config: %w", err)
	}
	cfg.Host = n.layout.sockDir
	cfg.Port = uint16(n.port)
	cfg.User = user
	cfg.Password = ""
	cfg.Database = "postgres"
	cfg.Fallbacks = nil
	cfg.ConnectTimeout = 2 * time.Second
	cfg.RuntimeParams = map[string]string{"application_name": "hastack"}
	return cfg, nil
}

// connect opens a session on the node over TCP as the master user, as
// clients do; timeout bounds the connection set-up.
func (c *Cluster) connect(ctx context.Context, n *node, timeout time.Duration) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(c.DirectURL(n.cfg.Name))
	if err != nil {
		return nil, fmt.Errorf("building connection config: %w", err)
	}
	cfg.ConnectTimeout = timeout
	cfg.RuntimeParams["application_name"] = "hastack"
	return pgx.ConnectConfig(ctx, cfg)
}

// waitAccepting polls the node's Unix socket until a session opens, the
// process exits or ctx ends.
func (n *node) waitAccepting(ctx context.Context, user string, proc *postmaster) (*pgx.Conn, error) {
	cfg, err := n.localConfig(user)
	if err != nil {
		return nil, err
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			return conn, nil
		}
		select {
		case <-proc.done:
			return nil, errors.New("postgres exited during startup")
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for postgres to accept connections: %w (last attempt: %v)", context.Cause(ctx), err)
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
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		return fmt.Errorf("signalling postgres to reload: %w", err)
	}
	return nil
}

// setPassword sets the user's password as a SCRAM verifier computed here,
// so the password itself never appears in SQL the server could log. It
// makes the server agree with the password file even if that was replaced.
func setPassword(ctx context.Context, conn *pgx.Conn, user, password string) error {
	verifier, err := scramVerifier(password)
	if err != nil {
		return fmt.Errorf("setting the master password: %w", err)
	}
	sql := fmt.Sprintf("ALTER ROLE %s PASSWORD '%s'", pgx.Identifier{user}.Sanitize(), verifier)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("setting the master password: %w", err)
	}
	return nil
}

// createDatabase creates the application database unless it exists.
func createDatabase(ctx context.Context, conn *pgx.Conn, name string) error {
	var exists bool
	err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err != nil {
		return fmt.Errorf("looking up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating database %s: %w", name, err)
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
	err := p.stop(ctx)
	n.proc.Store(nil)
	n.removeTempSocketDir()
	return err
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
