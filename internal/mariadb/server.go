package mariadb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Server is a running mariadbd, a child of hastack. Its methods talk to it
// as AdminUser over TCP, from the loopback address the kernel picks; Dial
// opens the same session from a chosen address.
type Server struct {
	*Admin
	cfg     Config
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has exited and been reaped
	waitErr error         // valid after done
	once    sync.Once     // closes the admin session
}

// Admin is a session, as AdminUser, with one server, over which it is
// told what to be (Follow, Promote, Fence, SetSemiSync, Shutdown) and
// asked where it stands. Its connections open lazily and again after a
// failure, each from the address it was dialled from.
type Admin struct {
	name         string
	db           *sql.DB
	replPassword string
}

// Dial opens an admin session with the server named name at addr, whose
// accounts are acc, from the address from (any loopback address the
// kernel picks when from is the zero Addr). Nothing is sent before the
// first call.
func Dial(name string, from netip.Addr, addr netip.AddrPort, acc Accounts) *Admin {
	db := sql.OpenDB(newConnector(from, addr.String(), AdminUser, acc.AdminPassword, ""))
	db.SetMaxIdleConns(2)
	db.SetConnMaxIdleTime(time.Minute)
	return &Admin{name: name, db: db, replPassword: acc.ReplicationPassword}
}

// Ping checks that the server takes the session's login.
func (a *Admin) Ping(ctx context.Context) error { return a.db.PingContext(ctx) }

// Disconnect ends the session's connections.
func (a *Admin) Disconnect() error { return a.db.Close() }

// Start runs mariadbd on an initialised data directory, with an option
// file written from cfg, and returns once it accepts connections. It
// starts read-only and follows no one.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if pids := processesIn(cfg.DataDir); len(pids) > 0 {
		return nil, fmt.Errorf("starting %s: processes %v already work in %s", cfg.Name, pids, cfg.DataDir)
	}
	if err := makeDir(cfg.Cred, cfg.RunDir); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cfg.Name, err)
	}
	if err := writePrivate(cfg.Cred, cfg.optionFile(), cfg.options()); err != nil {
		return nil, fmt.Errorf("starting %s: %w", cfg.Name, err)
	}
	logf, err := openLog(cfg)
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", cfg.Name, err)
	}
	defer logf.Close() // the child keeps its own copy

	// --defaults-file must come first; no other option file is read.
	cmd := exec.Command(cfg.Binaries.Server, "--defaults-file="+cfg.optionFile())
	cmd.Dir = cfg.DataDir
	cmd.Env = childEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr(cfg.Cred)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: running mariadbd: %w", cfg.Name, err)
	}
	s := &Server{cfg: cfg, cmd: cmd, done: make(chan struct{}), Admin: Dial(cfg.Name, netip.Addr{}, cfg.Addr, cfg.Accounts)}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.Kill()
		return nil, fmt.Errorf("starting %s: %w (its log is %s)", cfg.Name, err, cfg.LogPath)
	}
	return s, nil
}

// connector logs in to the server as user over TCP.
func (s *Server) connector(user, password, database string) driver.Connector {
	return newConnector(netip.Addr{}, s.cfg.Addr.String(), user, password, database)
}

// waitReady polls the server until it accepts a login, it exits, or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := s.Ping(pctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("mariadbd exited during start: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("not accepting connections in time: %w (last: %v)", context.Cause(ctx), err)
		case <-tick.C:
		}
	}
}

// Config is the server's configuration, defaults filled in.
func (s *Server) Config() Config { return s.cfg }

// Pid is mariadbd's process id (and its process group's).
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Done is closed once mariadbd has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// Wait waits for mariadbd to exit and returns how it did (nil for a
// clean exit).
func (s *Server) Wait() error {
	<-s.done
	return s.waitErr
}

// Exited reports whether mariadbd has exited.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Stop shuts the server down cleanly (SIGTERM: running statements are
// ended, InnoDB flushes) and waits for it; if ctx ends first, it is
// killed instead.
func (s *Server) Stop(ctx context.Context) error {
	defer s.closeDB()
	if s.Exited() {
		return nil
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stopping %s: %w", s.cfg.Name, err)
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
	}
	s.Kill()
	return fmt.Errorf("stopping %s: shutdown did not finish in time, killed it: %w", s.cfg.Name, context.Cause(ctx))
}

// Kill ends the server at once, as a crash would (SIGKILL to its whole
// process group), and waits until it is reaped.
func (s *Server) Kill() {
	defer s.closeDB()
	if !s.Exited() {
		syscall.Kill(-s.Pid(), syscall.SIGKILL)
	}
	<-s.done
}

func (s *Server) closeDB() { s.once.Do(func() { s.Disconnect() }) }

// Login opens a pool of connections to the server as the application's
// master user, on its database, as an application would.
func (s *Server) Login() *sql.DB {
	a := s.cfg.Accounts
	return sql.OpenDB(s.connector(a.AppUser, a.AppPassword, a.AppDatabase))
}

// newConnector logs in to addr as user, from the address from unless it
// is zero. Statements are sent with their arguments filled in by the
// driver (escaped), since some MariaDB statements, CHANGE MASTER among
// them, cannot be prepared.
func newConnector(from netip.Addr, addr, user, password, database string) driver.Connector {
	c := mysql.NewConfig()
	c.Net = "tcp"
	c.Addr = addr
	if from.IsValid() {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from, 0))}
		c.DialFunc = d.DialContext
	}
	c.User = user
	c.Passwd = password
	c.DBName = database
	c.Timeout = 2 * time.Second
	c.InterpolateParams = true
	// Errors reach the caller as values; the driver's own lines on
	// stderr (a killed session, a server gone) would only repeat them.
	c.Logger = &mysql.NopLogger{}
	connector, err := mysql.NewConnector(c)
	if err != nil {
		// NewConnector fails only on a malformed configuration, which
		// the fields set above cannot make.
		panic(err)
	}
	return connector
}
