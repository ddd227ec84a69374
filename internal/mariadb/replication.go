package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// heartbeatPeriod is how often a primary tells an idle follower it is
// there; slave_net_timeout (5 s) is how long the follower waits without.
const heartbeatPeriod = time.Second

// Follow makes the server a follower of the primary at primary (the
// address of a relay to it, typically: MariaDB has no MASTER_BIND), from
// where its own history ends, with GTIDs. With semiSync it acknowledges
// each transaction as it receives it (a Multi-AZ standby); without, it
// replicates asynchronously (a cross-region replica). The server becomes
// read-only first and stops waiting for acknowledgements of its own.
func (a *Admin) Follow(ctx context.Context, primary netip.AddrPort, semiSync bool) error {
	c, err := a.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("%s following %s: %w", a.name, primary, err)
	}
	defer c.Close()
	steps := []struct {
		what, stmt string
		args       []any
	}{
		{"making it read-only", "SET GLOBAL read_only = ON", nil},
		{"stopping replication", "STOP SLAVE", nil},
		{"turning off the wait for its own standby", "SET GLOBAL rpl_semi_sync_master_enabled = OFF", nil},
		// A former primary's own transactions are in its binary log,
		// not in gtid_slave_pos: start from wherever its history ends.
		// (Where that history is not in the primary's, gtid_strict_mode
		// stops replication with an error; Diverged tells beforehand.)
		{"setting where replication starts", "SET GLOBAL gtid_slave_pos = @@GLOBAL.gtid_current_pos", nil},
		{"pointing it at the primary", "CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, " +
			"MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1, MASTER_HEARTBEAT_PERIOD = ?",
			[]any{primary.Addr().String(), int(primary.Port()), ReplicationUser, a.replPassword, heartbeatPeriod.Seconds()}},
		// Read when the receiving thread starts, which START SLAVE does.
		{"setting whether it acknowledges", "SET GLOBAL rpl_semi_sync_slave_enabled = " + onOff(semiSync), nil},
		{"starting replication", "START SLAVE", nil},
	}
	for _, st := range steps {
		if _, err := c.ExecContext(ctx, st.stmt, st.args...); err != nil {
			return fmt.Errorf("%s following %s: %s: %w", a.name, primary, st.what, redact(err, a.replPassword))
		}
	}
	return nil
}

// redact keeps a secret out of an error's text (a server's syntax error
// quotes the statement near the fault).
func redact(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "[password]"))
}

// SetReplicaPosition sets where the server's replication starts: the
// position of the copy it was cloned from (Clone returns it), before its
// first Follow.
func (a *Admin) SetReplicaPosition(ctx context.Context, pos GTIDSet) error {
	if _, err := a.db.ExecContext(ctx, "STOP SLAVE"); err != nil {
		return fmt.Errorf("%s: stopping replication: %w", a.name, err)
	}
	if _, err := a.db.ExecContext(ctx, "SET GLOBAL gtid_slave_pos = ?", pos.String()); err != nil {
		return fmt.Errorf("%s: setting gtid_slave_pos to %s: %w", a.name, pos, err)
	}
	return nil
}

// Promote makes a follower the primary: it stops receiving, applies
// everything it received (every transaction the primary acknowledged, if
// it was the semi-synchronous standby), forgets its primary and takes
// writes. It fails, leaving the server read-only, when that does not
// finish within ctx or the applier has stopped on an error. On a server
// that follows no one it only opens it for writes. It returns the
// position the server was promoted at.
func (a *Admin) Promote(ctx context.Context) (GTIDSet, error) {
	c, err := a.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("promoting %s: %w", a.name, err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "STOP SLAVE IO_THREAD"); err != nil {
		return nil, fmt.Errorf("promoting %s: stopping the receiver: %w", a.name, err)
	}
	st, err := replicaStatus(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("promoting %s: %w", a.name, err)
	}
	if st.Configured && Behind(st.IOPos, st.SlavePos) > 0 {
		if err := applyReceived(ctx, c, st); err != nil {
			return nil, fmt.Errorf("promoting %s: %w", a.name, err)
		}
	}
	for _, stmt := range []string{"STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = OFF"} {
		if _, err := c.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("promoting %s: %s: %w", a.name, stmt, err)
		}
	}
	var pos string
	if err := c.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_current_pos").Scan(&pos); err != nil {
		return nil, fmt.Errorf("promoting %s: reading its position: %w", a.name, err)
	}
	return ParseGTIDSet(pos)
}

// applyReceived waits until the applier has reached st.IOPos.
func applyReceived(ctx context.Context, c *sql.Conn, st ReplicaStatus) error {
	if st.LastSQLError != "" && !st.SQLRunning {
		return fmt.Errorf("the applier stopped on an error, cannot apply what was received: %s", st.LastSQLError)
	}
	if !st.SQLRunning {
		if _, err := c.ExecContext(ctx, "START SLAVE SQL_THREAD"); err != nil {
			return fmt.Errorf("starting the applier: %w", err)
		}
	}
	timeout := 30.0
	if d, ok := ctx.Deadline(); ok {
		timeout = max(0.001, time.Until(d).Seconds())
	}
	var res sql.NullInt64
	if err := c.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, ?)", st.IOPos.String(), timeout).Scan(&res); err != nil {
		return fmt.Errorf("waiting to apply up to %s: %w", st.IOPos, err)
	}
	if !res.Valid || res.Int64 != 0 {
		return fmt.Errorf("received transactions up to %s not applied in time", st.IOPos)
	}
	return nil
}

// SetSemiSync turns a primary's wait for its standby's acknowledgement on
// or off. The control plane turns it off when it declares the standby
// gone: commits waiting for it then return, and the following ones do not
// wait. It turns it on once a standby follows again.
func (a *Admin) SetSemiSync(ctx context.Context, on bool) error {
	if _, err := a.db.ExecContext(ctx, "SET GLOBAL rpl_semi_sync_master_enabled = "+onOff(on)); err != nil {
		return fmt.Errorf("%s: turning the wait for the standby %s: %w", a.name, strings.ToLower(onOff(on)), err)
	}
	return nil
}

// SemiSync is a primary's semi-synchronous replication as MariaDB reports it.
type SemiSync struct {
	// Enabled: the primary is to wait for acknowledgements
	// (rpl_semi_sync_master_enabled).
	Enabled bool
	// Active: commits do wait (Rpl_semi_sync_master_status); off while
	// Enabled only when the timeout ran out.
	Active bool
	// Clients is the number of followers that acknowledge.
	Clients int64
	// YesTx and NoTx count the commits acknowledged and those that went
	// unacknowledged (timed out or released by SetSemiSync).
	YesTx, NoTx int64
}

// SemiSyncStatus reports the server's semi-synchronous replication as a primary.
func (a *Admin) SemiSyncStatus(ctx context.Context) (SemiSync, error) {
	rows, err := a.db.QueryContext(ctx, "SHOW GLOBAL STATUS WHERE Variable_name IN "+
		"('Rpl_semi_sync_master_status', 'Rpl_semi_sync_master_clients', 'Rpl_semi_sync_master_yes_tx', 'Rpl_semi_sync_master_no_tx')")
	if err != nil {
		return SemiSync{}, fmt.Errorf("%s: reading semi-sync status: %w", a.name, err)
	}
	defer rows.Close()
	var st SemiSync
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return SemiSync{}, fmt.Errorf("%s: reading semi-sync status: %w", a.name, err)
		}
		n, _ := strconv.ParseInt(value, 10, 64)
		switch strings.ToLower(name) {
		case "rpl_semi_sync_master_status":
			st.Active = value == "ON"
		case "rpl_semi_sync_master_clients":
			st.Clients = n
		case "rpl_semi_sync_master_yes_tx":
			st.YesTx = n
		case "rpl_semi_sync_master_no_tx":
			st.NoTx = n
		}
	}
	if err := rows.Err(); err != nil {
		return SemiSync{}, fmt.Errorf("%s: reading semi-sync status: %w", a.name, err)
	}
	if err := a.db.QueryRowContext(ctx, "SELECT @@GLOBAL.rpl_semi_sync_master_enabled").Scan(&st.Enabled); err != nil {
		return SemiSync{}, fmt.Errorf("%s: reading semi-sync status: %w", a.name, err)
	}
	return st, nil
}

// Position is where a server's history stands.
type Position struct {
	// BinlogPos is the last GTID per domain in its binary log
	// (gtid_binlog_pos); BinlogState the last per domain and server
	// (gtid_binlog_state), what Diverged compares.
	BinlogPos, BinlogState GTIDSet
	// CurrentPos is the last GTID per domain it wrote or applied
	// (gtid_current_pos).
	CurrentPos GTIDSet
	// File and Offset are the end of its binary log (SHOW MASTER STATUS).
	File   string
	Offset int64
	// ReadOnly is whether it refuses writes of ordinary users.
	ReadOnly bool
	// ServerID is its server_id, which names its binary log's events.
	ServerID uint32
	// WaitsForStandby is whether its commits are to wait for a
	// semi-synchronous acknowledgement (rpl_semi_sync_master_enabled).
	WaitsForStandby bool
}

// Position reports where the server's history stands.
func (a *Admin) Position(ctx context.Context) (Position, error) {
	var p Position
	var binlogPos, binlogState, currentPos string
	err := a.db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_binlog_pos, @@GLOBAL.gtid_binlog_state, @@GLOBAL.gtid_current_pos, @@GLOBAL.read_only, @@GLOBAL.server_id, @@GLOBAL.rpl_semi_sync_master_enabled").
		Scan(&binlogPos, &binlogState, &currentPos, &p.ReadOnly, &p.ServerID, &p.WaitsForStandby)
	if err != nil {
		return Position{}, fmt.Errorf("%s: reading its position: %w", a.name, err)
	}
	for _, f := range []struct {
		text string
		set  *GTIDSet
	}{{binlogPos, &p.BinlogPos}, {binlogState, &p.BinlogState}, {currentPos, &p.CurrentPos}} {
		if *f.set, err = ParseGTIDSet(f.text); err != nil {
			return Position{}, fmt.Errorf("%s: reading its position: %w", a.name, err)
		}
	}
	row, err := queryMap(ctx, a.db, "SHOW MASTER STATUS")
	if err != nil {
		return Position{}, fmt.Errorf("%s: reading its binary log position: %w", a.name, err)
	}
	p.File = row["File"]
	p.Offset, _ = strconv.ParseInt(row["Position"], 10, 64)
	return p, nil
}

// ReplicaStatus is a follower's replication as MariaDB reports it (SHOW
// SLAVE STATUS and gtid_slave_pos).
type ReplicaStatus struct {
	// Configured is false when the server follows no one.
	Configured bool
	// Primary is the address it follows; PrimaryID that server's
	// server_id, once connected.
	Primary   string
	PrimaryID uint32
	// IOState is the receiver's state: Yes, Connecting, Preparing or No.
	IOState string
	// IORunning is whether it receives, connected; SQLRunning whether it applies.
	IORunning, SQLRunning bool
	// The receiver's and the applier's last errors, 0 and "" for none.
	LastIOError  string
	LastSQLError string
	LastIOErrno  int
	LastSQLErrno int
	// IOPos is the last GTID received per domain (Gtid_IO_Pos), SlavePos
	// the last applied (gtid_slave_pos).
	IOPos, SlavePos GTIDSet
	// SecondsBehindMaster is the applier's delay, -1 when unknown.
	SecondsBehindMaster float64
	// Received up to ReadMasterLogPos of MasterLogFile, applied up to
	// ExecMasterLogPos of RelayMasterLogFile, both in the primary's
	// binary log.
	MasterLogFile      string
	ReadMasterLogPos   int64
	RelayMasterLogFile string
	ExecMasterLogPos   int64
	// SemiSync is whether it acknowledges what it receives
	// (Rpl_semi_sync_slave_status); Acknowledges whether it is set to
	// (rpl_semi_sync_slave_enabled), as Follow left it.
	SemiSync, Acknowledges bool
}

// ReplicaStatus reports the server's replication as a follower.
func (a *Admin) ReplicaStatus(ctx context.Context) (ReplicaStatus, error) {
	c, err := a.db.Conn(ctx)
	if err != nil {
		return ReplicaStatus{}, fmt.Errorf("%s: %w", a.name, err)
	}
	defer c.Close()
	st, err := replicaStatus(ctx, c)
	if err != nil {
		return ReplicaStatus{}, fmt.Errorf("%s: %w", a.name, err)
	}
	return st, nil
}

func replicaStatus(ctx context.Context, q querier) (ReplicaStatus, error) {
	row, err := queryMap(ctx, q, "SHOW SLAVE STATUS")
	if err != nil {
		return ReplicaStatus{}, fmt.Errorf("reading replication status: %w", err)
	}
	var slavePos string
	var acknowledges bool
	if err := q.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_slave_pos, @@GLOBAL.rpl_semi_sync_slave_enabled").Scan(&slavePos, &acknowledges); err != nil {
		return ReplicaStatus{}, fmt.Errorf("reading gtid_slave_pos: %w", err)
	}
	var semiName, semi string
	if err := q.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_slave_status'").Scan(&semiName, &semi); err != nil {
		return ReplicaStatus{}, fmt.Errorf("reading Rpl_semi_sync_slave_status: %w", err)
	}
	st, err := parseReplicaStatus(row, slavePos, semi == "ON")
	st.Acknowledges = acknowledges
	return st, err
}

// parseReplicaStatus reads a SHOW SLAVE STATUS row (nil: no replication).
func parseReplicaStatus(row map[string]string, slavePos string, semiSync bool) (ReplicaStatus, error) {
	st := ReplicaStatus{SecondsBehindMaster: -1, SemiSync: semiSync}
	var err error
	if st.SlavePos, err = ParseGTIDSet(slavePos); err != nil {
		return st, err
	}
	if row == nil {
		return st, nil
	}
	st.Configured = true
	st.Primary = row["Master_Host"] + ":" + row["Master_Port"]
	if id, err := strconv.ParseUint(row["Master_Server_Id"], 10, 32); err == nil {
		st.PrimaryID = uint32(id)
	}
	st.IOState = row["Slave_IO_Running"]
	st.IORunning = st.IOState == "Yes"
	st.SQLRunning = row["Slave_SQL_Running"] == "Yes"
	st.LastIOError, st.LastSQLError = row["Last_IO_Error"], row["Last_SQL_Error"]
	st.LastIOErrno, _ = strconv.Atoi(row["Last_IO_Errno"])
	st.LastSQLErrno, _ = strconv.Atoi(row["Last_SQL_Errno"])
	if st.IOPos, err = ParseGTIDSet(row["Gtid_IO_Pos"]); err != nil {
		return st, err
	}
	if v, ok := row["Seconds_Behind_Master"]; ok && v != "" {
		if sec, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(sec) {
			st.SecondsBehindMaster = sec
		}
	}
	st.MasterLogFile, st.RelayMasterLogFile = row["Master_Log_File"], row["Relay_Master_Log_File"]
	st.ReadMasterLogPos, _ = strconv.ParseInt(row["Read_Master_Log_Pos"], 10, 64)
	st.ExecMasterLogPos, _ = strconv.ParseInt(row["Exec_Master_Log_Pos"], 10, 64)
	return st, nil
}

// querier is a pool or one of its connections.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queryMap runs a statement that returns at most one row and gives it by
// column name, NULL as ""; nil when there is no row.
func queryMap(ctx context.Context, q querier, query string) (map[string]string, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, rows.Err()
	}
	values := make([]sql.NullString, len(cols))
	ptrs := make([]any, len(cols))
	for i := range values {
		ptrs[i] = &values[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(cols))
	for i, c := range cols {
		out[c] = values[i].String
	}
	return out, rows.Err()
}

// MariaDB's numbers for the replication errors CannotFollow tells apart.
const (
	errFatalReadingBinlog = 1236 // ER_MASTER_FATAL_ERROR_READING_BINLOG
)

// CannotFollow tells from a follower's replication status whether it
// cannot catch up with its primary by replicating, and why ("" while it
// can). MariaDB has no rewind: whatever the reason, only a new copy
// (Clone) helps. A receiver that cannot connect (the primary down, a
// network cut) retries by itself and is no such reason; nor is an
// applier that has not stopped.
func CannotFollow(st ReplicaStatus) string {
	if st.LastIOErrno == errFatalReadingBinlog {
		switch msg := st.LastIOError; {
		case strings.Contains(msg, "diverged"), strings.Contains(msg, "not in the master's binlog"):
			return "its history has diverged from the primary's (it holds transactions the primary never had)"
		case strings.Contains(msg, "purged"), strings.Contains(msg, "Could not find GTID state"):
			return "the primary no longer has the binary log it needs"
		default:
			return "the primary cannot send it what it needs: " + msg
		}
	}
	if !st.SQLRunning && st.LastSQLErrno != 0 {
		return fmt.Sprintf("applying the primary's transactions failed (error %d), so its data no longer matches: %s", st.LastSQLErrno, st.LastSQLError)
	}
	return ""
}
