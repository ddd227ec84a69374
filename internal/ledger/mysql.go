package ledger

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/hastack/hastack/internal/dburl"
)

// mysqlSession is a session on MySQL (MariaDB) through database/sql: a
// pool of at most one connection, so that a writer keeps its own.
type mysqlSession struct{ db *sql.DB }

// MySQL server errors after which a commit may have been kept: the
// session was killed (by a fence) or the server shut down while the
// commit waited, e.g. for a standby, after it was already in the binary log.
const (
	errServerShutdown   = 1053
	errConnectionKilled = 1927
	errQueryInterrupted = 1317
	errNoSuchTable      = 1146
)

func connectMySQL(ctx context.Context, url string, timeout time.Duration) (session, error) {
	cfg, err := dburl.MySQLConfig(url, dburl.Timeouts{Dial: timeout, Read: timeout, Write: timeout})
	if err != nil {
		return nil, err
	}
	// Errors reach the ledger as values; the driver would repeat them on stderr.
	cfg.Logger = &mysql.NopLogger{}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return mysqlSession{db}, nil
}

func (s mysqlSession) createTable(ctx context.Context, table string) error {
	_, err := s.db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+table+
		" (run VARCHAR(64) NOT NULL, seq BIGINT NOT NULL, writer INT NOT NULL,"+
		" written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), PRIMARY KEY (run, seq)) ENGINE=InnoDB")
	return err
}

// commitError is an error returned by COMMIT, after the row was sent.
type commitError struct{ err error }

func (e commitError) Error() string { return "commit: " + e.err.Error() }
func (e commitError) Unwrap() error { return e.err }

// insert writes the row in one explicit transaction, so that an error
// before COMMIT certainly leaves no row.
func (s mysqlSession) insert(ctx context.Context, table, run string, seq int64, writer int) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO "+table+" (run, seq, writer) VALUES (?, ?, ?)", run, seq, writer); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return commitError{err}
	}
	return nil
}

func (s mysqlSession) outcome(err error) Outcome { return classifyMySQL(err) }

// classifyMySQL: a failure before COMMIT, COMMIT never sent (the driver's
// ErrBadConn), or refused by the server leaves no row; a COMMIT whose
// connection broke, timed out or was killed may have been kept.
func classifyMySQL(err error) Outcome {
	var commit commitError
	var myErr *mysql.MySQLError
	switch {
	case err == nil:
		return Acked
	case !errors.As(err, &commit):
		return Failed
	case errors.Is(err, driver.ErrBadConn):
		return Failed
	case errors.As(err, &myErr):
		switch myErr.Number {
		case errServerShutdown, errConnectionKilled, errQueryInterrupted:
			return Unknown
		}
		return Failed
	default:
		return Unknown
	}
}

// broken: anything but a plain refusal by the server ends the session.
func (s mysqlSession) broken(err error) bool {
	var myErr *mysql.MySQLError
	return !errors.As(err, &myErr) || classifyMySQL(err) == Unknown
}

func (s mysqlSession) seqs(ctx context.Context, table, run string) (map[int64]bool, error) {
	present := map[int64]bool{}
	rows, err := s.db.QueryContext(ctx, "SELECT seq FROM "+table+" WHERE run = ?", run)
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) && myErr.Number == errNoSuchTable {
		return present, nil
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return nil, err
		}
		present[seq] = true
	}
	return present, rows.Err()
}

func (s mysqlSession) close() { s.db.Close() }
