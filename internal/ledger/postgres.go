package ledger

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// postgresSession is a session on PostgreSQL through pgx.
type postgresSession struct{ conn *pgx.Conn }

func checkPostgresURL(url string) error {
	_, err := pgx.ParseConfig(url)
	return err
}

func connectPostgres(ctx context.Context, url string, timeout time.Duration) (session, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = timeout
	cfg.RuntimeParams["application_name"] = "hastack-ledger"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return postgresSession{conn}, nil
}

func (s postgresSession) createTable(ctx context.Context, table string) error {
	_, err := s.conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+table+
		" (run text NOT NULL, seq bigint NOT NULL, writer int NOT NULL, written_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run, seq))")
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P07" || pgErr.Code == "23505") {
		return nil // created by a concurrent ledger
	}
	return err
}

// insert is one statement in autocommit: acknowledged when it returns.
func (s postgresSession) insert(ctx context.Context, table, run string, seq int64, writer int) error {
	_, err := s.conn.Exec(ctx, "INSERT INTO "+table+" (run, seq, writer) VALUES ($1, $2, $3)", run, seq, writer)
	return err
}

func (s postgresSession) outcome(err error) Outcome { return classifyPostgres(err) }

// classifyPostgres: an error pgx knows happened before anything was sent,
// or one the server answered, leaves no row.
func classifyPostgres(err error) Outcome {
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return Acked
	case pgconn.SafeToRetry(err):
		return Failed
	case errors.As(err, &pgErr) && pgErr.Severity == "ERROR":
		return Failed
	default:
		return Unknown
	}
}

func (s postgresSession) broken(err error) bool {
	var pgErr *pgconn.PgError
	return s.conn.IsClosed() || !errors.As(err, &pgErr)
}

func (s postgresSession) seqs(ctx context.Context, table, run string) (map[int64]bool, error) {
	present := map[int64]bool{}
	rows, err := s.conn.Query(ctx, "SELECT seq FROM "+table+" WHERE run = $1", run)
	if err != nil {
		return postgresNoTable(present, err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			return nil, err
		}
		present[seq] = true
	}
	if err := rows.Err(); err != nil {
		return postgresNoTable(present, err)
	}
	return present, nil
}

// postgresNoTable treats an undefined table as one without rows.
func postgresNoTable(present map[int64]bool, err error) (map[int64]bool, error) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		return present, nil
	}
	return nil, err
}

func (s postgresSession) close() { s.conn.Close(context.Background()) }
