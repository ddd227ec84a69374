package webapp

import (
	"context"
	"database/sql"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/mariadb/mariadbtest"
	"github.com/hastack/hastack/internal/testenv"
)

// mariadbUnderTest is a writable MariaDB server on addr, killed when the
// test ends.
func mariadbUnderTest(t *testing.T, addr string) testDatabase {
	d := mariadbtest.New(t, netip.MustParseAddrPort(addr))
	return testDatabase{
		writerURL: d.URL, readerURL: d.URL, password: d.Server().Config().Accounts.AppPassword,
		terminateSessions: func(t *testing.T, ctx context.Context) { killSessions(t, ctx, d.URL) },
		clientAddrs: func(t *testing.T, ctx context.Context) []string {
			var addrs []string
			for _, hostPort := range otherSessions(t, ctx, openOneSession(t, d.URL)) {
				host, _, err := net.SplitHostPort(hostPort.host)
				if err != nil {
					t.Fatalf("session host %q: %v", hostPort.host, err)
				}
				addrs = append(addrs, host)
			}
			return addrs
		},
		stop:  d.Stop,
		start: d.Start,
	}
}

// openOneSession is a pool of one connection on url: CONNECTION_ID()
// is then always the same session's.
func openOneSession(t *testing.T, url string) *sql.DB {
	t.Helper()
	db := mariadbtest.Open(t, url)
	db.SetMaxOpenConns(1)
	return db
}

type session struct {
	id   int64
	host string
}

// otherSessions lists the application account's sessions but db's own
// (an account sees its own sessions without the PROCESS privilege).
func otherSessions(t *testing.T, ctx context.Context, db *sql.DB) []session {
	t.Helper()
	rows, err := db.QueryContext(ctx, `SELECT ID, HOST FROM information_schema.PROCESSLIST
		WHERE USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AND ID <> CONNECTION_ID()`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []session
	for rows.Next() {
		var s session
		if err := rows.Scan(&s.id, &s.host); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// killSessions ends the application's other sessions and waits for them
// to be gone.
func killSessions(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	db := openOneSession(t, url)
	sessions := otherSessions(t, ctx, db)
	if len(sessions) == 0 {
		t.Fatal("no pooled session to kill")
	}
	for _, s := range sessions {
		if _, err := db.ExecContext(ctx, "KILL ?", s.id); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitFor(t, "killed sessions gone", 10*time.Second, func() bool {
		return len(otherSessions(t, ctx, db)) == 0
	})
}
