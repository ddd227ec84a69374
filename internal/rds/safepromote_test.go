package rds

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLagVerdict(t *testing.T) {
	p := Promotion{Region: west, Node: nodeW, OldPrimary: nodeA}
	behind := Lag{Bytes: 81920, Seconds: 2.5}
	for _, tt := range []struct {
		name              string
		reached, caughtUp bool
		ask               promoteAsk
		ok                bool
		want              string
	}{
		{"caught up", true, true, promoteAsk{}, true, "db-us-west-2a had replayed everything primary db-us-east-1a wrote: 0 bytes behind, nothing lost"},
		{"caught up, forced", true, true, promoteAsk{force: true}, true, "0 bytes behind, nothing lost"},
		{"behind", true, false, promoteAsk{}, false, "refusing to promote db-us-west-2a in us-west-2: it is 81920 bytes and up to 2.50 s of commits behind primary db-us-east-1a, which still answers, and did not catch up within 1s"},
		{"behind, forced", true, false, promoteAsk{force: true}, true, "promoting db-us-west-2a with force while 81920 bytes behind primary db-us-east-1a, which still answers: up to 2.50 s of commits that it had not replayed may be lost"},
		{"old primary cut off", false, false, promoteAsk{}, true, "the lag of db-us-west-2a cannot be measured: primary db-us-east-1a does not answer from us-west-2 (no answer within 500ms)"},
		{"old primary cut off, forced", false, false, promoteAsk{force: true}, true, "cannot be measured"},
		// An automatic region failover rests on a primary that does not
		// answer from the replica's region: one that answers again (a
		// stall ended) keeps its place, caught up or not.
		{"automatic, old primary cut off", false, false, promoteAsk{automatic: true}, true, "cannot be measured"},
		{"automatic, old primary answers", true, true, promoteAsk{automatic: true}, false, "automatic region failover to db-us-west-2a called off: primary db-us-east-1a answers from us-west-2 again; nothing was done"},
		{"automatic, old primary answers, behind", true, false, promoteAsk{automatic: true}, false, "called off"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ok, msg := lagVerdict(p, tt.reached, tt.caughtUp, tt.ask, behind, "no answer within 500ms")
			if ok != tt.ok || !strings.Contains(msg, tt.want) {
				t.Fatalf("lagVerdict = %v, %q; want %v with %q", ok, msg, tt.ok, tt.want)
			}
		})
	}
}

// TestHandshake: a server whose postmaster hangs (the kernel completes
// the TCP handshake, nobody answers) and one that is down are told
// apart from one that answers, without PostgreSQL.
func TestHandshake(t *testing.T) {
	listen := func(t *testing.T, serve func(net.Conn)) netip.AddrPort {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		if serve != nil {
			go func() {
				for {
					conn, err := ln.Accept()
					if err != nil {
						return
					}
					serve(conn)
				}
			}()
		}
		return netip.MustParseAddrPort(ln.Addr().String())
	}
	answers := func(with string) func(net.Conn) {
		return func(conn net.Conn) {
			defer conn.Close()
			var req [8]byte
			if _, err := io.ReadFull(conn, req[:]); err == nil {
				conn.Write([]byte(with))
			}
		}
	}
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := netip.MustParseAddrPort(gone.Addr().String())
	gone.Close()
	for _, tt := range []struct {
		name string
		addr netip.AddrPort
		want string
	}{
		{"answers", listen(t, answers("N")), ""},
		{"answers, with SSL", listen(t, answers("S")), ""},
		{"answers what PostgreSQL does not", listen(t, answers("E")), `answered an SSL request with 'E'`},
		{"hung: never accepted", listen(t, nil), "no answer within 200ms"},
		{"hung: accepted, silent", listen(t, func(conn net.Conn) { t.Cleanup(func() { conn.Close() }) }), "no answer within 200ms"},
		{"down", down, "connection refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &Cluster{probe: 200 * time.Millisecond, eng: pgEngine{}}
			n := &node{cfg: NodeConfig{Name: "db", Addr: tt.addr.Addr()}, port: int(tt.addr.Port())}
			err := c.handshake(t.Context(), netip.MustParseAddr("127.0.0.1"), n, c.probe)
			if got := ""; err != nil {
				got = noAnswer(err)
				if tt.want == "" || got != tt.want {
					t.Fatalf("handshake: %v (%q), want %q", err, got, tt.want)
				}
			} else if tt.want != "" {
				t.Fatalf("handshake answered, want %q", tt.want)
			}
		})
	}
}

// TestPromoteChecks: a promotion, or a switchover, is refused while the
// target does not answer (its postmaster hung) and while it is behind a
// primary that still answers, and the primary keeps taking writes
// meanwhile; with force a lagging target is promoted, and the lag is
// reported.
func TestPromoteChecks(t *testing.T) {
	requirePostgres(t)
	rec := newRecorder()
	c := newCluster(t, haConfig(seededDir(t, tmplReplica), 97, false, rec))
	ctx := startCtx(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	l, stopLoad := writeLoad(t, ctx, c.WriterURL(""), 50)
	waitFor(t, "writes flowing", eventually, func() bool { return l.Stats().Acked >= 20 })
	keepsWriting := func(what string) {
		t.Helper()
		if s := nodeStatus(t, c, nodeA); s.Role != RolePrimary || !s.Running || s.Fenced {
			t.Fatalf("primary after %s: %+v", what, s)
		}
		if st := c.snapshot(); st.Primary != nodeA || st.Epoch != 0 {
			t.Fatalf("state after %s: primary %s, epoch %d", what, st.Primary, st.Epoch)
		}
		acked := l.Stats().Acked
		waitFor(t, "the primary taking writes after "+what, eventually, func() bool { return l.Stats().Acked >= acked+10 })
	}

	// A frozen target: the kernel completes the handshake, nobody answers.
	pid := c.byName[nodeW].proc.Load().pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	begin := time.Now()
	_, err := c.PromoteRegion(ctx, west, true)
	t.Logf("promoting a frozen replica: refused after %s: %v", since(begin), err)
	if err == nil || !strings.HasPrefix(err.Error(), "refusing to promote "+nodeW+" in "+west+": it does not answer a new session from "+west) ||
		!strings.Contains(err.Error(), "nothing was done to primary "+nodeA) {
		t.Fatalf("promoting a frozen replica: %v", err)
	}
	keepsWriting("a refused promotion")
	if _, err := c.Switchover(ctx, west); err == nil || !strings.Contains(err.Error(), "it does not answer a new session") {
		t.Fatalf("a switchover to a frozen replica: %v", err)
	}
	keepsWriting("a refused switchover")
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}

	// A lagging target: its replay is paused while the writes go on.
	w := c.byName[nodeW]
	waitFor(t, "the replica streaming", eventually, func() bool { return nodeStatus(t, c, nodeW).ReplicationState == ReplAsync })
	conn, err := c.connect(ctx, w, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_wal_replay_pause()"); err != nil {
		t.Fatal(err)
	}
	keepsWriting("pausing the replica")
	p, err := c.PromoteRegion(ctx, west, false)
	t.Logf("promoting a lagging replica: %+v, %v", p.Lag, err)
	if err == nil || !strings.Contains(err.Error(), "bytes and up to") || p.Lag == nil || p.Lag.Bytes <= 0 || p.Lag.Seconds <= 0 {
		t.Fatalf("promoting a lagging replica: %+v, %v", p, err)
	}
	keepsWriting("a refused promotion")
	if _, err := c.Switchover(ctx, west); err == nil || !strings.Contains(err.Error(), "bytes and up to") {
		t.Fatalf("a switchover to a lagging replica: %v", err)
	}
	keepsWriting("a refused switchover")
	p, err = c.PromoteRegion(ctx, west, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("forced: %+v, lag %+v", p, *p.Lag)
	if !p.Forced || p.Lag == nil || p.Lag.Bytes <= 0 || !p.OldPrimaryStopped || p.Node != nodeW || p.OldPrimary != nodeA {
		t.Fatalf("forced promotion %+v", p)
	}
	if s := nodeStatus(t, c, nodeW); s.Role != RolePrimary {
		t.Fatalf("%s after the forced promotion: %+v", nodeW, s)
	}
	stopLoad()
	v, err := l.Verify(ctx, c.WriterURL(""))
	if err != nil {
		t.Fatal(err)
	}
	// The replica had received what it had not replayed; it replays that
	// before it ends recovery, so the loss reported is an upper bound.
	t.Logf("ledger after the forced promotion: %d acked, %d lost", v.Acked, v.Lost)
	events := eventsOnly(rec)
	for _, want := range []string{EventPromoteRefused + ": refusing to promote " + nodeW, EventPromoteLag + ": promoting " + nodeW + " with force while"} {
		if !strings.Contains(events, want) {
			t.Errorf("no event with %q in:\n%s", want, events)
		}
	}
}
