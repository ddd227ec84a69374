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

	"golang.org/x/sys/unix"
)

// layout is where one node's files live.
type layout struct {
	nodeDir string // StateDir/db/<node>, owned by the run-as account
	dataDir string // the PostgreSQL data directory, nodeDir/data
	logFile string // the server's stderr
	// sockDir holds the Unix socket; a directory under /tmp when the
	// natural one would make the socket path too long.
	sockDir    string
	sockIsTemp bool
}

// Names inside the node directory. A new copy of the data (initdb, base
// backup, rewind) is built in data.new and swapped in only once
// complete; data.old is the previous copy while the swap is under way.
const (
	dataName    = "data"
	newDataName = "data.new"
	oldDataName = "data.old"
	logName     = "postgres.log"
	pgpassName  = "replication.pgpass"
	// markerName, inside a data directory, names the node whose complete
	// copy it is; it is written only once initdb, a base backup or a
	// rewind has succeeded. A copy of another node's directory carries
	// that node's name, so an unfinished copy never looks complete.
	markerName = "hastack.complete"
)

func nodeLayout(stateDir, name string) layout {
	nodeDir := filepath.Join(stateDir, "db", name)
	return layout{
		nodeDir: nodeDir,
		dataDir: filepath.Join(nodeDir, dataName),
		logFile: filepath.Join(nodeDir, logName),
		sockDir: filepath.Join(nodeDir, "run"),
	}
}

// files reaches the node directory's content without following links.
func (l layout) files(a account) nodeFiles { return nodeFiles{dir: l.nodeDir, acc: a} }

func (l layout) path(name string) string { return filepath.Join(l.nodeDir, name) }

// maxSocketPath is the longest Unix socket path Linux accepts
// (sizeof(sun_path) minus the terminating NUL).
const maxSocketPath = 107

func socketPath(dir string, port int) string {
	return filepath.Join(dir, ".s.PGSQL."+strconv.Itoa(port))
}

// prepareDirs creates the node's directories for the account, finishes
// or undoes a swap of its data that was interrupted, and refuses a data
// directory someone else owns, a link where a directory belongs, or a
// path the account cannot reach.
func prepareDirs(l *layout, a account, port int) error {
	if err := os.MkdirAll(filepath.Dir(l.nodeDir), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(l.nodeDir), err)
	}
	if err := mkdirOwned(l.nodeDir, a); err != nil {
		return err
	}
	if err := recoverSwap(*l); err != nil {
		return err
	}
	f := l.files(a)
	if f.exists(dataName) {
		if err := f.mkdir(dataName, true); err != nil {
			return err
		}
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
	return f.mkdir("run", false)
}

// mkdirOwned makes dir (mode 0700) belong to the account; dir's own
// entry must lie in a directory only hastack writes.
func mkdirOwned(dir string, a account) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("opening %s (a symbolic link is not followed): %w", dir, err)
	}
	d := os.NewFile(uintptr(fd), dir)
	defer d.Close()
	return claimDir(d, a)
}

// recoverSwap cleans up after a build or swap of the data that an
// earlier run did not finish: an unfinished copy in data.new is
// deleted; the previous copy moved aside to data.old is put back when
// the new one never took its place, and deleted when it did.
func recoverSwap(l layout) error {
	if _, err := os.Lstat(l.path(oldDataName)); err == nil {
		if _, err := os.Lstat(l.dataDir); errors.Is(err, fs.ErrNotExist) {
			if err := os.Rename(l.path(oldDataName), l.dataDir); err != nil {
				return fmt.Errorf("putting back the data of %s: %w", l.nodeDir, err)
			}
		} else if err := os.RemoveAll(l.path(oldDataName)); err != nil {
			return fmt.Errorf("removing replaced data: %w", err)
		}
	}
	if err := os.RemoveAll(l.path(newDataName)); err != nil {
		return fmt.Errorf("removing an unfinished copy: %w", err)
	}
	return nil
}

// complete reports whether the data directory holds a complete copy for
// the node named name. A directory from an earlier hastack, which wrote
// no marker, counts as complete when PostgreSQL's files are there, no
// base backup is pending in it (backup_label), and hastack has started
// a server on it (its pg_hba.conf); it is then marked.
func complete(l layout, a account, name string) (bool, error) {
	f := l.files(a)
	data, err := f.read(filepath.Join(dataName, markerName))
	switch {
	case err == nil:
		return strings.TrimSpace(string(data)) == name, nil
	case !errors.Is(err, fs.ErrNotExist):
		return false, err
	}
	hba, err := f.read(filepath.Join(dataName, "pg_hba.conf"))
	if err != nil || !bytes.HasPrefix(hba, []byte(hbaHeader)) ||
		!f.exists(filepath.Join(dataName, "PG_VERSION")) || !f.exists(filepath.Join(dataName, "global", "pg_control")) ||
		f.exists(filepath.Join(dataName, "backup_label")) {
		return false, nil
	}
	return true, markComplete(l, a, dataName, name)
}

// markComplete records that the data directory dir (a name in the node
// directory) is a complete copy for the node named name.
func markComplete(l layout, a account, dir, name string) error {
	if err := l.files(a).writeDurable(filepath.Join(dir, markerName), []byte(name+"\n")); err != nil {
		return err
	}
	syncDir(l.path(dir))
	return nil
}

// swapIn makes the complete copy in data.new the node's data; the
// previous copy, if any, is deleted only once the new one is in place.
func swapIn(l layout) error {
	if _, err := os.Lstat(l.dataDir); err == nil {
		if err := os.Rename(l.dataDir, l.path(oldDataName)); err != nil {
			return fmt.Errorf("moving the old data aside: %w", err)
		}
	}
	if err := os.Rename(l.path(newDataName), l.dataDir); err != nil {
		return fmt.Errorf("putting the new data in place: %w", err)
	}
	syncDir(l.nodeDir)
	if err := os.RemoveAll(l.path(oldDataName)); err != nil {
		return fmt.Errorf("removing the old data: %w", err)
	}
	return nil
}

// syncDir makes renames in dir durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// initdb creates a new cluster in data.new whose bootstrap superuser is
// hastack's own, with the given password.
func initdb(ctx context.Context, binDir string, l layout, a account, password string) error {
	// initdb reads the password from a file; this copy is readable by the
	// account only and removed as soon as initdb is done.
	f := l.files(a)
	const pwFile = ".initdb-pwfile"
	if err := f.write(pwFile, []byte(password+"\n")); err != nil {
		return fmt.Errorf("writing password file for initdb: %w", err)
	}
	defer f.remove(pwFile)

	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"-D", l.path(newDataName),
		"-U", superUser,
		"--pwfile", l.path(pwFile),
		"--auth-host=scram-sha-256",
		"--auth-local=scram-sha-256",
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

	// MariaDB's settings, which it takes through an admin session:
	// waitsForStandby is whether a primary's commits wait for a
	// semi-synchronous acknowledgement; a follower replicates from
	// follows (its relay) and acknowledges when it is the standby.
	waitsForStandby bool
	follows         netip.AddrPort
	acknowledges    bool
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

// hbaHeader starts every pg_hba.conf hastack writes.
const hbaHeader = "# Written by hastack"

// hba is the client authentication: a password (SCRAM) for everyone,
// over the socket and TCP; replication only for the replication role.
const hba = hbaHeader + " at every start; edits are lost.\n" +
	"local all all scram-sha-256\n" +
	"host all all 127.0.0.0/8 scram-sha-256\n" +
	"host replication " + replicationUser + " 127.0.0.0/8 scram-sha-256\n"

// writeConfig (re)writes the node's server settings and client
// authentication rules. Settings live in hastack.conf, included from
// postgresql.conf, so ALTER SYSTEM can still override them; hastack
// itself never uses ALTER SYSTEM, whose file base backups and pg_rewind
// would copy from node to node.
func writeConfig(l layout, a account, sc serverConf) error {
	f := l.files(a)
	var conf strings.Builder
	conf.WriteString("# Written by hastack at every start and role change; edits are lost.\n")
	for _, s := range sc.settings(l) {
		fmt.Fprintf(&conf, "%s = %s\n", s.name, s.value)
	}
	if err := f.write(filepath.Join(dataName, "hastack.conf"), []byte(conf.String())); err != nil {
		return err
	}
	if err := f.write(filepath.Join(dataName, "pg_hba.conf"), []byte(hba)); err != nil {
		return err
	}
	main := filepath.Join(dataName, "postgresql.conf")
	data, err := f.read(main)
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
	return f.write(main, data)
}

// setStandbySignal creates or removes the file that makes a server start
// as a standby.
func setStandbySignal(l layout, a account, on bool) error {
	rel := filepath.Join(dataName, "standby.signal")
	if !on {
		return l.files(a).remove(rel)
	}
	return l.files(a).write(rel, nil)
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
