package drill

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// postgresReader reads PostgreSQL nodes: WAL positions, and the commit
// timestamp of the newest transaction a follower replayed.
type postgresReader struct {
	cfg *pgx.ConnConfig // credentials; the host is each node's
}

func newPostgresReader(url string) (*postgresReader, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = 0 // each use bounds its own context
	cfg.RuntimeParams["application_name"] = "hastack-drill"
	return &postgresReader{cfg: cfg}, nil
}

// Queries the reader runs. clock_timestamp() is the follower's own
// clock, the primary's too on one machine.
const (
	primaryLSNSQL = `SELECT pg_current_wal_lsn()::text`
	followerSQL   = `SELECT coalesce(pg_last_wal_replay_lsn(), '0/0'::pg_lsn)::text,
	extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8`
	identitySQL = `SELECT system_identifier::text, pg_postmaster_start_time() FROM pg_control_system()`
)

func (r *postgresReader) connect(ctx context.Context, host string, port uint16) (nodeSession, error) {
	cfg := r.cfg.Copy()
	cfg.Host, cfg.Port, cfg.Fallbacks = host, port, nil
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return pgSession{c}, nil
}

func (r *postgresReader) written(ctx context.Context, s nodeSession) (string, error) {
	var lsn string
	err := s.queryRow(ctx, primaryLSNSQL).Scan(&lsn)
	return lsn, err
}

func (r *postgresReader) applied(ctx context.Context, s nodeSession) (string, float64, bool, error) {
	var replay string
	var since *float64
	if err := s.queryRow(ctx, followerSQL).Scan(&replay, &since); err != nil {
		return "", 0, false, err
	}
	return replay, deref0(since), since != nil, nil
}

func (r *postgresReader) behind(written, applied string) (int64, int64, error) {
	p, err := parseLSN(written)
	if err != nil {
		return 0, 0, err
	}
	f, err := parseLSN(applied)
	if err != nil {
		return 0, 0, err
	}
	bytes, _ := FollowerLag(p, f, 0, false)
	return bytes, 0, nil
}

func (r *postgresReader) identity(ctx context.Context, s nodeSession) (identity, error) {
	var id identity
	err := s.queryRow(ctx, identitySQL).Scan(&id.SystemID, &id.Started)
	return id, err
}

func (r *postgresReader) keysQuery(n int) string {
	params := make([]string, n)
	for i := range params {
		params[i] = fmt.Sprintf("$%d", i+1)
	}
	return "SELECT key FROM hastack_kv WHERE key IN (" + strings.Join(params, ", ") + ")"
}

// pgSession is a pgx connection as a nodeSession.
type pgSession struct{ c *pgx.Conn }

func (s pgSession) queryRow(ctx context.Context, query string, args ...any) interface{ Scan(...any) error } {
	return s.c.QueryRow(ctx, query, args...)
}

func (s pgSession) strings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.c.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// close ends the session without waiting on a node that is cut off.
func (s pgSession) close() {
	ctx, cancel := context.WithTimeout(context.Background(), sampleTimeout)
	defer cancel()
	s.c.Close(ctx)
}

func (s pgSession) closed() bool { return s.c.IsClosed() }

func deref0(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}
