package rds

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/hastack/hastack/internal/mariadb"
)

// engine is what the agent does that depends on the database engine:
// on a node's own files and process (making its data, starting its
// server in its role), and over the network (reaching a server from an
// address, and the admin sessions through which it is observed,
// promoted, fenced and stopped). The decider never sees it; it gets
// observations and positions. pgEngine is PostgreSQL's, mariaEngine
// MariaDB's.
type engine interface {
	// prepare readies n's files for plan: a new primary's data made when
	// plan allows it, a follower's copied or rewound, its settings.
	prepare(ctx context.Context, c *Cluster, n *node, plan startPlan) error
	// launch starts n's server on its prepared data; onExit is called
	// when it later stops on its own, once watched.
	launch(ctx context.Context, c *Cluster, n *node, onExit func(error)) (*postmaster, error)
	// ready waits until the launched server serves in its role: a
	// primary takes writes, its accounts in place; a follower follows.
	ready(ctx context.Context, c *Cluster, n *node, plan startPlan) error
	// primaryReady makes a primary that serves hold what its followers
	// need (PostgreSQL's replication slots).
	primaryReady(ctx context.Context, c *Cluster, prim *node, st State) error
	// configure gives the running n the settings sc (its role's), without
	// a restart.
	configure(ctx context.Context, c *Cluster, n *node, sc serverConf) error
	// copyFrom gives the stopped follower n a new copy of primary's data
	// in place of its own, kept until the copy is complete (fresh: no
	// attempt to reuse what it holds). It returns what it did, for the
	// event.
	copyFrom(ctx context.Context, c *Cluster, n, primary *node, fresh bool) (how string, err error)
	// clientURL is the URL an application logs in with at ap.
	clientURL(ap netip.AddrPort, user, password, database string) string

	// handshake sends ap, from the address from, the first packet of a
	// session and waits for the server's answer, within ctx. A server cut
	// off does not complete the TCP handshake; one that hangs completes
	// it in the kernel but does not answer.
	handshake(ctx context.Context, from netip.Addr, ap netip.AddrPort) error
	// dial opens an admin session on n from the address from, its set-up
	// bounded by timeout.
	dial(ctx context.Context, from netip.Addr, n *node, timeout time.Duration) (session, error)
}

// session is an admin session with one server, from the address it was
// dialled from. Every call is bounded by its ctx.
type session interface {
	// ping runs a trivial query.
	ping(ctx context.Context) error
	close(ctx context.Context)
	closed() bool
	// observe reads the server's role (InRecovery), position, timeline
	// (0 where the engine has none), whether its replication settings
	// drifted from want, and on a primary the followers it serves, by
	// the name each follower gives itself (see Cluster.nodeOfSlot) — or,
	// where the engine's primary cannot list them with their positions,
	// on each follower its own report of its stream (upstream).
	observe(ctx context.Context, want serverConf) (seen engineObs, err error)
	// written is how far a primary has written.
	written(ctx context.Context) (Position, error)
	// replayed is how far a follower has applied what it received, and
	// the age in seconds of the newest transaction it applied.
	replayed(ctx context.Context) (pos Position, ageSeconds float64, err error)
	// promote ends following, applying everything received, and waits
	// until the server takes writes; it returns its new timeline (0 where
	// the engine has none). On a primary it only reads the timeline.
	promote(ctx context.Context) (timeline int, err error)
	// setReadOnly makes the server refuse writes and ends its client
	// sessions but hastack's, or lets it take writes again.
	setReadOnly(ctx context.Context, on bool) error
	// checkpoint does ahead of a planned stop what the stop would
	// otherwise do, so that writes stop for less time.
	checkpoint(ctx context.Context) error
	// shutdown asks the server to stop at once (its clients cut off,
	// what it wrote sent to its followers); the server ends the session.
	shutdown(ctx context.Context)
}

// engineObs is what a session observed: the node as the decider sees
// it, and a follower's own report of its stream where the engine needs
// one (nil otherwise).
type engineObs struct {
	nodeObs
	upstream *replicaObs
	// cannotFollow is why a follower reported that it cannot catch up
	// with its primary by replicating, where its status says so.
	cannotFollow string
	// binlog is where a MariaDB primary's binary log stands; lag, on a
	// follower that reports its own stream, measures it against that.
	binlog *mariadb.Position
	lag    func(primary *mariadb.Position) (bytes, transactions int64)
}

// withFollowerReports gives a primary that does not list its followers
// (Replicas nil) the reports of those that stream from it: the followers
// whose relay leads to it. The decider then sees the same either way.
func withFollowerReports(obs observation, primary string, reports map[string]replicaObs, leadsTo func(follower, primary string) bool) observation {
	prim, ok := obs.Nodes[primary]
	if !ok || !prim.writable() || prim.Replicas != nil || len(reports) == 0 {
		return obs
	}
	prim.Replicas = map[string]replicaObs{}
	for name, r := range reports {
		if name != primary && leadsTo(name, primary) {
			prim.Replicas[name] = r
		}
	}
	obs.Nodes[primary] = prim
	return obs
}

// lateReadGrace is how long readAnswer waits once more after the
// deadline passed.
const lateReadGrace = 10 * time.Millisecond

// readAnswer fills buf from conn before its deadline. An answer that
// arrived in time but waited in the socket while this process was not
// scheduled (a loaded machine: the deadline's timer and the data then
// wake it together) still counts: after a timeout, what is there is read
// with a fresh, short deadline. A server that did not answer stays
// unanswered.
func readAnswer(conn net.Conn, buf []byte) error {
	n, err := io.ReadFull(conn, buf)
	if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	if conn.SetReadDeadline(time.Now().Add(lateReadGrace)) != nil {
		return err
	}
	if _, late := io.ReadFull(conn, buf[n:]); late != nil {
		return err
	}
	return nil
}

// dialUntil connects to ap from the address from, for a handshake that
// must be over by ctx's deadline.
func dialUntil(ctx context.Context, from netip.Addr, ap netip.AddrPort) (net.Conn, error) {
	conn, err := dialerFrom(from).DialContext(ctx, "tcp", ap.String())
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	return conn, nil
}
