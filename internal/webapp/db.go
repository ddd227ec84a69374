package webapp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	maxConns       = 4
	connectTimeout = time.Second
	// healthCheckPeriod is how often the pool looks over its idle
	// connections. (pgxpool also pings a connection idle for over a second
	// before handing it out, so a restarted server rarely costs a request.)
	healthCheckPeriod = time.Second
)

// sourceAddr is the IP address of a host:port to listen on, if it names one.
func sourceAddr(listen string) netip.Addr {
	ap, err := netip.ParseAddrPort(listen)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}

// db is a pool of connections to one endpoint, dialled on demand.
type db struct {
	pool     *pgxpool.Pool
	password string
}

// openDB prepares a pool for url without connecting. Connections leave
// from the address from, when valid: the instance's own, so that they
// stay inside its failure domain (the kernel would pick 127.0.0.1, which
// is outside every region).
func openDB(url string, from netip.Addr) (*db, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err // pgx redacts the password
	}
	if from.IsValid() && !from.IsUnspecified() {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}, KeepAlive: 5 * time.Minute} // pgconn's keep-alive
		cfg.ConnConfig.DialFunc = d.DialContext
	}
	cfg.MaxConns, cfg.MinConns = maxConns, 0
	cfg.HealthCheckPeriod = healthCheckPeriod
	cfg.ConnConfig.ConnectTimeout = connectTimeout
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	return &db{pool: pool, password: cfg.ConnConfig.Password}, nil
}

// do runs fn on a connection of the pool. When fn fails because the
// connection turned out broken (the server restarted since it was last
// used), fn runs once more on another connection, so fn must be idempotent.
func (d *db) do(ctx context.Context, fn func(*pgx.Conn) error) error {
	for attempt := 0; ; attempt++ {
		c, err := d.pool.Acquire(ctx)
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

// close closes the pool, waiting for connections in use to be released.
func (d *db) close() { d.pool.Close() }

// redact returns err's message without the endpoint's password.
func (d *db) redact(err error) string {
	return d.redactString(err.Error())
}

func (d *db) redactString(msg string) string {
	if d.password != "" {
		msg = strings.ReplaceAll(msg, d.password, "xxxxx")
	}
	return msg
}
