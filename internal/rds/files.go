package rds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// layout is where one node's files live.
type layout struct {
	nodeDir string // StateDir/db/<node>, owned by the run-as account
	dataDir string // the PostgreSQL data directory
	logFile string // the server's stderr
	// sockDir holds the Unix socket; a directory under /tmp when the
	// natural one would make the socket path too long.
	sockDir    string
	sockIsTemp bool
}

func nodeLayout(stateDir, name string) layout {
	nodeDir := filepath.Join(stateDir, "db", name)
	return layout{
		nodeDir: nodeDir,
		dataDir: filepath.Join(nodeDir, "data"),
		logFile: filepath.Join(nodeDir, "postgres.log"),
		sockDir: filepath.Join(nodeDir, "run"),
	}
}

// maxSocketPath is the longest Unix socket path Linux accepts
// (sizeof(sun_path) minus the terminating NUL).
const maxSocketPath = 107

func socketPath(dir string, port int) string {
	return filepath.Join(dir, ".s.PGSQL."+strconv.Itoa(port))
}

// prepareDirs creates the node's directories for the account, refusing a
// data directory someone else owns or a path the account cannot reach.
func prepareDirs(l *layout, a account, port int) error {
	if err := os.MkdirAll(filepath.Dir(l.nodeDir), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(l.nodeDir), err)
	}
	if err := mkdirOwned(l.nodeDir, a); err != nil {
		return err
	}
	if fi, err := os.Stat(l.dataDir); err == nil && !a.owns(fi) {
		return fmt.Errorf("data directory %s is owned by %s, but PostgreSQL runs as user %s; fix it with: chown -R %s %s",
			l.dataDir, fileOwner(fi), a.name, a.name, l.dataDir)
	}
	if err := mkdirOwned(l.dataDir, a); err != nil {
		return err
	}
	if err := checkTraversable(l.dataDir, a); err != nil {
		return err
	}
	if len(socketPath(l.sockDir, port)) > maxSocketPath {
		// The socket would not fit in sun_path: use a short private
		// directory under /tmp instead, removed when the node stops.
		dir, err := os.MkdirTemp("/tmp", "hastack-pg-")
		if err != nil {
			return fmt.Errorf("creating socket directory: %w", err)
		}
		l.sockDir, l.sockIsTemp = dir, true
		return a.chown(dir)
	}
	return mkdirOwned(l.sockDir, a)
}

// mkdirOwned makes dir (mode 0700) belong to the account.
func mkdirOwned(dir string, a account) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := a.chown(dir); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("restricting %s: %w", dir, err)
	}
	return nil
}

// removeData deletes a data directory's contents, keeping the directory.
func removeData(dataDir string) error {
	entries, err := os.ReadDir(dataDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading %s: %w", dataDir, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dataDir, e.Name())); err != nil {
			return fmt.Errorf("clearing %s: %w", dataDir, err)
		}
	}
	return nil
}

// initialized reports whether initdb has completed in dataDir.
func initialized(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, "PG_VERSION"))
	return err == nil
}

// initdb creates a new cluster in l.dataDir whose superuser is username
// with the given password.
func initdb(ctx context.Context, binDir string, l layout, a account, username, password string) error {
	// initdb reads the password from a file; this copy is readable by the
	// account only and removed as soon as initdb is done.
	pwFile := filepath.Join(l.nodeDir, ".initdb-pwfile")
	os.Remove(pwFile)
	f, err := os.OpenFile(pwFile, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("creating password file for initdb: %w", err)
	}
	defer os.Remove(pwFile)
	_, err = f.WriteString(password + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing password file for initdb: %w", err)
	}
	if err := a.chown(pwFile); err != nil {
		return err
	}

	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"-D", l.dataDir,
		"-U", username,
		"--pwfile", pwFile,
		"--auth-host=scram-sha-256",
		"--auth-local=trust",
		"-E", "UTF8",
		"--locale=C",
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = l.nodeDir
	cmd.Env = childEnv()
	cmd.SysProcAttr = childAttr(a)
	// initdb runs postgres itself; cancelling kills its whole group.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("initdb: %w: %s", err, lastLines(out.String(), 5))
	}
	return nil
}

// serverConf is what a node's generated settings depend on.
type serverConf struct {
	addr netip.Addr
	port int
	// follower: the node replays the primary's WAL (standby.signal is
	// written by the caller).
	follower bool
	// primaryConninfo and slot: where a follower streams from.
	primaryConninfo string
	slot            string
	// syncNames is a primary's synchronous_standby_names.
	syncNames string
}

// settings renders the node's server settings.
func (sc serverConf) settings(l layout) []setting {
	s := []setting{
		{"listen_addresses", quote(sc.addr.String())},
		{"port", strconv.Itoa(sc.port)},
		{"unix_socket_directories", quote(l.sockDir)},
		{"max_connections", "100"},
		{"shared_buffers", "'32MB'"},
		{"password_encryption", "'scram-sha-256'"},
		{"wal_level", "replica"},
		{"max_wal_senders", "10"},
		{"max_replication_slots", "10"},
		// pg_rewind needs hint bits logged to rejoin a former primary.
		{"wal_log_hints", "on"},
		{"wal_keep_size", "'128MB'"},
		{"max_slot_wal_keep_size", "'1GB'"},
		{"wal_sender_timeout", "'10s'"},
		{"wal_receiver_timeout", "'10s'"},
		{"wal_receiver_status_interval", "'1s'"},
		{"wal_retrieve_retry_interval", "'200ms'"},
		{"hot_standby", "on"},
		{"hot_standby_feedback", "on"},
		{"recovery_target_timeline", "'latest'"},
		{"synchronous_commit", "on"},
		{"synchronous_standby_names", quote(sc.syncNames)},
		{"fsync", "on"},
		{"logging_collector", "off"},
		{"log_destination", "'stderr'"},
	}
	if sc.follower {
		s = append(s, setting{"primary_conninfo", quote(sc.primaryConninfo)}, setting{"primary_slot_name", quote(sc.slot)})
	}
	return s
}

type setting struct{ name, value string }

// writeConfig (re)writes the node's server settings and client
// authentication rules. Settings live in hastack.conf, included from
// postgresql.conf, so ALTER SYSTEM can still override them; hastack
// itself never uses ALTER SYSTEM, whose file base backups and pg_rewind
// would copy from node to node.
func writeConfig(l layout, a account, sc serverConf) error {
	var conf strings.Builder
	conf.WriteString("# Written by hastack at every start and role change; edits are lost.\n")
	for _, s := range sc.settings(l) {
		fmt.Fprintf(&conf, "%s = %s\n", s.name, s.value)
	}
	if err := writeOwned(filepath.Join(l.dataDir, "hastack.conf"), conf.String(), a); err != nil {
		return err
	}

	hba := "# Written by hastack at every start; edits are lost.\n" +
		"local all all trust\n" +
		"host all all 127.0.0.0/8 scram-sha-256\n" +
		"host replication all 127.0.0.0/8 scram-sha-256\n"
	if err := writeOwned(filepath.Join(l.dataDir, "pg_hba.conf"), hba, a); err != nil {
		return err
	}

	main := filepath.Join(l.dataDir, "postgresql.conf")
	data, err := os.ReadFile(main)
	if err != nil {
		return fmt.Errorf("reading postgresql.conf: %w", err)
	}
	const include = "include_if_exists = 'hastack.conf'"
	if bytes.Contains(data, []byte("\n"+include+"\n")) {
		return nil
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	data = append(data, "\n"+include+"\n"...)
	return writeOwned(main, string(data), a)
}

// setStandbySignal creates or removes the file that makes a server start
// as a standby.
func setStandbySignal(l layout, a account, on bool) error {
	path := filepath.Join(l.dataDir, "standby.signal")
	if !on {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing standby.signal: %w", err)
		}
		return nil
	}
	return writeOwned(path, "", a)
}

// writeOwned atomically writes a file (mode 0600) that the account owns.
func writeOwned(path, content string, a account) error {
	tmp := path + ".hastack-tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	if err := a.chown(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	return nil
}

// quote makes s a postgresql.conf string literal.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// lastLines returns the last n non-empty lines of s, one per line, indented.
func lastLines(s string, n int) string {
	var lines []string
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 {
		return "(no output)"
	}
	return "\n\t" + strings.Join(lines, "\n\t")
}
