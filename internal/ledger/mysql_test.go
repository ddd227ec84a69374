package ledger

import (
	"context"
	"database/sql/driver"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/hastack/hastack/internal/mariadb/mariadbtest"
	"github.com/hastack/hastack/internal/testenv"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestClassify(t *testing.T) {
	serverErr := func(n uint16) error { return &mysql.MySQLError{Number: n, Message: "refused"} }
	tests := []struct {
		name     string
		classify func(error) Outcome
		err      error
		want     Outcome
	}{
		{"mysql: committed", classifyMySQL, nil, Acked},
		{"mysql: INSERT refused", classifyMySQL, serverErr(1290), Failed},
		{"mysql: connection broke before COMMIT", classifyMySQL, mysql.ErrInvalidConn, Failed},
		{"mysql: timed out before COMMIT", classifyMySQL, context.DeadlineExceeded, Failed},
		{"mysql: COMMIT never sent", classifyMySQL, commitError{driver.ErrBadConn}, Failed},
		{"mysql: COMMIT refused", classifyMySQL, commitError{serverErr(1213)}, Failed},
		{"mysql: connection broke during COMMIT", classifyMySQL, commitError{mysql.ErrInvalidConn}, Unknown},
		{"mysql: COMMIT timed out", classifyMySQL, commitError{context.DeadlineExceeded}, Unknown},
		{"mysql: session killed while COMMIT waited", classifyMySQL, commitError{serverErr(errConnectionKilled)}, Unknown},
		{"mysql: server shut down while COMMIT waited", classifyMySQL, commitError{serverErr(errServerShutdown)}, Unknown},
		{"postgres: committed", classifyPostgres, nil, Acked},
		{"postgres: refused", classifyPostgres, &pgconn.PgError{Severity: "ERROR", Code: "25006"}, Failed},
		{"postgres: server went away", classifyPostgres, &pgconn.PgError{Severity: "FATAL", Code: "57P01"}, Unknown},
		{"postgres: connection broke", classifyPostgres, io.ErrUnexpectedEOF, Unknown},
	}
	for _, tt := range tests {
		if got := tt.classify(tt.err); got != tt.want {
			t.Errorf("%s: %v is %s, want %s", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestMySQLURLChecked(t *testing.T) {
	if _, err := New(Config{URL: "mysql://app:pw@127.0.71.1:3306/appdb"}); err != nil {
		t.Errorf("a mysql:// URL was refused: %v", err)
	}
	_, err := New(Config{URL: "mysql://app:Hunter2Secret@127.0.71.1:3306/appdb?x=1"})
	if err == nil {
		t.Error("a mysql:// URL with parameters was taken")
	} else if strings.Contains(err.Error(), "Hunter2Secret") {
		t.Errorf("the error repeats the password: %v", err)
	}
}

func TestRunVerifyAndLossMariaDB(t *testing.T) {
	url := mariadbtest.Start(t, netip.MustParseAddrPort("127.0.71.5:3306"))
	ctx := t.Context()
	l, err := New(Config{URL: url, Rate: 100, Writers: 2, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := l.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a 1s run took %s", d)
	}
	st := l.Stats()
	if st.Acked < 40 || st.Acked > 110 || st.Failed+st.Unknown != 0 {
		t.Fatalf("stats %+v, want 40-110 acked writes and no failures", st)
	}
	rep, err := l.Verify(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lost != 0 || rep.Present != st.Acked || rep.RPO != 0 {
		t.Fatalf("report %+v, want all %d present", rep, st.Acked)
	}

	// Take the three latest acknowledged rows away: they are lost.
	var acked []Write
	for _, w := range l.Writes() {
		if w.Outcome == Acked {
			acked = append(acked, w)
		}
	}
	tail := acked[len(acked)-3:]
	db := mariadbtest.Open(t, url)
	for _, w := range tail {
		if _, err := db.ExecContext(ctx, "DELETE FROM hastack_ledger WHERE run = ? AND seq = ?", l.run, w.Seq); err != nil {
			t.Fatal(err)
		}
	}
	rep, err = l.Verify(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lost != 3 || rep.Present != st.Acked-3 {
		t.Fatalf("report %+v, want 3 lost", rep)
	}
	if want := tail[2].End.Sub(acked[len(acked)-4].End); rep.RPO != want {
		t.Errorf("RPO %s, want %s", rep.RPO, want)
	}

	// Another table that was never created reads as no rows.
	other, err := New(Config{URL: url, Table: "hastack_ledger_none"})
	if err != nil {
		t.Fatal(err)
	}
	if rep, err := other.Verify(ctx, url); err != nil || rep.Present != 0 {
		t.Errorf("verifying a missing table: %+v, %v", rep, err)
	}
}

// TestKillMidRunMariaDB: the server is killed (kill -9) under writers and
// restarted on the same data directory. Writes in between fail or end
// unknown, and no acknowledged write is lost.
func TestKillMidRunMariaDB(t *testing.T) {
	d := mariadbtest.New(t, netip.MustParseAddrPort("127.0.71.6:3306"))
	ctx := t.Context()
	l, err := New(Config{URL: d.URL, Rate: 200, Writers: 4, Duration: 2 * time.Minute, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	done := make(chan error, 1)
	go func() { done <- l.Run(runCtx) }()
	testenv.WaitFor(t, "writes acknowledged before the kill", 30*time.Second, func() bool { return l.Stats().Acked >= 50 })
	d.Kill()
	testenv.WaitFor(t, "writes failing while the server is down", 10*time.Second, func() bool {
		st := l.Stats()
		return st.Failed+st.Unknown > 0
	})
	restartCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := d.Start(restartCtx); err != nil {
		t.Fatal(err)
	}
	acked := l.Stats().Acked
	testenv.WaitFor(t, "writes acknowledged after the restart", 30*time.Second, func() bool { return l.Stats().Acked >= acked+50 })
	stopRun()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	t.Logf("stats %+v", st)
	rep, err := l.Verify(ctx, d.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report %+v", rep)
	if rep.Lost != 0 || rep.FailedPresent != 0 || rep.Present != st.Acked {
		t.Fatalf("report %+v, want all %d acknowledged writes present and no failed write present", rep, st.Acked)
	}
	if st.LongestGap < 100*time.Millisecond {
		t.Errorf("longest gap %s, want the outage in it", st.LongestGap)
	}
}

// TestCommitsStuckThenKilledMariaDB: commits wait for a standby that never
// acknowledges (semi-sync on, none connected) until the writes time out:
// those writes are unknown, as the server may keep them. The server is
// then killed and restarted: what it kept of them is no failed write, and
// no acknowledged write is lost.
func TestCommitsStuckThenKilledMariaDB(t *testing.T) {
	d := mariadbtest.New(t, netip.MustParseAddrPort("127.0.71.7:3306"))
	ctx := t.Context()
	l, err := New(Config{URL: d.URL, Rate: 100, Writers: 2, Duration: 2 * time.Minute, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	done := make(chan error, 1)
	go func() { done <- l.Run(runCtx) }()
	testenv.WaitFor(t, "writes acknowledged before commits wait", 30*time.Second, func() bool { return l.Stats().Acked >= 20 })
	if err := d.Server().SetSemiSync(ctx, true); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, "commits timing out", 30*time.Second, func() bool { return l.Stats().Unknown >= 4 })
	d.Kill()
	restartCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := d.Start(restartCtx); err != nil { // semi-sync off again: the option file says so
		t.Fatal(err)
	}
	acked := l.Stats().Acked
	testenv.WaitFor(t, "writes acknowledged after the restart", 30*time.Second, func() bool { return l.Stats().Acked >= acked+20 })
	stopRun()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	rep, err := l.Verify(ctx, d.URL)
	if err != nil {
		t.Fatal(err)
	}
	unknownKept := 0
	present, err := l.readBack(ctx, d.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range l.Writes() {
		if w.Outcome == Unknown && present[w.Seq] {
			unknownKept++
		}
	}
	t.Logf("stats %+v; %d unknown writes kept by the server; report %+v", st, unknownKept, rep)
	if rep.Lost != 0 || rep.FailedPresent != 0 || rep.Present != st.Acked {
		t.Fatalf("report %+v, want all %d acknowledged writes present and no failed write present", rep, st.Acked)
	}
}
