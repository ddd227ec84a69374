package rds

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
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

	mu   sync.Mutex // serialises start and stop
	proc atomic.Pointer[postmaster]
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

// start brings the node up as a primary: files, process, readiness,
// credentials and the application database. On failure it stops what it
// started.
func (n *node) start(ctx context.Context, c *Cluster) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running() {
		return nil
	}
	n.layout = nodeLayout(c.cfg.StateDir, n.cfg.Name)
	if err := n.prepare(ctx, c); err != nil {
		n.removeTempSocketDir()
		return err
	}

	c.emit(EventNodeStarting, fmt.Sprintf("starting database node %s (%s) on %s", n.cfg.Name, n.cfg.Role, n.addrPort()))
	logStart := fileSize(n.layout.logFile)
	proc, err := startPostmaster(c.binDir, n.layout, c.acct, func(err error) { c.nodeExited(n, err) })
	if err != nil {
		n.removeTempSocketDir()
		return err
	}
	n.proc.Store(proc)
	err = n.becomeReady(ctx, c)
	if err == nil {
		proc.watched.Store(true)
		c.log.Info("database node ready", "node", n.cfg.Name, "role", n.cfg.Role, "address", n.addrPort().String(), "pid", proc.pid())
		c.emit(EventNodeReady, fmt.Sprintf("database node %s (%s) is ready on %s", n.cfg.Name, n.cfg.Role, n.addrPort()))
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

// prepare readies the node's files and checks nothing is in the way of
// its server.
func (n *node) prepare(ctx context.Context, c *Cluster) error {
	if err := prepareDirs(&n.layout, c.acct, n.port); err != nil {
		return fmt.Errorf("preparing directories: %w", err)
	}
	if !initialized(n.layout.dataDir) {
		c.log.Info("initialising database node", "node", n.cfg.Name, "data_dir", n.layout.dataDir)
		if err := initdb(ctx, c.binDir, n.layout, c.acct, c.cfg.Database.Username, c.password); err != nil {
			return err
		}
	}
	if err := writeConfig(n.layout, c.acct, n.cfg.Addr, n.port); err != nil {
		return fmt.Errorf("writing configuration: %w", err)
	}
	if err := clearStale(ctx, n.layout.dataDir); err != nil {
		return err
	}
	return checkFree(n.addrPort())
}

// becomeReady waits for the server to accept connections, then makes the
// master password and the application database what the config says.
func (n *node) becomeReady(ctx context.Context, c *Cluster) error {
	conn, err := n.waitAccepting(ctx, c.cfg.Database.Username, n.proc.Load())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := setPassword(ctx, conn, c.cfg.Database.Username, c.password); err != nil {
		return err
	}
	if err := createDatabase(ctx, conn, c.cfg.Database.Name); err != nil {
		return err
	}
	// Finally the way clients come in: TCP with the password.
	tcp, err := pgx.Connect(ctx, c.nodeURL(n))
	if err != nil {
		return fmt.Errorf("connecting to %s with the master password: %w", n.addrPort(), err)
	}
	return tcp.Close(ctx)
}

// waitAccepting polls the node's Unix socket until a session opens, the
// process exits or ctx ends.
func (n *node) waitAccepting(ctx context.Context, user string, proc *postmaster) (*pgx.Conn, error) {
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

	tick := time.NewTicker(100 * time.Millisecond)
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

func (n *node) removeTempSocketDir() {
	if n.layout.sockIsTemp {
		os.RemoveAll(n.layout.sockDir)
		n.layout.sockIsTemp = false
	}
}
