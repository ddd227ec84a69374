package mariadb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

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
func (s *Server) Fence(ctx context.Context) error {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("fencing %s: %w", s.cfg.Name, err)
	}
	defer c.Close()
	if err := killSessions(ctx, c); err != nil {
		return fmt.Errorf("fencing %s: %w", s.cfg.Name, err)
	}
	if _, err := c.ExecContext(ctx, "SET GLOBAL read_only = ON"); err != nil {
		return fmt.Errorf("fencing %s: making it read-only: %w", s.cfg.Name, err)
	}
	if err := killSessions(ctx, c); err != nil {
		return fmt.Errorf("fencing %s: %w", s.cfg.Name, err)
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
