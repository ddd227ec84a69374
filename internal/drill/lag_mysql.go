package drill

import (
	"context"
	"database/sql"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/hastack/hastack/internal/dburl"
	"github.com/hastack/hastack/internal/mariadb"
)

// mysqlReader reads MariaDB nodes: GTID positions, which the
// application's user may read. A follower cannot tell it the age of
// what it applied without privileges the application lacks, so the
// sampler dates it from its own readings of the primary (staleSince).
type mysqlReader struct {
	cfg *mysql.Config // credentials; the address is each node's
}

func newMySQLReader(url string) (*mysqlReader, error) {
	cfg, err := dburl.MySQLConfig(url, dburl.Timeouts{})
	if err != nil {
		return nil, err
	}
	return &mysqlReader{cfg: cfg}, nil
}

func (r *mysqlReader) connect(ctx context.Context, host string, port uint16) (nodeSession, error) {
	cfg := r.cfg.Clone()
	cfg.Addr = net.JoinHostPort(host, strconv.Itoa(int(port)))
	c, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return &sqlSession{db: db}, nil
}

// written: the last transaction of each domain in the primary's binary
// log; applied: a follower's, from its replication.
func (r *mysqlReader) written(ctx context.Context, s nodeSession) (string, error) {
	var pos string
	err := s.queryRow(ctx, "SELECT @@GLOBAL.gtid_binlog_pos").Scan(&pos)
	return pos, err
}

func (r *mysqlReader) applied(ctx context.Context, s nodeSession) (string, float64, bool, error) {
	var pos string
	err := s.queryRow(ctx, "SELECT @@GLOBAL.gtid_slave_pos").Scan(&pos)
	return pos, 0, false, err
}

func (r *mysqlReader) behind(written, applied string) (int64, int64, error) {
	w, err := mariadb.ParseGTIDSet(written)
	if err != nil {
		return 0, 0, err
	}
	a, err := mariadb.ParseGTIDSet(applied)
	if err != nil {
		return 0, 0, err
	}
	return 0, mariadb.Behind(w, a), nil
}

// identity: MariaDB has no system identifier; the server's start is
// known from its uptime, to the second.
func (r *mysqlReader) identity(ctx context.Context, s nodeSession) (identity, error) {
	var uptime int64
	err := s.queryRow(ctx, "SELECT CAST(VARIABLE_VALUE AS UNSIGNED) FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME'").Scan(&uptime)
	if err != nil {
		return identity{}, err
	}
	return identity{Started: time.Now().Add(-time.Duration(uptime) * time.Second).Truncate(time.Second), StartedWithin: 2 * time.Second}, nil
}

func (r *mysqlReader) keysQuery(n int) string {
	return "SELECT `key` FROM hastack_kv WHERE `key` IN (" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
}

// sqlSession is a one-connection database/sql pool as a nodeSession.
type sqlSession struct {
	db   *sql.DB
	done bool
}

func (s *sqlSession) queryRow(ctx context.Context, query string, args ...any) interface{ Scan(...any) error } {
	return s.db.QueryRowContext(ctx, query, args...)
}

func (s *sqlSession) strings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (s *sqlSession) close() {
	s.done = true
	s.db.Close()
}

func (s *sqlSession) closed() bool { return s.done }
