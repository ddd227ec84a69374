package rds

import (
	"context"
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/ledger"
	"github.com/jackc/pgx/v5/pgconn"
)

// writeLoad runs a ledger writing rate rows a second through url until
// stop is called, or the test ends.
func writeLoad(t *testing.T, ctx context.Context, url string, rate float64) (l *ledger.Ledger, stop func()) {
	t.Helper()
	l, err := ledger.New(ledger.Config{URL: url, Rate: rate, Writers: 2, Duration: 2 * time.Minute, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.Run(lctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ledger: %v", err)
		}
	})
	t.Cleanup(stop)
	return l, stop
}

func TestParseShutdownCheckpoint(t *testing.T) {
	const clean = `pg_control version number:            1300
Database cluster state:               shut down
Latest checkpoint location:           0/3000148
Latest checkpoint's REDO location:    0/3000148
`
	for _, tt := range []struct {
		name, out string
		want      LSN
		err       string
	}{
		{"a clean shutdown", clean, 0x3000148, ""},
		{"a high LSN", strings.Replace(clean, "0/3000148\n", "1A/FF000028\n", 1), 0x1AFF000028, ""},
		{"killed", strings.Replace(clean, "shut down\n", "in production\n", 1), 0, `did not shut down cleanly (its control file says "in production")`},
		{"a standby", strings.Replace(clean, "shut down\n", "shut down in recovery\n", 1), 0, "did not shut down cleanly"},
		{"no location", "Database cluster state:               shut down\n", 0, "no checkpoint location"},
		{"nothing", "", 0, `control file says ""`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseShutdownCheckpoint(tt.out)
			if tt.err == "" && (err != nil || got != tt.want) {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("got %s, %v; want an error with %q", got, err, tt.err)
			}
		})
	}
}

// TestSwitchover moves the primary to the other region and back under
// a steady write load through the writer endpoint: no acknowledged
// write is lost either way, writes stop for well under the bound, and
// each old primary keeps running, as a follower of the new one. A
// switchover whose target does not catch up is aborted.
func TestSwitchover(t *testing.T) {
	requirePostgres(t)
	rec := newRecorder()
	cfg := haConfig(seededDir(t, tmplHA), 96, true, rec)
	// us-west-2's spare: the standby the primary gets there.
	cfg.Nodes = append(cfg.Nodes, NodeConfig{Name: nodeS, Region: west, AZ: "us-west-2b", Role: RoleSpare, Addr: netip.AddrFrom4([4]byte{127, 0, 96, 28})})
	c := newCluster(t, cfg)
	ctx := startCtx(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("events:\n%s", eventsOnly(rec))
		}
	})
	if s := nodeStatus(t, c, nodeS); s.Running || s.ReplicationState != ReplSpare {
		t.Fatalf("the spare at the start: %+v, want no server", s)
	}
	l, stopLoad := writeLoad(t, ctx, c.WriterURL(""), 100)
	waitFor(t, "writes flowing", eventually, func() bool { return l.Stats().Acked >= 30 })

	const bound = 2 * time.Second // a second aimed for; the test machine is shared
	for _, tc := range []struct{ region, from, to string }{{west, nodeA, nodeW}, {east, nodeW, nodeA}} {
		pids := postmasters(c)
		rep, err := c.Switchover(ctx, tc.region)
		if err != nil {
			t.Fatalf("switchover to %s: %v\n%s", tc.region, err, eventsOnly(rec))
		}
		downtime := time.Duration(rep.WriteDowntimeSeconds * float64(time.Second))
		t.Logf("switchover %s -> %s: writes stopped for %s, %.2fs in all, old WAL end %s, timeline %d",
			rep.From, rep.To, downtime.Round(time.Millisecond), rep.Seconds, rep.LSN, rep.Timeline)
		if rep.From != tc.from || rep.To != tc.to || !rep.OldPrimaryFollows || rep.LSN == 0 {
			t.Fatalf("report %+v, want %s -> %s with the old primary following", rep, tc.from, tc.to)
		}
		if downtime <= 0 || downtime > bound {
			t.Errorf("writes stopped for %s, want under %s", downtime, bound)
		}
		if s := nodeStatus(t, c, tc.to); s.Role != RolePrimary || !s.Running {
			t.Fatalf("%s after the switchover: %+v", tc.to, s)
		}
		if s := nodeStatus(t, c, tc.from); s.Role == RolePrimary || s.Fenced || !s.Running {
			t.Fatalf("old primary %s after the switchover: %+v, want a running follower", tc.from, s)
		}
		// Nobody else was restarted: the others were re-pointed live.
		for name, pid := range pids {
			if name == tc.from || name == nodeS {
				continue
			}
			if p := c.byName[name].proc.Load(); p == nil || p.pid() != pid {
				t.Errorf("%s was restarted by the switchover", name)
			}
		}
		if strings.Contains(eventsOnly(rec), "pg_rewind") {
			t.Errorf("the old primary was rewound after a switchover:\n%s", eventsOnly(rec))
		}
		waitFor(t, tc.from+" streaming from "+tc.to, eventually, func() bool {
			s := nodeStatus(t, c, tc.from)
			return s.ReplicationState == ReplAsync || s.ReplicationState == ReplSync
		})
		acked := l.Stats().Acked
		waitFor(t, "writes flowing on "+tc.to, eventually, func() bool { return l.Stats().Acked >= acked+30 })
		err = tryExec(ctx, c.DirectURL(tc.from), "CREATE TABLE refused (id int)")
		if pgErr := (*pgconn.PgError)(nil); !errors.As(err, &pgErr) || pgErr.Code != "25006" {
			t.Errorf("a write directly on the old primary %s: %v, want read-only", tc.from, err)
		}
		if tc.region == west {
			// The primary's new region gets its Multi-AZ standby: the spare,
			// made from it, synchronous once it holds every commit.
			waitFor(t, nodeS+" the synchronous standby of "+nodeW, eventually, func() bool {
				return nodeStatus(t, c, nodeS).ReplicationState == ReplSync && c.SyncStandby()
			})
			if s := nodeStatus(t, c, nodeS); s.Role != RoleStandby || !s.Running {
				t.Fatalf("%s in %s's region: %+v, want its standby", nodeS, nodeW, s)
			}
		}
	}
	// Home again, the spare is retired: no server, no data.
	waitFor(t, nodeS+" retired", eventually, func() bool {
		s := nodeStatus(t, c, nodeS)
		return !s.Running && s.ReplicationState == ReplSpare && s.Role == RoleSpare
	})
	if _, err := os.Stat(c.byName[nodeS].layout.path(dataName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the retired spare's data is still there: %v", err)
	}
	waitFor(t, "the standby synchronous again", eventually, c.SyncStandby)
	if _, err := c.Switchover(ctx, east); err == nil || !strings.Contains(err.Error(), "already in region") {
		t.Errorf("a switchover to the primary's region: %v", err)
	}

	stopLoad()
	st := l.Stats()
	v, err := l.Verify(ctx, c.WriterURL(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ledger: %d acked, %d failed, %d unknown, longest gap %s; %d lost", st.Acked, st.Failed, st.Unknown, st.LongestGap.Round(time.Millisecond), v.Lost)
	if v.Lost != 0 || v.FailedPresent != 0 || v.Acked == 0 {
		t.Fatalf("ledger %+v, want no acknowledged write lost", v)
	}
	events := eventsOnly(rec)
	for _, line := range strings.Split(events, "\n") {
		if strings.Contains(line, "(+") {
			t.Log(line)
		}
	}
	for _, want := range []string{EventSwitchover + ": switching the primary over from " + nodeA + " to " + nodeW, EventWritesStopped, EventCaughtUp,
		EventSwitchoverDone + ": switchover from " + nodeW + " to " + nodeA} {
		if !strings.Contains(events, want) {
			t.Errorf("no event with %q in:\n%s", want, events)
		}
	}

	// A switchover whose target does not replay the old primary's last
	// WAL (its replay paused once it had everything else) is aborted:
	// the old primary starts again and takes the writes back.
	w := c.byName[nodeW]
	replay := func(fn string) error {
		conn, err := c.connect(ctx, w, 5*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "SELECT "+fn+"()")
		return err
	}
	var abortErr error
	for range 3 { // a stray WAL record may make it refuse instead
		waitFor(t, nodeW+" caught up", eventually, func() bool {
			s := nodeStatus(t, c, nodeW)
			return s.ReplicationState == ReplAsync && s.LagBytes == 0
		})
		if err := replay("pg_wal_replay_pause"); err != nil {
			t.Fatal(err)
		}
		_, abortErr = c.Switchover(ctx, west)
		if abortErr == nil || !strings.Contains(abortErr.Error(), "refusing") {
			break
		}
		if err := replay("pg_wal_replay_resume"); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("switchover to a replica that stopped replaying: %v", abortErr)
	if abortErr == nil || !strings.Contains(abortErr.Error(), "switchover to "+nodeW+" aborted, "+nodeA+" is the primary again") {
		t.Fatalf("a switchover whose target does not catch up: %v", abortErr)
	}
	if s := nodeStatus(t, c, nodeA); s.Role != RolePrimary || !s.Running {
		t.Fatalf("%s after the aborted switchover: %+v", nodeA, s)
	}
	if err := tryExec(ctx, c.WriterURL(west), "CREATE TABLE after_abort (id int)"); err != nil {
		t.Fatalf("a write after the aborted switchover: %v", err)
	}
	if s := nodeStatus(t, c, nodeW); s.Role != RoleReplica || !s.Running {
		t.Errorf("%s after the aborted switchover: %+v, want still a replica", nodeW, s)
	}
	if !strings.Contains(eventsOnly(rec), EventSwitchoverAborted) {
		t.Errorf("no %s event", EventSwitchoverAborted)
	}
}
