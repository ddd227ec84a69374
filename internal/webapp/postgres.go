package webapp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	pgCreateTableSQL = `CREATE TABLE IF NOT EXISTS hastack_kv (
	key        text PRIMARY KEY,
	value      text NOT NULL,
	region     text NOT NULL,
	instance   text NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
)`
	pgUpsertSQL = `INSERT INTO hastack_kv (key, value, region, instance, updated_at)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (key) DO UPDATE SET
	value = EXCLUDED.value, region = EXCLUDED.region,
	instance = EXCLUDED.instance, updated_at = EXCLUDED.updated_at`
	pgSelectSQL = `SELECT value FROM hastack_kv WHERE key = $1`
)

// PostgreSQL error codes the application tells apart.
const (
	codeUniqueViolation = "23505"
	codeDuplicateTable  = "42P07"
	// codeDuplicateObject: the table's row type was created by a racing
	// CREATE TABLE IF NOT EXISTS a moment earlier.
	codeDuplicateObject = "42710"
	codeUndefinedTable  = "42P01"
	codeReadOnlyTx      = "25006"
)

// postgres is an endpoint on PostgreSQL through a pgx pool.
type postgres struct {
	pool       *pgxpool.Pool
	tableReady atomic.Bool // hastack_kv is known to exist
}

func openPostgres(url string, from netip.Addr) (*db, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err // pgx redacts the password
	}
	if from.IsValid() && !from.IsUnspecified() {
		cfg.ConnConfig.DialFunc = dialerFrom(from).DialContext
	}
	cfg.MaxConns, cfg.MinConns = maxConns, 0
	cfg.HealthCheckPeriod = healthCheckPeriod
	cfg.ConnConfig.ConnectTimeout = connectTimeout
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	return &db{database: &postgres{pool: pool}, password: cfg.ConnConfig.Password}, nil
}

// do runs fn on a connection of the pool. When fn fails because the
// connection turned out broken (the server restarted since it was last
// used), fn runs once more on another connection, so fn must be idempotent.
func (p *postgres) do(ctx context.Context, fn func(*pgx.Conn) error) error {
	for attempt := 0; ; attempt++ {
		c, err := p.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		err = fn(c.Conn())
		bad := broken(c.Conn(), err)
		if bad && !c.Conn().IsClosed() {
			c.Conn().Close(ctx) // Release then drops it from the pool
		}
		c.Release()
		if !bad || attempt > 0 || ctx.Err() != nil {
			return err
		}
	}
}

// broken reports whether err (from using conn) leaves conn unusable:
// anything but an SQL error or no rows on a connection still open, and
// also the server's FATAL errors, after which it hangs up.
func broken(conn *pgx.Conn, err error) bool {
	if err == nil {
		return false
	}
	if conn.IsClosed() {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Severity == "FATAL" || pgErr.Severity == "PANIC"
	}
	return !errors.Is(err, pgx.ErrNoRows)
}

func (p *postgres) ping(ctx context.Context) error {
	return p.do(ctx, func(c *pgx.Conn) error {
		var one int
		return c.QueryRow(ctx, "SELECT 1").Scan(&one)
	})
}

func (p *postgres) put(ctx context.Context, row kvRow) error {
	return p.do(ctx, func(c *pgx.Conn) error { return p.upsert(ctx, c, row) })
}

// upsert writes the key, creating the table on first need. A table that
// vanished since (a new database) is created again.
func (p *postgres) upsert(ctx context.Context, c *pgx.Conn, row kvRow) error {
	for attempt := 0; ; attempt++ {
		if err := p.ensureTable(ctx, c); err != nil {
			return err
		}
		_, err := c.Exec(ctx, pgUpsertSQL, row.key, row.value, row.region, row.instance)
		if hasCode(err, codeUndefinedTable) && attempt == 0 {
			p.tableReady.Store(false)
			continue
		}
		return err
	}
}

// ensureTable creates hastack_kv if needed. Instances starting together
// race on CREATE TABLE IF NOT EXISTS, which can then fail with a unique or
// duplicate-table violation; trying again sees the winner's table.
func (p *postgres) ensureTable(ctx context.Context, c *pgx.Conn) error {
	if p.tableReady.Load() {
		return nil
	}
	for attempt := 0; ; attempt++ {
		_, err := c.Exec(ctx, pgCreateTableSQL)
		if err == nil {
			p.tableReady.Store(true)
			return nil
		}
		if attempt < 3 && hasCode(err, codeUniqueViolation, codeDuplicateTable, codeDuplicateObject) {
			continue
		}
		return fmt.Errorf("creating table hastack_kv: %w", err)
	}
}

func (p *postgres) get(ctx context.Context, key string) (string, bool, error) {
	var value string
	err := p.do(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, pgSelectSQL, key).Scan(&value)
	})
	if errors.Is(err, pgx.ErrNoRows) || hasCode(err, codeUndefinedTable) {
		return "", false, nil
	}
	return value, err == nil, err
}

// unavailable: anything but the server's answer, connection exceptions
// (08), operator intervention such as shutdown or startup (57), or a
// read-only server (after a failover).
func (p *postgres) unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return true
	}
	return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57") || pgErr.Code == codeReadOnlyTx
}

func (p *postgres) serverMessage(err error) (string, bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Message, true
	}
	return "", false
}

// close closes the pool, waiting for connections in use to be released.
func (p *postgres) close() { p.pool.Close() }

func hasCode(err error, codes ...string) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	for _, c := range codes {
		if pgErr.Code == c {
			return true
		}
	}
	return false
}
