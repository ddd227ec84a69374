package rds

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/hastack/hastack/internal/mariadb"
)

// mariaEngine is the engine for MariaDB (a stack's engine "mysql"):
// sessions are internal/mariadb's admin sessions, and a server is
// reached when it greets a new connection.
type mariaEngine struct {
	accounts mariadb.Accounts
	binaries mariadb.Binaries

	mu      sync.Mutex
	servers map[string]*mariadb.Server // the latest of each node, by name
	// copiedAt is, by node, the position of a copy just made, where it
	// starts following.
	copiedAt map[string]mariadb.GTIDSet
}

// mariaProtocol is the protocol version byte that opens MariaDB's (and
// MySQL's) greeting; an error packet (0xff) opens a refusal instead.
const mariaProtocol = 10

// handshake reads the greeting the server sends to every new connection
// before the client says anything: a server that hangs (SIGSTOP) lets
// the kernel accept, but sends none.
func (*mariaEngine) handshake(ctx context.Context, from netip.Addr, ap netip.AddrPort) error {
	conn, err := dialUntil(ctx, from, ap)
	if err != nil {
		return err
	}
	defer conn.Close()
	// A packet: 3 bytes of length, 1 of sequence, then the payload.
	var head [5]byte
	if err := readAnswer(conn, head[:]); err != nil {
		return err
	}
	if head[4] != mariaProtocol {
		return fmt.Errorf("greeted with packet type %#x, not protocol version %d", head[4], mariaProtocol)
	}
	return nil
}

func (e *mariaEngine) dial(ctx context.Context, from netip.Addr, n *node, timeout time.Duration) (session, error) {
	admin := mariadb.Dial(n.cfg.Name, from, n.addrPort(), e.accounts)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := admin.Ping(ctx); err != nil {
		admin.Disconnect()
		return nil, err
	}
	return &mariaSession{admin: admin}, nil
}

// mariaSession is an admin session with a MariaDB server.
type mariaSession struct {
	admin *mariadb.Admin
	gone  bool
}

func (s *mariaSession) ping(ctx context.Context) error { return s.admin.Ping(ctx) }

func (s *mariaSession) close(context.Context) {
	s.gone = true
	s.admin.Disconnect()
}

func (s *mariaSession) closed() bool { return s.gone }

// observe: a server that follows someone (SHOW SLAVE STATUS has a row)
// is in recovery, at the transactions it applied; a primary is at those
// it wrote. MariaDB has no timeline, and a primary cannot list where
// its followers stand: each follower reports its stream (upstream).
func (s *mariaSession) observe(ctx context.Context, want serverConf) (engineObs, error) {
	var o engineObs
	st, err := s.admin.ReplicaStatus(ctx)
	if err != nil {
		return o, err
	}
	o.InRecovery = st.Configured
	if o.InRecovery {
		o.Pos = GTIDPos(st.SlavePos)
		o.upstream = followerReport(st)
		o.cannotFollow = mariadb.CannotFollow(st)
		o.lag = func(primary *mariadb.Position) (int64, int64) {
			bytes, transactions, _ := mariadb.Lag(*primary, st)
			return bytes, transactions
		}
		o.Drifted = want.follower && (st.Primary != want.follows.String() || st.Acknowledges != want.acknowledges)
		return o, nil
	}
	pos, err := s.admin.Position(ctx)
	if err != nil {
		return o, err
	}
	o.Pos = GTIDPos(pos.CurrentPos)
	o.binlog = &pos
	o.SyncDrifted = !want.follower && pos.WaitsForStandby != want.waitsForStandby
	return o, nil
}

// followerReport is a MariaDB follower's stream as the decider sees a
// primary's follower: streaming while it receives and applies, in the
// receiver's state otherwise; acknowledging commits (Sync) while its
// semi-synchronous replication operates; received up to Flushed. Its
// receiver notices a silent primary within slave_net_timeout, so the
// report stands for a recent reply while it still streams.
func followerReport(st mariadb.ReplicaStatus) *replicaObs {
	r := &replicaObs{State: strings.ToLower(st.IOState), Sync: st.SemiSync, Flushed: GTIDPos(st.IOPos), LagBytes: -1}
	switch {
	case st.IORunning && st.SQLRunning:
		r.State = replStreaming
	case st.IORunning:
		r.State = "not applying" // receives, its applier stopped
	case r.State == "" || r.State == "no":
		r.State = "stopped"
	}
	r.LagSeconds = max(st.SecondsBehindMaster, 0)
	return r
}

func (s *mariaSession) written(ctx context.Context) (Position, error) {
	pos, err := s.admin.Position(ctx)
	if err != nil {
		return Position{}, err
	}
	return GTIDPos(pos.BinlogPos), nil
}

// replayed: a follower's applied position, and its applier's delay as
// MariaDB reports it (Seconds_Behind_Master; 0 when it does not know).
func (s *mariaSession) replayed(ctx context.Context) (Position, float64, error) {
	st, err := s.admin.ReplicaStatus(ctx)
	if err != nil {
		return Position{}, 0, err
	}
	if !st.Configured {
		return Position{}, 0, errors.New("it follows no one")
	}
	return GTIDPos(st.SlavePos), max(st.SecondsBehindMaster, 0), nil
}

func (s *mariaSession) promote(ctx context.Context) (int, error) {
	_, err := s.admin.Promote(ctx)
	return 0, err
}

func (s *mariaSession) setReadOnly(ctx context.Context, on bool) error {
	return s.admin.SetReadOnly(ctx, on)
}

// checkpoint: InnoDB flushes as it goes; nothing to do ahead of a stop.
func (s *mariaSession) checkpoint(context.Context) error { return nil }

// shutdown: the server ends the session as it shuts down; whoever runs
// the process sees it exit.
func (s *mariaSession) shutdown(ctx context.Context) {
	_ = s.admin.Shutdown(ctx)
}
