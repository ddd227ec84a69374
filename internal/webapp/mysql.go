package webapp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/hastack/hastack/internal/dburl"
)

const (
	// The key is bytes, as PostgreSQL compares text, and up to maxKeyBytes
	// of them fit InnoDB's index (3072 bytes), which utf8mb4 text of as
	// many characters would not. MEDIUMTEXT: TEXT holds one byte less than
	// maxValueBytes.
	myCreateTableSQL = "CREATE TABLE IF NOT EXISTS hastack_kv (\n" +
		"	`key`      VARBINARY(1024) PRIMARY KEY,\n" +
		"	value      MEDIUMTEXT CHARACTER SET utf8mb4 NOT NULL,\n" +
		"	region     VARCHAR(255) CHARACTER SET utf8mb4 NOT NULL,\n" +
		"	instance   VARCHAR(255) CHARACTER SET utf8mb4 NOT NULL,\n" +
		"	updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)\n" +
		") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
	myUpsertSQL = "INSERT INTO hastack_kv (`key`, value, region, instance, updated_at)\n" +
		"VALUES (?, ?, ?, ?, CURRENT_TIMESTAMP(6))\n" +
		"ON DUPLICATE KEY UPDATE\n" +
		"	value = VALUES(value), region = VALUES(region),\n" +
		"	instance = VALUES(instance), updated_at = VALUES(updated_at)"
	mySelectSQL = "SELECT value FROM hastack_kv WHERE `key` = ?"
	// connMaxIdleTime retires connections idle that long, so a pool does
	// not keep sessions a failover has long made stale.
	connMaxIdleTime = time.Minute
)

// MySQL (MariaDB) server errors the application tells apart.
const (
	errNoSuchTable       = 1146
	errServerShutdown    = 1053
	errTooManyConns      = 1040
	errTooManyUserConns  = 1203
	errConnectionKilled  = 1927
	errQueryInterrupted  = 1317
	errStatementTimeout  = 1969
	errReadOnlyOption    = 1290 // --read-only
	errReadOnlyMode      = 1836
	errReadOnlyTx        = 1792
	errAbortingConnction = 1152
	errNetReadError      = 1158
	errNetReadInterrupt  = 1159
	errNetWriteError     = 1160
	errNetWriteInterrupt = 1161
)

// mysqlDB is an endpoint on MySQL (MariaDB) through a database/sql pool.
type mysqlDB struct {
	pool       *sql.DB
	tableReady atomic.Bool // hastack_kv is known to exist
}

func openMySQL(url string, from netip.Addr) (*db, error) {
	cfg, err := dburl.MySQLConfig(url, dburl.Timeouts{Dial: connectTimeout, Read: kvTimeout, Write: kvTimeout})
	if err != nil {
		return nil, err // dburl leaves the password out
	}
	cfg.DialFunc = dialerFrom(from).DialContext
	// Failures reach the handlers, which log them redacted; the driver
	// would repeat them on stderr.
	cfg.Logger = &mysql.NopLogger{}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	pool := sql.OpenDB(connector)
	pool.SetMaxOpenConns(maxConns)
	pool.SetMaxIdleConns(maxConns)
	pool.SetConnMaxIdleTime(connMaxIdleTime)
	return &db{database: &mysqlDB{pool: pool}, password: cfg.Passwd}, nil
}

// retry runs fn, once more when it failed on a connection that turned
// out broken (the server restarted since it was last used; database/sql
// itself retries only when nothing was sent), so fn must be idempotent.
func (m *mysqlDB) retry(ctx context.Context, fn func() error) error {
	err := fn()
	var myErr *mysql.MySQLError
	if err == nil || errors.As(err, &myErr) || errors.Is(err, sql.ErrNoRows) || ctx.Err() != nil {
		return err
	}
	return fn()
}

func (m *mysqlDB) ping(ctx context.Context) error {
	return m.retry(ctx, func() error {
		var one int
		return m.pool.QueryRowContext(ctx, "SELECT 1").Scan(&one)
	})
}

// put writes the key, creating the table on first need. A table that
// vanished since (a new database) is created again. Instances racing on
// CREATE TABLE IF NOT EXISTS all succeed: MariaDB serialises it.
func (m *mysqlDB) put(ctx context.Context, row kvRow) error {
	return m.retry(ctx, func() error {
		for attempt := 0; ; attempt++ {
			if !m.tableReady.Load() {
				if _, err := m.pool.ExecContext(ctx, myCreateTableSQL); err != nil {
					return fmt.Errorf("creating table hastack_kv: %w", err)
				}
				m.tableReady.Store(true)
			}
			_, err := m.pool.ExecContext(ctx, myUpsertSQL, row.key, row.value, row.region, row.instance)
			if mysqlCode(err) == errNoSuchTable && attempt == 0 {
				m.tableReady.Store(false)
				continue
			}
			return err
		}
	})
}

func (m *mysqlDB) get(ctx context.Context, key string) (string, bool, error) {
	var value string
	err := m.retry(ctx, func() error {
		return m.pool.QueryRowContext(ctx, mySelectSQL, key).Scan(&value)
	})
	if errors.Is(err, sql.ErrNoRows) || mysqlCode(err) == errNoSuchTable {
		return "", false, nil
	}
	return value, err == nil, err
}

// unavailable: anything but the server's answer, or an answer that it is
// shutting down, out of connections, cut off, or read-only (after a
// failover).
func (m *mysqlDB) unavailable(err error) bool {
	switch mysqlCode(err) {
	case 0, errServerShutdown, errTooManyConns, errTooManyUserConns, errConnectionKilled,
		errQueryInterrupted, errStatementTimeout, errReadOnlyOption, errReadOnlyMode, errReadOnlyTx,
		errAbortingConnction, errNetReadError, errNetReadInterrupt, errNetWriteError, errNetWriteInterrupt:
		return true
	}
	return false
}

func (m *mysqlDB) serverMessage(err error) (string, bool) {
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return myErr.Message, true
	}
	return "", false
}

func (m *mysqlDB) close() { m.pool.Close() }

// mysqlCode is the server's error number in err, 0 when the server did
// not answer with an error.
func mysqlCode(err error) uint16 {
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return myErr.Number
	}
	return 0
}
