package mariadb

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The accounts hastack creates besides the application's.
const (
	// AdminUser is hastack's own account, with every privilege.
	AdminUser = "hastack_admin"
	// ReplicationUser is the account followers log in to a primary as.
	ReplicationUser = "replicator"
)

// DefaultSemiSyncTimeout is how long a commit waits for the standby's
// acknowledgement before the primary stops waiting by itself. It is long
// on purpose: the control plane, not a timer, decides that the standby is
// gone (SetSemiSync), so a slow but healthy standby never turns commits
// asynchronous behind its back.
const DefaultSemiSyncTimeout = time.Hour

// Config describes one server.
type Config struct {
	// Name names the server in errors.
	Name string
	// DataDir holds the databases and binary logs; RunDir the option
	// file, the socket, the pid file and, by default, the log. Both are
	// created as needed and belong to the account the server runs as.
	DataDir, RunDir string
	// Addr is the loopback address and port the server listens on.
	Addr netip.AddrPort
	// ServerID names the server in the GTIDs it writes: unique among the
	// servers that replicate together, not 0.
	ServerID uint32
	// Cred is the OS account the MariaDB programs run as; nil runs them
	// as hastack's own user. RunAs gives the right one.
	Cred *syscall.Credential
	// Binaries are the MariaDB programs; zero means FindBinaries.
	Binaries Binaries
	// LogPath is where the server's own log goes (default RunDir/mariadbd.log).
	LogPath string
	// SemiSync makes a primary wait for a standby's acknowledgement from
	// its start (default off; SetSemiSync changes it while it runs).
	SemiSync bool
	// SemiSyncTimeout is how long a commit waits for the acknowledgement
	// before the primary gives up the wait by itself (default
	// DefaultSemiSyncTimeout; rounded to milliseconds).
	SemiSyncTimeout time.Duration
	// Accounts are the passwords of the server's accounts and the
	// application's login.
	Accounts Accounts
}

// Accounts are the credentials Init creates and the other calls log in
// with. Passwords come from files only the caller can read; they never go
// on a command line or into a log, and String leaves them out.
type Accounts struct {
	// AdminPassword is AdminUser's.
	AdminPassword string
	// ReplicationPassword is ReplicationUser's.
	ReplicationPassword string
	// AppUser and AppPassword are the application's master user, who
	// has every privilege on AppDatabase and none beyond it.
	AppUser, AppPassword, AppDatabase string
}

func (a Accounts) String() string {
	return fmt.Sprintf("{app user %s on database %s, passwords hidden}", a.AppUser, a.AppDatabase)
}

// GoString keeps %#v from printing the passwords too.
func (a Accounts) GoString() string { return "mariadb.Accounts" + a.String() }

// identifier is what an account or database name may be, so that it
// needs no quoting beyond backticks anywhere.
var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,31}$`)

func (a Accounts) validate() error {
	if !identifier.MatchString(a.AppUser) {
		return fmt.Errorf("application user %q must be a letter or _ and up to 31 letters, digits or _", a.AppUser)
	}
	if a.AppUser == AdminUser || a.AppUser == ReplicationUser || a.AppUser == "root" || a.AppUser == "mysql" || a.AppUser == "mariadb.sys" {
		return fmt.Errorf("application user %q is reserved", a.AppUser)
	}
	if !identifier.MatchString(a.AppDatabase) {
		return fmt.Errorf("application database %q must be a letter or _ and up to 31 letters, digits or _", a.AppDatabase)
	}
	switch strings.ToLower(a.AppDatabase) {
	case "mysql", "information_schema", "performance_schema", "sys":
		return fmt.Errorf("application database %q is a system database", a.AppDatabase)
	}
	for name, pw := range map[string]string{"admin": a.AdminPassword, "replication": a.ReplicationPassword, "application": a.AppPassword} {
		if pw == "" {
			return fmt.Errorf("the %s password is empty", name)
		}
	}
	return nil
}

// withDefaults validates cfg and fills in its defaults.
func (cfg Config) withDefaults() (Config, error) {
	switch {
	case cfg.DataDir == "" || cfg.RunDir == "":
		return cfg, errors.New("a MariaDB server needs a data directory and a run directory")
	case !filepath.IsAbs(cfg.DataDir) || !filepath.IsAbs(cfg.RunDir):
		return cfg, fmt.Errorf("data directory %s and run directory %s must be absolute", cfg.DataDir, cfg.RunDir)
	case !cfg.Addr.IsValid() || !cfg.Addr.Addr().Is4() || !cfg.Addr.Addr().IsLoopback() || cfg.Addr.Port() == 0:
		return cfg, fmt.Errorf("address %v is not an IPv4 loopback address with a port", cfg.Addr)
	case cfg.ServerID == 0:
		return cfg, errors.New("server_id 0 cannot replicate; give each server its own non-zero id")
	}
	if err := cfg.Accounts.validate(); err != nil {
		return cfg, err
	}
	cfg.DataDir, cfg.RunDir = filepath.Clean(cfg.DataDir), filepath.Clean(cfg.RunDir)
	if cfg.Name == "" {
		cfg.Name = cfg.Addr.String()
	}
	if cfg.LogPath == "" {
		cfg.LogPath = filepath.Join(cfg.RunDir, "mariadbd.log")
	}
	if cfg.SemiSyncTimeout <= 0 {
		cfg.SemiSyncTimeout = DefaultSemiSyncTimeout
	}
	if cfg.Binaries == (Binaries{}) {
		b, err := FindBinaries()
		if err != nil {
			return cfg, err
		}
		cfg.Binaries = b
	}
	return cfg, nil
}

func (cfg Config) optionFile() string { return filepath.Join(cfg.RunDir, "my.cnf") }
func (cfg Config) socket() string     { return filepath.Join(cfg.RunDir, "mariadbd.sock") }

// innodbOptions keep a server small and quick to start; Init and the
// server must agree on them.
var innodbOptions = []string{
	"innodb_buffer_pool_size=32M",
	"innodb_log_file_size=16M",
	"innodb_log_buffer_size=4M",
}

// options renders the server's option file. Passwords never go in it.
func (cfg Config) options() string {
	lines := []string{
		"# Written by hastack at every start; changes are lost.",
		"[mysqld]",
		"datadir=" + cfg.DataDir,
		"socket=" + cfg.socket(),
		"pid_file=" + filepath.Join(cfg.RunDir, "mariadbd.pid"),
		"bind_address=" + cfg.Addr.Addr().String(),
		"port=" + strconv.Itoa(int(cfg.Addr.Port())),
		"server_id=" + strconv.FormatUint(uint64(cfg.ServerID), 10),
		"skip_name_resolve=ON",
		"character_set_server=utf8mb4",
		"collation_server=utf8mb4_general_ci",
		"local_infile=OFF",
		"performance_schema=OFF",
		"max_connections=200",
		// hastack decides who takes writes and whom a server follows:
		// every server starts read-only and replicating from no one.
		"read_only=ON",
		"skip_slave_start=ON",
		// Binary log with GTIDs, every change in it, durable per commit.
		"log_bin=mariadb-bin",
		"log_bin_index=mariadb-bin.index",
		"relay_log=relay-bin",
		"relay_log_index=relay-bin.index",
		"binlog_format=ROW",
		"log_slave_updates=ON",
		"gtid_strict_mode=ON",
		"sync_binlog=1",
		"innodb_flush_log_at_trx_commit=1",
		"relay_log_recovery=ON",
		"max_binlog_size=64M",
		"binlog_expire_logs_seconds=86400",
		// A follower notices a silent primary within seconds, not a minute
		// (it hears a heartbeat every second, see Follow).
		"slave_net_timeout=5",
		// Semi-synchronous replication in its lossless mode: a commit is
		// acknowledged once a standby has it, and waits while none is
		// connected, until SetSemiSync turns the wait off.
		"rpl_semi_sync_master_enabled=" + onOff(cfg.SemiSync),
		"rpl_semi_sync_slave_enabled=ON",
		"rpl_semi_sync_master_wait_point=AFTER_SYNC",
		"rpl_semi_sync_master_wait_no_slave=ON",
		"rpl_semi_sync_master_timeout=" + strconv.FormatInt(cfg.SemiSyncTimeout.Milliseconds(), 10),
	}
	lines = append(lines, innodbOptions...)
	return strings.Join(lines, "\n") + "\n"
}

func onOff(on bool) string {
	if on {
		return "ON"
	}
	return "OFF"
}

// mysqlUser is the OS user Debian's mariadb-server package creates.
const mysqlUser = "mysql"

// RunAs returns the OS account MariaDB's programs should run as: nil (the
// current user) unless hastack is root, which MariaDB refuses to run as;
// then the mysql user, with root's supplementary groups dropped.
func RunAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(mysqlUser)
	if err != nil {
		return nil, errors.New("MariaDB refuses to run as root and the OS user mysql does not exist; create it with: apt-get install -y mariadb-server mariadb-backup")
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("OS user mysql has a non-numeric uid %q or gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}
