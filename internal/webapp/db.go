package webapp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/hastack/hastack/internal/dburl"
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

// database is what the handlers need of one endpoint, PostgreSQL's or
// MySQL's; each engine implements it once, and the handlers know nothing
// else of it.
type database interface {
	// ping answers whether the database serves a trivial query.
	ping(ctx context.Context) error
	// put stores the key's row, creating the table on first need.
	put(ctx context.Context, row kvRow) error
	// get returns the key's value; found is false when there is no such
	// key (or no table yet).
	get(ctx context.Context, key string) (value string, found bool, err error)
	// unavailable reports whether err means that the database cannot
	// serve now (unreachable, shutting down, read-only after a failover),
	// not that it refused the request.
	unavailable(err error) bool
	// serverMessage is the server's own message in err, if it answered.
	serverMessage(err error) (string, bool)
	close()
}

// kvRow is one key with what it was written by.
type kvRow struct {
	key, value, region, instance string
}

// db is a pool of connections to one endpoint, dialled on demand.
type db struct {
	database
	password string
}

// openDB prepares a pool for url without connecting, PostgreSQL's or
// MySQL's by the URL's scheme. Connections leave from the address from,
// when valid: the instance's own, so that they stay inside its failure
// domain (the kernel would pick 127.0.0.1, which is outside every region).
func openDB(url string, from netip.Addr) (*db, error) {
	if dburl.IsMySQL(url) {
		return openMySQL(url, from)
	}
	return openPostgres(url, from)
}

// dialerFrom dials from the address from, or lets the kernel choose when
// it is not valid.
func dialerFrom(from netip.Addr) *net.Dialer {
	d := &net.Dialer{KeepAlive: 5 * time.Minute} // pgconn's keep-alive
	if from.IsValid() && !from.IsUnspecified() {
		d.LocalAddr = &net.TCPAddr{IP: from.AsSlice()}
	}
	return d
}

// cause is a short, credential-free reason for a database failure.
func (d *db) cause(err error) string {
	var opErr *net.OpError
	if msg, ok := d.serverMessage(err); ok {
		return d.redactString(msg)
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.As(err, &opErr):
		return d.redactString(opErr.Op + ": " + opErr.Err.Error())
	default:
		return "connection failed"
	}
}

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
