package mariadb

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/testenv"
)

// TestReplicationWithGTID: a primary, a semi-synchronous standby and an
// asynchronous replica; writes reach both, the followers refuse the
// application's writes, and the lag figures tell what is missing.
func TestReplicationWithGTID(t *testing.T) {
	primary := start(t, newConfig(t, 11, 11))
	standby := start(t, newConfig(t, 12, 12))
	replica := start(t, newConfig(t, 13, 13))
	makePrimary(t, primary)
	semiSyncWith(t, primary, standby)
	follow(t, replica, primary, false)

	app := login(t, primary)
	for i := range 50 {
		mustExec(t, app, "INSERT INTO t VALUES (?, 'x')", i)
	}
	ctx := ctxFor(t, 30*time.Second)
	for _, f := range []*Server{standby, replica} {
		waitCaughtUp(t, primary, f)
		if n := count(t, f, "SELECT COUNT(*) FROM appdb.t"); n != 50 {
			t.Errorf("%s has %d rows, want 50", f.cfg.Name, n)
		}
		if _, err := login(t, f).ExecContext(ctx, "INSERT INTO t VALUES (1000, 'x')"); mysqlErrNumber(err) != errReadOnly {
			t.Errorf("writing on follower %s: %v, want error %d", f.cfg.Name, err, errReadOnly)
		}
		p, err1 := primary.Position(ctx)
		st, err2 := f.ReplicaStatus(ctx)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !st.IORunning || !st.SQLRunning || !p.BinlogPos.equalDomains(st.IOPos) {
			t.Errorf("%s: %+v, primary at %s", f.cfg.Name, st, p.BinlogPos)
		}
		if b, tx, sec := Lag(p, st); b != 0 || tx != 0 || sec != 0 {
			t.Errorf("%s caught up, but lag is %d bytes, %d transactions, %g s", f.cfg.Name, b, tx, sec)
		}
	}
	if st, _ := standby.ReplicaStatus(ctx); !st.SemiSync {
		t.Error("the standby does not acknowledge")
	}
	if st, _ := replica.ReplicaStatus(ctx); st.SemiSync {
		t.Error("the asynchronous replica acknowledges")
	}

	// The replica stops applying: lag grows by what the primary writes.
	mustExec(t, replica.db, "STOP SLAVE SQL_THREAD")
	for i := 50; i < 60; i++ {
		mustExec(t, app, "INSERT INTO t VALUES (?, 'some longer value')", i)
	}
	var p Position
	var st ReplicaStatus
	testenv.WaitFor(t, "the replica receiving", 10*time.Second, func() bool {
		var err1, err2 error
		p, err1 = primary.Position(ctx)
		st, err2 = replica.ReplicaStatus(ctx)
		return err1 == nil && err2 == nil && Behind(p.BinlogPos, st.IOPos) == 0
	})
	bytes, tx, sec := Lag(p, st)
	t.Logf("replica not applying: lag %d bytes, %d transactions, %g s", bytes, tx, sec)
	if tx != 10 || bytes <= 0 || bytes != p.Offset-st.ExecMasterLogPos {
		t.Errorf("lag %d bytes, %d transactions; want 10 transactions and %d bytes", bytes, tx, p.Offset-st.ExecMasterLogPos)
	}
	mustExec(t, replica.db, "START SLAVE SQL_THREAD")
	waitCaughtUp(t, primary, replica)
}

// equalDomains reports whether two positions are as far in every domain.
func (s GTIDSet) equalDomains(o GTIDSet) bool { return Behind(s, o) == 0 && Behind(o, s) == 0 }

// TestSemiSyncWaitsForStandby: while the standby is healthy every commit
// returns only once the standby has it; with the standby frozen a commit
// waits, until the control plane declares the standby gone.
func TestSemiSyncWaitsForStandby(t *testing.T) {
	primary := start(t, newConfig(t, 21, 21))
	standby := start(t, newConfig(t, 22, 22))
	makePrimary(t, primary)
	semiSyncWith(t, primary, standby)
	ctx := ctxFor(t, 60*time.Second)
	app := login(t, primary)

	before, err := primary.SemiSyncStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const commits = 30
	for i := range commits {
		mustExec(t, app, "INSERT INTO t VALUES (?, 'x')", i)
		// No waiting: the standby must hold the commit already.
		p, err1 := primary.Position(ctx)
		st, err2 := standby.ReplicaStatus(ctx)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if n := Behind(p.BinlogPos, st.IOPos); n != 0 {
			t.Fatalf("commit %d returned while the standby lacked %d transactions (primary %s, standby received %s)", i, n, p.BinlogPos, st.IOPos)
		}
	}
	after, err := primary.SemiSyncStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Enabled || !after.Active || after.Clients != 1 || after.YesTx-before.YesTx != commits || after.NoTx != before.NoTx {
		t.Errorf("after %d commits with a healthy standby: %+v (before %+v)", commits, after, before)
	}

	// The standby freezes: a commit waits for it.
	if err := syscall.Kill(standby.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(standby.Pid(), syscall.SIGCONT) })
	committed := make(chan error, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		_, err := app.ExecContext(context.Background(), "INSERT INTO t VALUES (1000, 'waits')")
		committed <- err
	})
	const hold = time.Second
	select {
	case err := <-committed:
		t.Fatalf("a commit returned (%v) with the standby frozen; it must wait", err)
	case <-time.After(hold):
	}
	// The control plane declares the standby gone.
	released := time.Now()
	if err := primary.SetSemiSync(ctx, false); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-committed:
		if err != nil {
			t.Fatalf("the waiting commit failed: %v", err)
		}
		t.Logf("commit waited %s with the standby frozen, returned %s after the wait was turned off",
			hold, time.Since(released).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		syscall.Kill(standby.Pid(), syscall.SIGCONT)
		t.Fatal("the waiting commit did not return once the wait was turned off")
	}
	start := time.Now()
	mustExec(t, app, "INSERT INTO t VALUES (1001, 'no wait')")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a commit with the wait off took %s", d)
	}
	st, err := primary.SemiSyncStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Enabled || st.NoTx <= after.NoTx {
		t.Errorf("after the standby was declared gone: %+v", st)
	}

	// The standby thaws and catches up; the wait goes back on.
	syscall.Kill(standby.Pid(), syscall.SIGCONT)
	waitCaughtUp(t, primary, standby)
	if err := primary.SetSemiSync(ctx, true); err != nil {
		t.Fatal(err)
	}
	waitSemiSyncClients(t, primary, 1)
	mustExec(t, app, "INSERT INTO t VALUES (1002, 'waits again')")
	if st, err := primary.SemiSyncStatus(ctx); err != nil || !st.Active {
		t.Errorf("semi-sync back on: %+v, %v", st, err)
	}
}

// TestPromoteAfterKillLosesNothing: the primary is killed with SIGKILL
// under a write loop; the semi-synchronous standby, promoted, holds every
// write the primary acknowledged.
func TestPromoteAfterKillLosesNothing(t *testing.T) {
	primary := start(t, newConfig(t, 31, 31))
	standby := start(t, newConfig(t, 32, 32))
	makePrimary(t, primary)
	semiSyncWith(t, primary, standby)
	app := login(t, primary)
	app.SetMaxOpenConns(4)

	var mu sync.Mutex
	var acked []int
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := w; ; i += 4 {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := app.ExecContext(ctx, "INSERT INTO t VALUES (?, 'x')", i)
				cancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, i)
					mu.Unlock()
				}
			}
		})
	}
	testenv.WaitFor(t, "200 acknowledged writes", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 200
	})
	primary.Kill()
	killed := time.Now()
	promoted, err := standby.Promote(ctxFor(t, 30*time.Second))
	took := time.Since(killed)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	missing := 0
	for _, id := range acked {
		if count(t, standby, fmt.Sprintf("SELECT COUNT(*) FROM appdb.t WHERE id = %d", id)) != 1 {
			missing++
		}
	}
	t.Logf("%d writes acknowledged, %d missing on the promoted standby; promoted at %s %s after the kill",
		len(acked), missing, promoted, took.Round(time.Millisecond))
	if missing > 0 {
		t.Errorf("%d acknowledged writes lost", missing)
	}
	mustExec(t, login(t, standby), "INSERT INTO t VALUES (-1, 'after promotion')")
	if st, err := standby.ReplicaStatus(ctxFor(t, 10*time.Second)); err != nil || st.Configured {
		t.Errorf("the promoted standby still follows: %+v, %v", st, err)
	}
}

// TestFence: a fenced server refuses the application's writes and ends
// every session, an open transaction and a commit waiting for a frozen
// standby included; the standby's stream is left alone.
func TestFence(t *testing.T) {
	primary := start(t, newConfig(t, 41, 41))
	standby := start(t, newConfig(t, 42, 42))
	makePrimary(t, primary)
	semiSyncWith(t, primary, standby)
	ctx := ctxFor(t, 30*time.Second)
	app := login(t, primary)

	inTx, err := app.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer inTx.Close()
	idle, err := app.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	mustExec(t, inTx, "BEGIN")
	mustExec(t, inTx, "INSERT INTO t VALUES (1, 'uncommitted')")
	mustExec(t, idle, "SELECT 1")

	// A commit waits for the frozen standby when the fence comes.
	if err := syscall.Kill(standby.Pid(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(standby.Pid(), syscall.SIGCONT) })
	waiting := make(chan error, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		_, err := app.ExecContext(context.Background(), "INSERT INTO t VALUES (2, 'waiting')")
		waiting <- err
	})
	testenv.WaitFor(t, "a commit waiting for the standby", 10*time.Second, func() bool {
		return count(t, primary, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'RPL_SEMI_SYNC_MASTER_WAIT_SESSIONS'") == 1
	})

	fenceStart := time.Now()
	if err := primary.Fence(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("fenced in %s with a commit waiting for a frozen standby", time.Since(fenceStart).Round(time.Millisecond))
	select {
	case err := <-waiting:
		if err == nil {
			t.Error("the commit waiting for the standby was acknowledged after the fence")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the commit waiting for the standby is still waiting after the fence")
	}
	if _, err := inTx.ExecContext(ctx, "COMMIT"); err == nil {
		t.Error("a transaction begun before the fence committed")
	}
	if _, err := idle.ExecContext(ctx, "SELECT 1"); err == nil {
		t.Error("a session from before the fence lives on")
	}
	if _, err := app.ExecContext(ctx, "INSERT INTO t VALUES (3, 'after')"); mysqlErrNumber(err) != errReadOnly {
		t.Errorf("writing after the fence: %v, want error %d", err, errReadOnly)
	}
	if n := count(t, primary, "SELECT COUNT(*) FROM appdb.t WHERE id IN (1, 3)"); n != 0 {
		t.Errorf("%d rows written on the fenced server", n)
	}
	// The killed commit was in the binary log already (AFTER_SYNC), so the
	// server keeps it, unacknowledged, like any crash at that point.
	t.Logf("the killed commit's row is kept on the fenced server: %v", count(t, primary, "SELECT COUNT(*) FROM appdb.t WHERE id = 2") == 1)
	if n := count(t, primary, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump'"); n != 1 {
		t.Errorf("%d streams to followers after the fence, want the standby's", n)
	}

	// A renewed lease lets it take writes again, and a lost one fences it.
	if err := primary.SetSemiSync(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := primary.SetReadOnly(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := app.ExecContext(ctx, "INSERT INTO t VALUES (4, 'writable again')"); err != nil {
		t.Errorf("writing once read-only is lifted: %v", err)
	}
	if err := primary.SetReadOnly(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := app.ExecContext(ctx, "INSERT INTO t VALUES (5, 'fenced again')"); mysqlErrNumber(err) != errReadOnly {
		t.Errorf("writing after the second fence: %v, want error %d", err, errReadOnly)
	}
}

// TestAdminFromAnAddress: a session dialled from an address leaves from
// it, and can shut the server down over the network once its follower
// has everything.
func TestAdminFromAnAddress(t *testing.T) {
	primary, replica := start(t, newConfig(t, 61, 61)), start(t, newConfig(t, 62, 62))
	makePrimary(t, primary)
	follow(t, replica, primary, false)
	ctx := ctxFor(t, 30*time.Second)
	from := netip.MustParseAddr("127.0.70.99")
	admin := Dial("db61 from elsewhere", from, primary.cfg.Addr, primary.cfg.Accounts)
	defer admin.Disconnect()
	var host string
	if err := admin.db.QueryRowContext(ctx, "SELECT SUBSTRING_INDEX(HOST, ':', 1) FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()").Scan(&host); err != nil {
		t.Fatal(err)
	}
	if host != from.String() {
		t.Fatalf("the session comes from %s, want %s", host, from)
	}

	app := login(t, primary)
	for i := range 50 {
		mustExec(t, app, "INSERT INTO t VALUES (?, 'before the shutdown')", i)
	}
	if err := admin.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-primary.Done():
	case <-ctx.Done():
		t.Fatal("the server still runs after Shutdown")
	}
	// It had received them all; applying them takes a moment more.
	testenv.WaitFor(t, "the follower applying the 50 rows written before the shutdown", 10*time.Second, func() bool {
		return count(t, replica, "SELECT COUNT(*) FROM appdb.t") == 50
	})
}

// TestRejoin: an old primary that wrote a transaction the new primary
// never got has diverged and is re-cloned, then follows; one that did not
// just follows.
func TestRejoin(t *testing.T) {
	aCfg, bCfg := newConfig(t, 51, 51), newConfig(t, 52, 52)
	a, b := start(t, aCfg), start(t, bCfg)
	makePrimary(t, a)
	follow(t, b, a, false)
	appA := login(t, a)
	for i := range 20 {
		mustExec(t, appA, "INSERT INTO t VALUES (?, 'shared')", i)
	}
	waitCaughtUp(t, a, b)
	ctx := ctxFor(t, 60*time.Second)

	// a writes one more that b never receives, and dies; b is promoted.
	mustExec(t, b.db, "STOP SLAVE IO_THREAD")
	mustExec(t, appA, "INSERT INTO t VALUES (100, 'only on the old primary')")
	a.Kill()
	if _, err := b.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	appB := login(t, b)
	for i := 20; i < 30; i++ {
		mustExec(t, appB, "INSERT INTO t VALUES (?, 'new primary')", i)
	}

	a = start(t, aCfg)
	posA, err1 := a.Position(ctx)
	posB, err2 := b.Position(ctx)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !Diverged(posA.BinlogState, posB.BinlogState) {
		t.Fatalf("old primary %s, new primary %s: not diverged", posA.BinlogState, posB.BinlogState)
	}
	// Told to follow all the same, it reports that it cannot.
	follow(t, a, b, false)
	var why string
	testenv.WaitFor(t, "the diverged old primary reporting that it cannot follow", 20*time.Second, func() bool {
		st, err := a.ReplicaStatus(ctx)
		why = CannotFollow(st)
		return err == nil && why != ""
	})
	if !strings.Contains(why, "diverged") {
		t.Errorf("a diverged follower cannot follow because %q, want its history diverged", why)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	cloneStart := time.Now()
	pos, err := Clone(ctx, b, aCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("diverged at %s against %s; cloned at %s in %s", posA.BinlogState, posB.BinlogState, pos, time.Since(cloneStart).Round(time.Millisecond))
	mustExec(t, appB, "INSERT INTO t VALUES (30, 'after the clone')")
	a = start(t, aCfg)
	if err := a.SetReplicaPosition(ctx, pos); err != nil {
		t.Fatal(err)
	}
	follow(t, a, b, true)
	waitCaughtUp(t, b, a)
	if n := count(t, a, "SELECT COUNT(*) FROM appdb.t"); n != 31 {
		t.Errorf("re-cloned old primary has %d rows, want 31", n)
	}
	if n := count(t, a, "SELECT COUNT(*) FROM appdb.t WHERE id = 100"); n != 0 {
		t.Error("the old primary kept its own transaction")
	}
	for _, leftover := range []string{aCfg.DataDir + ".clone", aCfg.DataDir + ".old"} {
		if _, err := os.Stat(leftover); err == nil {
			t.Errorf("%s left behind", leftover)
		}
	}

	// b stops cleanly with a caught up; a is promoted; b comes back
	// without divergence and only follows.
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Promote(ctx); err != nil {
		t.Fatal(err)
	}
	appA = login(t, a)
	mustExec(t, appA, "INSERT INTO t VALUES (40, 'a again')")
	b = start(t, bCfg)
	posA, err1 = a.Position(ctx)
	posB, err2 = b.Position(ctx)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if Diverged(posB.BinlogState, posA.BinlogState) {
		t.Fatalf("old primary %s, new primary %s: diverged", posB.BinlogState, posA.BinlogState)
	}
	follow(t, b, a, true)
	waitCaughtUp(t, a, b)
	if n := count(t, b, "SELECT COUNT(*) FROM appdb.t"); n != 32 {
		t.Errorf("rejoined old primary has %d rows, want 32", n)
	}
}
