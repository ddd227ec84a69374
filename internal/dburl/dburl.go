// Package dburl turns the mysql:// URLs hastack hands applications
// (mysql://user:password@host:port/database) into the configuration of
// github.com/go-sql-driver/mysql, whose own DSN has another form. It parses
// untrusted input and never puts the password into an error.
package dburl

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Timeouts bound a connection's dial and its reads and writes; zero leaves
// the driver's default (none for reads and writes).
type Timeouts struct {
	Dial, Read, Write time.Duration
}

// IsMySQL reports whether url names a MySQL database (scheme mysql://);
// anything else is left to PostgreSQL's driver.
func IsMySQL(url string) bool {
	scheme, _, ok := strings.Cut(url, "://")
	return ok && strings.EqualFold(scheme, "mysql")
}

// MySQLConfig parses a mysql:// URL: user and password percent-decoded,
// host and port (3306 when none), the database as its path. Query
// parameters are refused: the caller, not the URL, sets timeouts.
// Statements are prepared on the server (interpolateParams off),
// DATETIME values come back as time.Time, and the driver logs nothing.
func MySQLConfig(rawURL string, t Timeouts) (*mysql.Config, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("malformed mysql URL: %s", parseProblem(err))
	}
	if !strings.EqualFold(u.Scheme, "mysql") {
		return nil, errors.New("malformed mysql URL: the scheme must be mysql://")
	}
	if u.Opaque != "" {
		return nil, errors.New("malformed mysql URL: no // after the scheme")
	}
	if u.User == nil || u.User.Username() == "" {
		return nil, errors.New("malformed mysql URL: no user")
	}
	password, _ := u.User.Password()
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return nil, errors.New("malformed mysql URL: no host")
	}
	if !validHost(host) {
		return nil, errors.New("malformed mysql URL: the host is neither an IP address nor a DNS name")
	}
	if port == "" {
		port = "3306"
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return nil, fmt.Errorf("malformed mysql URL: port %q is not a number from 1 to 65535", port)
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.ContainsAny(db, "/?\x00") {
		return nil, errors.New("malformed mysql URL: the path must name one database")
	}
	if u.RawQuery != "" || u.ForceQuery {
		return nil, errors.New("malformed mysql URL: query parameters are not taken")
	}
	if u.Fragment != "" {
		return nil, errors.New("malformed mysql URL: a fragment is not taken")
	}
	if t.Dial < 0 || t.Read < 0 || t.Write < 0 {
		return nil, errors.New("negative timeout")
	}
	c := mysql.NewConfig()
	c.User = u.User.Username()
	c.Passwd = password
	c.Net = "tcp"
	c.Addr = net.JoinHostPort(host, port)
	c.DBName = db
	c.Timeout, c.ReadTimeout, c.WriteTimeout = t.Dial, t.Read, t.Write
	c.ParseTime = true
	c.InterpolateParams = false
	// The driver's own log (a pool closing a connection a failover broke)
	// would go to stderr; the errors reach the caller anyway.
	c.Logger = &mysql.NopLogger{}
	return c, nil
}

// MySQLDSN is MySQLConfig in the driver's DSN form, for sql.Open("mysql", ...).
func MySQLDSN(rawURL string, t Timeouts) (string, error) {
	c, err := MySQLConfig(rawURL, t)
	if err != nil {
		return "", err
	}
	return c.FormatDSN(), nil
}

// validHost accepts an IP address or a DNS name, nothing the driver's
// address syntax could misread.
func validHost(host string) bool {
	if a, err := netip.ParseAddr(host); err == nil {
		// A zone ("fe80::1%eth0") names an interface of this machine; the
		// driver's address form cannot carry one that holds a bracket.
		return a.Zone() == ""
	}
	if len(host) > 253 {
		return false
	}
	for _, r := range host {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// parseProblem says what url.Parse disliked without quoting the input,
// which may hold the password (url.Error repeats the whole URL, and an
// EscapeError the bad escape).
func parseProblem(err error) string {
	var escape url.EscapeError
	var host url.InvalidHostError
	switch {
	case errors.As(err, &escape):
		return "invalid percent-encoding"
	case errors.As(err, &host):
		return "invalid character in the host"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		msg := ue.Err.Error()
		if strings.HasPrefix(msg, "invalid port") {
			return "invalid port"
		}
		switch msg {
		case "missing protocol scheme", "first path segment in URL cannot contain colon",
			"net/url: invalid control character in URL", "net/url: invalid userinfo":
			return strings.TrimPrefix(msg, "net/url: ")
		}
	}
	return "not a URL"
}
