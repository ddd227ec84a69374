package mariadb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"

	"github.com/go-sql-driver/mysql"
)

// Fence stops the server from taking writes: it becomes read-only, and
// every client session but the caller's own is killed, so that none goes
// on writing in a transaction it began before. The server's own threads
// and the followers' binary log streams are left alone.
//
// In MariaDB 10.11 read_only holds for every account without the READ
// ONLY ADMIN privilege: SUPER alone no longer passes it. Only AdminUser
// (ALL PRIVILEGES includes READ ONLY ADMIN) and the replication applier
// still write; the application's user is refused.
//
// Sessions are killed before read_only is set as well as after, since
// setting it waits for commits in progress, which may be waiting for a
// standby's acknowledgement.
func (a *Admin) Fence(ctx context.Context) error {
	c, err := a.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("fencing %s: %w", a.name, err)
	}
	defer c.Close()
	if err := killSessions(ctx, c); err != nil {
		return fmt.Errorf("fencing %s: %w", a.name, err)
	}
	if _, err := c.ExecContext(ctx, "SET GLOBAL read_only = ON"); err != nil {
		return fmt.Errorf("fencing %s: making it read-only: %w", a.name, err)
	}
	if err := killSessions(ctx, c); err != nil {
		return fmt.Errorf("fencing %s: %w", a.name, err)
	}
	return nil
}

// killSessions kills every client connection but c's own.
func killSessions(ctx context.Context, c *sql.Conn) error {
	rows, err := c.QueryContext(ctx, "SELECT ID FROM information_schema.PROCESSLIST "+
		"WHERE ID <> CONNECTION_ID() AND USER NOT IN ('system user', 'event_scheduler') "+
		"AND COMMAND NOT IN ('Daemon', 'Binlog Dump', 'Slave_IO', 'Slave_SQL', 'Slave_worker')")
	if err != nil {
		return fmt.Errorf("listing sessions: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("listing sessions: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("listing sessions: %w", err)
	}
	for _, id := range ids {
		if _, err := c.ExecContext(ctx, "KILL CONNECTION ?", id); err != nil && !isUnknownThread(err) {
			return fmt.Errorf("killing session %d: %w", id, err)
		}
	}
	return nil
}

// isUnknownThread: the session ended by itself meanwhile.
func isUnknownThread(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1094 // ER_NO_SUCH_THREAD
}

// SetReadOnly fences the server (Fence) or, with on false, lets it take
// writes again: what a primary does when its region's write lease runs
// out, and when it is renewed.
func (a *Admin) SetReadOnly(ctx context.Context, on bool) error {
	if on {
		return a.Fence(ctx)
	}
	if _, err := a.db.ExecContext(ctx, "SET GLOBAL read_only = OFF"); err != nil {
		return fmt.Errorf("%s: taking writes again: %w", a.name, err)
	}
	return nil
}

// Shutdown stops the server through the session, from wherever it was
// dialled (over the network, when no signal can reach it): it stops
// taking writes, waits until its followers have received everything it
// wrote (SHUTDOWN WAIT FOR ALL SLAVES) and exits. It returns once the
// server has closed the session; whoever runs the process sees it exit.
func (a *Admin) Shutdown(ctx context.Context) error {
	c, err := a.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("shutting %s down: %w", a.name, err)
	}
	defer c.Close()
	_, err = c.ExecContext(ctx, "SHUTDOWN WAIT FOR ALL SLAVES")
	if err == nil || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) || errors.Is(err, mysql.ErrInvalidConn) {
		return nil // the server went away with the session, as it should
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == 1053 { // ER_SERVER_SHUTDOWN
		return nil
	}
	return fmt.Errorf("shutting %s down: %w", a.name, err)
}
