package rds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// replicationPasswordPath is the replication role's password file.
func replicationPasswordPath(stateDir string) string {
	return filepath.Join(stateDir, "secrets", "db-replication-password")
}

// passfile is the node's libpq password file for the replication role,
// readable by the account only; the password never appears in a
// connection string or a server setting.
func (n *node) passfile() string { return n.layout.path(pgpassName) }

func writePassfile(n *node, a account, password string) error {
	return n.layout.files(a).write(pgpassName, []byte("*:*:*:"+replicationUser+":"+password+"\n"))
}

// conninfo is the libpq connection string of follower n's replication:
// to its relay, which leads to the primary, as the replication role; app
// is the application_name to report, the follower's slot name for its
// WAL receiver.
func (c *Cluster) conninfo(n *node, app, dbname string) string {
	kv := [][2]string{
		{"host", c.relays[n.cfg.Name].socketDir()},
		{"port", strconv.Itoa(n.port)},
		{"user", replicationUser},
		{"passfile", n.passfile()},
		{"application_name", app},
		{"connect_timeout", "2"},
		{"sslmode", "disable"},
	}
	if dbname != "" {
		kv = append(kv, [2]string{"dbname", dbname})
	}
	if app == slotName(n.cfg.Name) {
		// The WAL receiver's stream (not a base backup's or pg_rewind's,
		// whose reader may pause on its disk longer): its WAL sender
		// ends it once what it sent goes unacknowledged, and frees the
		// slot for the follower's next session.
		kv = append(kv, [2]string{"options", "-c tcp_user_timeout=" + strconv.FormatInt(replicationUserTimeout.Milliseconds(), 10)})
	}
	parts := make([]string, len(kv))
	for i, p := range kv {
		v := strings.ReplaceAll(strings.ReplaceAll(p[1], `\`, `\\`), `'`, `\'`)
		parts[i] = p[0] + "='" + v + "'"
	}
	return strings.Join(parts, " ")
}

// ensureReplicationRole creates the replication role, sets its password
// and lets it run pg_rewind's file functions, on the primary.
func ensureReplicationRole(ctx context.Context, conn *pgx.Conn, password string) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", replicationUser).Scan(&exists); err != nil {
		return fmt.Errorf("looking up the replication role: %w", err)
	}
	role := pgx.Identifier{replicationUser}.Sanitize()
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE ROLE "+role+" WITH LOGIN REPLICATION"); err != nil {
			return fmt.Errorf("creating the replication role: %w", err)
		}
	}
	verifier, err := scramVerifier(password)
	if err != nil {
		return fmt.Errorf("setting the replication password: %w", err)
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER ROLE %s WITH LOGIN REPLICATION PASSWORD '%s'", role, verifier)); err != nil {
		return fmt.Errorf("setting the replication password: %w", err)
	}
	// What pg_rewind needs of a non-superuser source connection.
	for _, fn := range []string{
		"pg_catalog.pg_ls_dir(text, boolean, boolean)",
		"pg_catalog.pg_stat_file(text, boolean)",
		"pg_catalog.pg_read_binary_file(text)",
		"pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)",
	} {
		if _, err := conn.Exec(ctx, "GRANT EXECUTE ON FUNCTION "+fn+" TO "+role); err != nil {
			return fmt.Errorf("granting %s to the replication role: %w", fn, err)
		}
	}
	return nil
}

// ensureSlots makes the primary's physical replication slots exactly one
// per follower.
func ensureSlots(ctx context.Context, conn *pgx.Conn, followers []string) error {
	want := make(map[string]bool, len(followers))
	for _, f := range followers {
		want[slotName(f)] = true
	}
	rows, err := conn.Query(ctx, "SELECT slot_name, active FROM pg_replication_slots WHERE slot_type = 'physical'")
	if err != nil {
		return fmt.Errorf("listing replication slots: %w", err)
	}
	have := map[string]bool{}
	var stale []string
	for rows.Next() {
		var name string
		var active bool
		if err := rows.Scan(&name, &active); err != nil {
			return fmt.Errorf("listing replication slots: %w", err)
		}
		have[name] = true
		if !want[name] && !active {
			stale = append(stale, name)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("listing replication slots: %w", err)
	}
	for _, name := range stale {
		if _, err := conn.Exec(ctx, "SELECT pg_drop_replication_slot($1)", name); err != nil {
			return fmt.Errorf("dropping replication slot %s: %w", name, err)
		}
	}
	for _, f := range followers {
		if have[slotName(f)] {
			continue
		}
		if _, err := conn.Exec(ctx, "SELECT pg_create_physical_replication_slot($1, true)", slotName(f)); err != nil {
			return fmt.Errorf("creating replication slot %s: %w", slotName(f), err)
		}
	}
	return nil
}

// rebuildData makes the stopped node n a follower of primary with a new
// copy of the data, built in data.new and swapped in only once complete:
// its own data rewound with pg_rewind (on a copy), or, when fresh or when
// that fails, a base backup. It returns what it did, for the event.
func (c *Cluster) rebuildData(ctx context.Context, n, primary *node, fresh bool) (string, error) {
	begin := time.Now()
	r := c.relays[n.cfg.Name]
	if err := r.listen(); err != nil {
		return "", err
	}
	r.lead(route{node: primary.cfg.Name, addr: primary.addrPort()})
	if !fresh {
		discarded, err := c.rewindCopy(ctx, n, primary)
		if err == nil {
			how := fmt.Sprintf("rewound to follow %s with pg_rewind in %s", primary.cfg.Name, since(begin))
			switch {
			case discarded < 0:
				how += "; the transactions it took back could not be counted"
			case discarded > 0:
				how += fmt.Sprintf(", which took back %s committed there after its history left %s's: writes lost for good, acknowledged to their clients unless they waited for a standby", transactions(discarded), primary.cfg.Name)
				if err := c.updateState(func(s *State) {
					e := s.Nodes[n.cfg.Name]
					e.Discarded += discarded
					s.Nodes[n.cfg.Name] = e
				}); err != nil {
					return "", err
				}
			}
			return how, nil
		}
		if ctx.Err() != nil {
			return "", err
		}
		c.log.Warn("pg_rewind failed, taking a fresh base backup", "node", n.cfg.Name, "err", err)
		if berr := c.baseBackup(ctx, n, primary); berr != nil {
			return "", fmt.Errorf("%w; then %w", err, berr)
		}
		return fmt.Sprintf("could not be rewound (%v); copied afresh from %s with pg_basebackup in %s", err, primary.cfg.Name, since(begin)), nil
	}
	if err := c.baseBackup(ctx, n, primary); err != nil {
		return "", err
	}
	return fmt.Sprintf("copied from %s with pg_basebackup in %s", primary.cfg.Name, since(begin)), nil
}

// baseBackup copies the primary's data into data.new, streaming the WAL
// written meanwhile through a fresh replication slot, and swaps it in.
func (c *Cluster) baseBackup(ctx context.Context, n, primary *node) error {
	if err := os.RemoveAll(n.layout.path(newDataName)); err != nil {
		return fmt.Errorf("removing an unfinished copy: %w", err)
	}
	if err := c.freshSlot(ctx, primary, n); err != nil {
		return err
	}
	err := c.runTool(ctx, n, c.tool("pg_basebackup"),
		"--pgdata", n.layout.path(newDataName),
		"--dbname", c.conninfo(n, "pg_basebackup", ""),
		"--wal-method", "stream",
		"--slot", slotName(n.cfg.Name),
		"--checkpoint", "fast",
		"--no-password",
	)
	if err != nil {
		return fmt.Errorf("copying %s (pg_basebackup): %w", primary.cfg.Name, err)
	}
	if err := markComplete(n.layout, c.acct, newDataName, n.cfg.Name); err != nil {
		return err
	}
	return swapIn(n.layout)
}

// rewindCopy copies the stopped node's data to data.new, makes the copy
// a follower of primary with pg_rewind (which takes back whatever the
// node wrote after the two diverged) and swaps it in. A rewind that
// fails half-way leaves the node's own data as it was. It returns the
// number of transactions the node had committed that pg_rewind took back
// (-1 when they could not be counted).
func (c *Cluster) rewindCopy(ctx context.Context, n, primary *node) (int, error) {
	// The processes of a killed server must be gone before its files are
	// copied.
	if err := clearStale(ctx, n.layout, c.acct); err != nil {
		return 0, err
	}
	if err := os.RemoveAll(n.layout.path(newDataName)); err != nil {
		return 0, fmt.Errorf("removing an unfinished copy: %w", err)
	}
	if err := c.runTool(ctx, n, "cp", "-a", "--", dataName, newDataName); err != nil { // cp from PATH
		return 0, fmt.Errorf("copying the data to rewind it: %w", err)
	}
	files := n.layout.files(c.acct)
	// pg_rewind recovers a crashed target in single-user mode first,
	// which refuses to run in standby mode; no server runs on the copy.
	for _, name := range []string{"standby.signal", "postmaster.pid"} {
		if err := files.remove(filepath.Join(newDataName, name)); err != nil {
			return 0, err
		}
	}
	// Until the new primary's first checkpoint its control file still
	// shows the old timeline, and pg_rewind would see nothing to do.
	source, err := c.checkpoint(ctx, primary, n)
	if err != nil {
		return 0, err
	}
	// Both sides of a partition may have promoted a node onto the same
	// timeline number (neither saw the other's): pg_rewind would take the
	// two for one history and do nothing. A node that must be rewound is
	// never on the primary's own timeline otherwise.
	target, err := c.controlTimeline(ctx, n, newDataName)
	if err != nil {
		return 0, err
	}
	if target == source {
		return 0, fmt.Errorf("its data is on timeline %d, as is %s's: both were promoted apart onto the same timeline number, which pg_rewind would take for one history; only a new copy will do", target, primary.cfg.Name)
	}
	out, err := c.toolOutput(ctx, n, c.tool("pg_rewind"),
		"--target-pgdata", n.layout.path(newDataName),
		"--source-server", c.conninfo(n, "pg_rewind", "postgres"),
	)
	if err != nil {
		return 0, fmt.Errorf("rewinding to %s (pg_rewind): %w", primary.cfg.Name, err)
	}
	if err := clearSlots(n.layout, newDataName); err != nil {
		return 0, err
	}
	if err := markComplete(n.layout, c.acct, newDataName, n.cfg.Name); err != nil {
		return 0, err
	}
	// What the rewind took back is read from the node's own WAL, still in
	// place until the copy is swapped in.
	discarded := 0
	if at, tli, ok := parseDivergence(out); ok {
		if discarded, err = c.discardedCommits(ctx, n, dataName, at, tli); err != nil {
			c.log.Warn("counting the transactions pg_rewind took back", "node", n.cfg.Name, "err", err)
			discarded = -1
		}
	}
	return discarded, swapIn(n.layout)
}

// clearSlots removes the replication slots a former primary kept in the
// data directory dir: a follower has no use for them and they would hold
// its WAL.
func clearSlots(l layout, dir string) error {
	root, err := os.OpenRoot(l.nodeDir)
	if err != nil {
		return fmt.Errorf("opening %s: %w", l.nodeDir, err)
	}
	defer root.Close()
	slots := filepath.Join(dir, "pg_replslot")
	d, err := root.Open(slots)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading pg_replslot: %w", err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("reading pg_replslot: %w", err)
	}
	for _, e := range entries {
		if err := root.RemoveAll(filepath.Join(slots, e.Name())); err != nil {
			return fmt.Errorf("removing replication slot %s: %w", e.Name(), err)
		}
	}
	return nil
}

// freshSlot gives follower a new replication slot on the primary that
// reserves WAL from now on, in place of one that may have lost the WAL
// it held (a copy starts from a new checkpoint anyway). It connects from
// the follower's address, as its copy does.
func (c *Cluster) freshSlot(ctx context.Context, primary, f *node) error {
	ctx, cancel := context.WithTimeout(ctx, sessionTimeout)
	defer cancel()
	follower := f.cfg.Name
	conn, err := c.connectFrom(ctx, f.cfg.Addr, primary, 5*time.Second)
	if err != nil {
		return fmt.Errorf("connecting to %s for a replication slot: %w", primary.cfg.Name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	slot := slotName(follower)
	// A WAL sender of the follower's old session may still hold the slot.
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(active_pid, 5000) FROM pg_replication_slots
		WHERE slot_name = $1 AND active_pid IS NOT NULL`, slot); err != nil {
		return fmt.Errorf("ending the sessions on replication slot %s: %w", slot, err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", slot); err != nil {
		return fmt.Errorf("dropping replication slot %s: %w", slot, err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_create_physical_replication_slot($1, true)", slot); err != nil {
		return fmt.Errorf("creating replication slot %s: %w", slot, err)
	}
	return nil
}

// checkpoint runs CHECKPOINT on the node n for the follower f, from f's
// address, and returns n's timeline as its control file now records it.
func (c *Cluster) checkpoint(ctx context.Context, n, f *node) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, sessionTimeout)
	defer cancel()
	conn, err := c.connectFrom(ctx, f.cfg.Addr, n, 5*time.Second)
	if err != nil {
		return 0, fmt.Errorf("connecting to %s for a checkpoint: %w", n.cfg.Name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return 0, fmt.Errorf("checkpoint on %s: %w", n.cfg.Name, err)
	}
	var tli int
	if err := conn.QueryRow(ctx, "SELECT timeline_id FROM pg_control_checkpoint()").Scan(&tli); err != nil {
		return 0, fmt.Errorf("reading the timeline of %s: %w", n.cfg.Name, err)
	}
	return tli, nil
}

// controlTimeline returns the timeline of the latest checkpoint in the
// control file of the data directory dir (a name in n's directory), as
// pg_rewind reads it.
func (c *Cluster) controlTimeline(ctx context.Context, n *node, dir string) (int, error) {
	out, err := c.toolOutput(ctx, n, c.tool("pg_controldata"), "-D", n.layout.path(dir))
	if err != nil {
		return 0, fmt.Errorf("reading the control file of %s (pg_controldata): %w", n.cfg.Name, err)
	}
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(line, "Latest checkpoint's TimeLineID:"); ok {
			tli, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				break
			}
			return tli, nil
		}
	}
	return 0, fmt.Errorf("pg_controldata of %s reports no timeline", n.cfg.Name)
}

// tool is the path of a PostgreSQL program.
func (c *Cluster) tool(name string) string { return filepath.Join(c.binDir, name) }

// runTool runs a program (a path, or a name looked up in PATH) as the
// account, in node n's directory, and reports its last output lines on
// failure.
func (c *Cluster) runTool(ctx context.Context, n *node, prog string, args ...string) error {
	_, err := c.toolOutput(ctx, n, prog, args...)
	return err
}

// toolOutput is runTool, returning the program's output.
func (c *Cluster) toolOutput(ctx context.Context, n *node, prog string, args ...string) (string, error) {
	out, err := c.runToolRaw(ctx, n, prog, args...)
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, lastLines(out, 5))
	}
	return out, nil
}

// runToolRaw runs the program as runTool does and returns its output
// (stdout and stderr) and its exit error, whatever it was.
func (c *Cluster) runToolRaw(ctx context.Context, n *node, prog string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = n.layout.nodeDir
	cmd.Env = childEnv()
	cmd.SysProcAttr = childAttr(c.acct)
	// pg_rewind may run postgres itself; cancelling kills the whole group.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err := cmd.Run()
	return out.String(), err
}
