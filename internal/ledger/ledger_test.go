package ledger

import (
	"context"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/rds"
	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/testenv"
	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/hastack/hastack/internal/mariadb/mariadbtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(mariadbtest.Runner(m)) }

func TestCompare(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	w := func(seq int64, ms int, o Outcome) Write { return Write{Seq: seq, End: at(ms), Outcome: o} }
	tests := []struct {
		name    string
		writes  []Write
		present []int64
		want    Report
	}{
		{"nothing lost", []Write{w(1, 10, Acked), w(2, 20, Acked)}, []int64{1, 2},
			Report{Acked: 2, Present: 2}},
		{"tail lost", []Write{w(1, 10, Acked), w(2, 20, Acked), w(3, 30, Acked), w(4, 45, Acked)}, []int64{1, 2},
			Report{Acked: 4, Present: 2, Lost: 2, LostSeqs: []int64{3, 4}, RPO: 25 * time.Millisecond}},
		{"writes resumed after the loss", []Write{w(1, 10, Acked), w(2, 20, Acked), w(3, 900, Acked)}, []int64{1, 3},
			Report{Acked: 3, Present: 2, Lost: 1, LostSeqs: []int64{2}, RPO: 10 * time.Millisecond}},
		{"everything lost counts from the start", []Write{w(1, 10, Acked), w(2, 20, Acked)}, nil,
			Report{Acked: 2, Lost: 2, LostSeqs: []int64{1, 2}, RPO: 20 * time.Millisecond}},
		{"a lone lost write costs the time since the last survivor", []Write{w(1, 10, Acked), w(2, 20, Acked), w(3, 30, Acked)}, []int64{1, 3},
			Report{Acked: 3, Present: 2, Lost: 1, LostSeqs: []int64{2}, RPO: 10 * time.Millisecond}},
		{"the first write lost while later ones survive counts from the start", []Write{w(1, 10, Acked), w(2, 20, Acked), w(3, 30, Acked)}, []int64{2, 3},
			Report{Acked: 3, Present: 2, Lost: 1, LostSeqs: []int64{1}, RPO: 10 * time.Millisecond}},
		{"survivors acknowledged after the first loss do not shorten it", []Write{w(1, 10, Acked), w(2, 20, Acked), w(3, 40, Acked), w(4, 35, Acked)}, []int64{1, 4},
			Report{Acked: 4, Present: 2, Lost: 2, LostSeqs: []int64{2, 3}, RPO: 30 * time.Millisecond}},
		{"failed and unknown writes are not losses", []Write{w(1, 10, Acked), w(2, 20, Failed), w(3, 30, Unknown)}, []int64{1, 3},
			Report{Acked: 1, Present: 1}},
		{"a failed write that is present is flagged", []Write{w(1, 10, Failed)}, []int64{1},
			Report{FailedPresent: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			present := map[int64]bool{}
			for _, s := range tt.present {
				present[s] = true
			}
			got := Compare(tt.writes, present, t0)
			if got.Acked != tt.want.Acked || got.Present != tt.want.Present || got.Lost != tt.want.Lost ||
				got.FailedPresent != tt.want.FailedPresent || got.RPO != tt.want.RPO || !equal(got.LostSeqs, tt.want.LostSeqs) {
				t.Fatalf("compare() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestCompareWithoutStart: a record with no start time counts a loss
// from the earliest write's start, so a lost write never costs nothing.
func TestCompareWithoutStart(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	writes := []Write{
		{Seq: 1, Start: t0.Add(5 * time.Millisecond), End: t0.Add(15 * time.Millisecond), Outcome: Acked},
		{Seq: 2, Start: t0, End: t0.Add(8 * time.Millisecond), Outcome: Failed},
		{Seq: 3, Start: t0.Add(20 * time.Millisecond), End: t0.Add(30 * time.Millisecond), Outcome: Acked},
	}
	got := Compare(writes, map[int64]bool{3: true}, time.Time{})
	if got.Lost != 1 || got.RPO != 15*time.Millisecond {
		t.Fatalf("Compare() = %+v, want 1 lost, RPO 15ms (from the first write's start)", got)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted a config without URL")
	}
	if _, err := New(Config{URL: "postgres://x@127.0.0.1/app", Table: "bad-name; drop"}); err == nil {
		t.Error("New accepted a bad table name")
	}
	l, err := New(Config{URL: "postgres://x@127.0.0.1/app"})
	if err != nil {
		t.Fatal(err)
	}
	if c := l.cfg; c.Table != "hastack_ledger" || c.Rate != 50 || c.Writers != 2 || c.Duration != 10*time.Second || c.Timeout != 2*time.Second {
		t.Errorf("defaults = %+v", c)
	}
}

// startDatabase runs a one-node cluster, skipping the test when
// PostgreSQL is missing unless HASTACK_REQUIRE_POSTGRES=1.
func startDatabase(t *testing.T, addr string) *rds.Cluster {
	t.Helper()
	testenv.RequirePostgres(t)
	dir, err := os.MkdirTemp("", "hastack-ledger-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // PostgreSQL runs as postgres under root
		t.Fatal(err)
	}
	c, err := rds.New(rds.Config{
		StateDir: dir,
		Database: spec.Database{Engine: "postgres", Port: 5432, Name: "app", Username: "hastack"},
		Nodes: []rds.NodeConfig{{Name: "db-ledger", Region: "r1", AZ: "r1a", Role: rds.RolePrimary,
			Addr: netip.MustParseAddr(addr)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stopping database: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRunVerifyAndLoss(t *testing.T) {
	db := startDatabase(t, "127.0.97.5")
	url := db.WriterURL("")
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

	// Take the three latest acknowledged rows away: they are lost, and the
	// RPO runs from the last one kept to the last one lost.
	writes := l.Writes()
	var acked []Write
	for _, w := range writes {
		if w.Outcome == Acked {
			acked = append(acked, w)
		}
	}
	tail := acked[len(acked)-3:]
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, w := range tail {
		if _, err := conn.Exec(ctx, "DELETE FROM hastack_ledger WHERE run = $1 AND seq = $2", l.run, w.Seq); err != nil {
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
}

func TestWritesWhileDown(t *testing.T) {
	db := startDatabase(t, "127.0.97.6")
	url := db.WriterURL("")
	ctx := t.Context()
	// The load runs until writes are acknowledged again after the outage,
	// however long a loaded machine takes to restart the database.
	l, err := New(Config{URL: url, Rate: 50, Writers: 1, Duration: 2 * time.Minute, Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	done := make(chan error, 1)
	go func() { done <- l.Run(runCtx) }()
	testenv.WaitFor(t, "writes acknowledged before the outage", 30*time.Second, func() bool { return l.Stats().Acked >= 20 })
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := db.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the outage itself
	if err := db.Start(stopCtx); err != nil {
		t.Fatal(err)
	}
	acked := l.Stats().Acked
	testenv.WaitFor(t, "writes acknowledged after the outage", 30*time.Second, func() bool { return l.Stats().Acked >= acked+20 })
	stopRun()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st := l.Stats()
	if st.Failed+st.Unknown == 0 || st.Acked == 0 {
		t.Fatalf("stats %+v, want failures while the database was down and acks around it", st)
	}
	if st.LongestGap < 400*time.Millisecond {
		t.Errorf("longest gap %s, want the outage in it", st.LongestGap)
	}
	t.Logf("stats %+v", st)
	rep, err := l.Verify(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lost != 0 || rep.FailedPresent != 0 {
		t.Fatalf("report %+v, want nothing lost after a clean restart", rep)
	}
}
