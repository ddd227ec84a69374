package rds

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/ledger"
)

// systemID reads the node's PostgreSQL system identifier, which a base
// backup keeps and a new initdb changes.
func systemID(t *testing.T, ctx context.Context, c *Cluster, name string) string {
	t.Helper()
	conn, err := c.connect(ctx, c.byName[name], 5*time.Second)
	if err != nil {
		t.Fatalf("connecting to %s: %v", name, err)
	}
	defer conn.Close(ctx)
	var id string
	if err := conn.QueryRow(ctx, "SELECT system_identifier::text FROM pg_control_system()").Scan(&id); err != nil {
		t.Fatalf("reading the system identifier of %s: %v", name, err)
	}
	return id
}

// dropReplication ends the primary's WAL sender sessions.
func dropReplication(t *testing.T, ctx context.Context, c *Cluster, primary string) {
	t.Helper()
	conn, err := c.connect(ctx, c.byName[primary], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_replication").Scan(&n); err != nil || n == 0 {
		t.Fatalf("ending the WAL senders on %s: %d ended, %v", primary, n, err)
	}
}

func streaming(s NodeStatus) bool {
	return s.ReplicationState == ReplSync || s.ReplicationState == ReplAsync
}

// replicationClients returns the address each follower's replication
// comes from, as the primary sees it, by application_name.
func replicationClients(t *testing.T, ctx context.Context, c *Cluster, primary string) map[string]string {
	t.Helper()
	conn, err := c.connect(ctx, c.byName[primary], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT application_name, host(client_addr) FROM pg_stat_replication")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for rows.Next() {
		var app, addr string
		if err := rows.Scan(&app, &addr); err != nil {
			t.Fatal(err)
		}
		out[app] = addr
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Replication leaves from each follower's own address, so a network cut
// between the followers' addresses and the primary's, under writes,
// stops it; a 3 s cut costs no follower its data: both keep their
// server and their copy, and stream again soon after the cut ends.
func TestFollowersSurviveNetworkCut(t *testing.T) {
	requirePostgres(t)
	requireNetAdmin(t)
	rec := newRecorder()
	c := newCluster(t, haConfig(seededDir(t, tmplHA), 86, true, rec))
	ctx := startCtx(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both followers streaming", eventually, func() bool {
		return streaming(nodeStatus(t, c, nodeB)) && streaming(nodeStatus(t, c, nodeW))
	})
	clients := replicationClients(t, ctx, c, nodeA)
	for _, name := range []string{nodeB, nodeW} {
		if want := c.byName[name].cfg.Addr.String(); clients[slotName(name)] != want {
			t.Errorf("the primary sees the replication of %s come from %q, want its own address %s (all: %v)", name, clients[slotName(name)], want, clients)
		}
	}
	ids := map[string]string{}
	for _, name := range []string{nodeA, nodeB, nodeW} {
		ids[name] = systemID(t, ctx, c, name)
	}
	pids := postmasters(c)

	l, err := ledger.New(ledger.Config{URL: c.WriterURL(""), Rate: 50, Writers: 2, Duration: 6 * time.Second, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	waitFor(t, "the first acknowledged writes", eventually, func() bool { return l.Stats().Acked >= 10 })

	before := len(strings.Split(eventsOnly(rec), "\n"))
	cut := cutBetween(t, hosts(c.byName[nodeB].cfg.Addr, c.byName[nodeW].cfg.Addr), hosts(c.byName[nodeA].cfg.Addr))
	cutAt := time.Now()
	// A long partition ends the followers' sessions (their timeouts); end
	// them now, so that the followers must reconnect through the cut.
	dropReplication(t, ctx, c, nodeA)
	waitFor(t, "both followers cut off", 4*time.Second, func() bool {
		return !streaming(nodeStatus(t, c, nodeB)) && !streaming(nodeStatus(t, c, nodeW))
	})
	// Every status seen during the cut: the followers keep running.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		if time.Since(cutAt) >= 3*time.Second {
			break
		}
		for _, name := range []string{nodeB, nodeW} {
			if s := nodeStatus(t, c, name); !s.Running || s.ReplicationState == ReplRebuilding {
				t.Errorf("%s during the cut: %+v", name, s)
			}
		}
	}
	cut.Restore()
	ended := time.Now()
	waitFor(t, "both followers streaming again", 10*time.Second, func() bool {
		return streaming(nodeStatus(t, c, nodeB)) && streaming(nodeStatus(t, c, nodeW))
	})
	t.Logf("followers streaming again %s after the cut ended", since(ended))
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	for name, pid := range postmasters(c) {
		if pids[name] != pid {
			t.Errorf("%s runs as pid %d, was %d before the cut: it was restarted", name, pid, pids[name])
		}
	}
	for _, name := range []string{nodeA, nodeB, nodeW} {
		if id := systemID(t, ctx, c, name); id != ids[name] {
			t.Errorf("%s has system identifier %s, was %s: its data was replaced", name, id, ids[name])
		}
	}
	st := l.Stats()
	t.Logf("writes: %+v", st)
	for _, name := range []string{nodeA, nodeB, nodeW} {
		url := c.DirectURL(name)
		waitFor(t, "every acknowledged write on "+name, eventually, func() bool {
			rep, err := l.Verify(ctx, url)
			return err == nil && rep.Lost == 0 && rep.Acked == st.Acked
		})
	}
	after := strings.Join(strings.Split(eventsOnly(rec), "\n")[before:], "\n")
	for _, bad := range []string{EventNodeRebuilding, EventNodeRebuilt, EventNodeStopped, EventNodeExited} {
		if strings.Contains(after, bad) {
			t.Errorf("%s during or after the cut; events since it began:\n%s", bad, after)
		}
	}
	t.Logf("events since the cut began:\n%s", after)
}

// A cut longer than replicationUserTimeout, under writes, ends the
// replication session at both ends well before wal_sender_timeout (10 s):
// the WAL sender's unacknowledged data ends it on the primary and the
// relay's on the follower. Once the cut heals the follower dials again
// and streams within seconds, rather than when TCP's backed-off
// retransmission of the old session comes round.
func TestLongCutEndsTheReplicationSession(t *testing.T) {
	requirePostgres(t)
	requireNetAdmin(t)
	c := newCluster(t, haConfig(seededDir(t, tmplHA), 76, false, nil))
	ctx := startCtx(t)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the replica streaming", eventually, func() bool { return streaming(nodeStatus(t, c, nodeW)) })
	id := systemID(t, ctx, c, nodeW)

	l, err := ledger.New(ledger.Config{URL: c.WriterURL(""), Rate: 50, Writers: 2, Duration: 15 * time.Second, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	waitFor(t, "the first acknowledged writes", eventually, func() bool { return l.Stats().Acked >= 10 })

	cut := cutBetween(t, hosts(c.byName[nodeW].cfg.Addr), hosts(c.byName[nodeA].cfg.Addr))
	cutAt := time.Now()
	within := replicationUserTimeout + 3*time.Second // wal_sender_timeout is 10 s
	waitFor(t, "the primary's WAL sender to the replica gone", within, func() bool {
		_, ok := replicationClients(t, ctx, c, nodeA)[slotName(nodeW)]
		return !ok
	})
	senderGone := since(cutAt)
	waitFor(t, "the replica's session ended", within-time.Since(cutAt), func() bool { return !streaming(nodeStatus(t, c, nodeW)) })
	t.Logf("WAL sender gone %s after the cut began, the replica's session %s", senderGone, since(cutAt))

	const hold = 6 * time.Second
	select {
	case <-time.After(time.Until(cutAt.Add(hold))):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	cut.Restore()
	healed := time.Now()
	waitFor(t, "the replica streaming again", 6*time.Second, func() bool { return streaming(nodeStatus(t, c, nodeW)) })
	t.Logf("the replica streams again %s after a %s cut healed", since(healed), hold)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := systemID(t, ctx, c, nodeW); got != id {
		t.Errorf("the replica's system identifier is %s, was %s: it was rebuilt", got, id)
	}
	st := l.Stats()
	waitFor(t, "every acknowledged write on the replica", eventually, func() bool {
		rep, err := l.Verify(ctx, c.DirectURL(nodeW))
		return err == nil && rep.Lost == 0 && rep.Acked == st.Acked
	})
}
