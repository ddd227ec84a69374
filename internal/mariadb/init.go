package mariadb

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Init creates the server's data directory, which must not exist or be
// empty: the system tables (no anonymous users, no test database; root
// may log in only through the socket, as the OS user root), then
// AdminUser, ReplicationUser and the application's user and database.
// The accounts are created with password hashes, so the passwords never
// reach another program.
func Init(ctx context.Context, cfg Config) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if entries, err := os.ReadDir(cfg.DataDir); err == nil && len(entries) > 0 {
		return fmt.Errorf("initialising %s: data directory %s already holds files", cfg.Name, cfg.DataDir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("initialising %s: %w", cfg.Name, err)
	}
	if err := initDataDir(ctx, cfg); err != nil {
		// Nothing was there before: leave no half-made data directory.
		os.RemoveAll(cfg.DataDir)
		return fmt.Errorf("initialising %s: %w", cfg.Name, err)
	}
	return nil
}

func initDataDir(ctx context.Context, cfg Config) error {
	if err := makeDir(cfg.Cred, cfg.RunDir); err != nil {
		return err
	}
	if err := makeDir(cfg.Cred, cfg.DataDir); err != nil {
		return err
	}
	logf, err := openLog(cfg)
	if err != nil {
		return err
	}
	defer logf.Close()

	install := append([]string{"--no-defaults", "--datadir=" + cfg.DataDir,
		"--auth-root-authentication-method=socket", "--skip-test-db", "--skip-name-resolve"},
		dashed(innodbOptions)...)
	if err := runProgram(ctx, cfg, cfg.DataDir, logf, nil, cfg.Binaries.InstallDB, install...); err != nil {
		return fmt.Errorf("creating the system tables: %w", err)
	}
	bootstrap := append([]string{"--no-defaults", "--datadir=" + cfg.DataDir, "--bootstrap", "--log-warnings=0"},
		dashed(innodbOptions)...)
	if err := runProgram(ctx, cfg, cfg.DataDir, logf, strings.NewReader(accountsSQL(cfg.Accounts)), cfg.Binaries.Server, bootstrap...); err != nil {
		return fmt.Errorf("creating the accounts: %w", err)
	}
	// mariadb-install-db leaves the directory open to everyone.
	return os.Chmod(cfg.DataDir, 0o700)
}

func dashed(options []string) []string {
	out := make([]string, len(options))
	for i, o := range options {
		out[i] = "--" + o
	}
	return out
}

// accountsSQL creates hastack's accounts and the application's. The
// replication account may only stream the binary log; the application's
// user has every privilege on its database and nothing server-wide, so it
// cannot change read_only, kill other sessions or stop replication.
func accountsSQL(a Accounts) string {
	return strings.Join([]string{
		"FLUSH PRIVILEGES",
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY PASSWORD '%s'", AdminUser, nativePasswordHash(a.AdminPassword)),
		fmt.Sprintf("GRANT ALL PRIVILEGES ON *.* TO '%s'@'%%' WITH GRANT OPTION", AdminUser),
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY PASSWORD '%s'", ReplicationUser, nativePasswordHash(a.ReplicationPassword)),
		fmt.Sprintf("GRANT REPLICATION SLAVE ON *.* TO '%s'@'%%'", ReplicationUser),
		fmt.Sprintf("CREATE DATABASE `%s`", a.AppDatabase),
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY PASSWORD '%s'", a.AppUser, nativePasswordHash(a.AppPassword)),
		fmt.Sprintf("GRANT ALL PRIVILEGES ON `%s`.* TO '%s'@'%%'", a.AppDatabase, a.AppUser),
	}, ";\n") + ";\n"
}

// nativePasswordHash is the mysql_native_password hash of password:
// "*" and the upper-case hex of SHA1(SHA1(password)).
func nativePasswordHash(password string) string {
	first := sha1.Sum([]byte(password))
	second := sha1.Sum(first[:])
	return "*" + strings.ToUpper(hex.EncodeToString(second[:]))
}

// runProgram runs a MariaDB program as cfg's account in dir to its end,
// its output to log; ctx ending kills its whole process group.
func runProgram(ctx context.Context, cfg Config, dir string, log *os.File, stdin io.Reader, path string, args ...string) error {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	cmd.Env = childEnv()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, log, log
	cmd.SysProcAttr = childAttr(cfg.Cred)
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s failed (its output is in %s): %w", path, cfg.LogPath, err)
	}
	return nil
}

// childAttr makes a child die with hastack, in a process group of its own
// that hastack can signal as a whole, as the account.
func childAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
}

// childEnv is the environment of MariaDB's programs: nothing of hastack's
// own (which may hold credentials), English messages.
func childEnv() []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	return []string{"PATH=" + path + ":/usr/sbin", "LC_ALL=C"}
}
