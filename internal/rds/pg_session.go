package rds

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgEngine is the engine for PostgreSQL: sessions are pgx connections as
// hastack's superuser, and a server is reached when it answers an SSL
// request, as pg_isready asks. A node's files and process are node.go's
// and files.go's.
type pgEngine struct {
	adminPassword string
}

func (pgEngine) prepare(ctx context.Context, c *Cluster, n *node, plan startPlan) error {
	return n.prepare(ctx, c, plan)
}

func (pgEngine) launch(_ context.Context, c *Cluster, n *node, onExit func(error)) (*postmaster, error) {
	return startPostmaster(c.binDir, n.layout, c.acct, onExit)
}

func (pgEngine) ready(ctx context.Context, c *Cluster, n *node, plan startPlan) error {
	if plan.conf.follower {
		return n.waitFollowing(ctx, c, n.proc.Load())
	}
	return n.becomeReady(ctx, c)
}

func (pgEngine) primaryReady(ctx context.Context, c *Cluster, prim *node, st State) error {
	return c.ensureSlots(ctx, prim, st)
}

// configure writes the settings and makes the server reload them.
func (pgEngine) configure(_ context.Context, c *Cluster, n *node, sc serverConf) error {
	if err := writeConfig(n.layout, c.acct, sc); err != nil {
		return err
	}
	return n.reload()
}

func (pgEngine) copyFrom(ctx context.Context, c *Cluster, n, primary *node, fresh bool) (string, error) {
	if err := writePassfile(n, c.acct, c.replPassword); err != nil {
		return "", err
	}
	return c.rebuildData(ctx, n, primary, fresh)
}

func (pgEngine) clientURL(ap netip.AddrPort, user, password, database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     ap.String(),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// sslRequest is PostgreSQL's SSLRequest packet: length 8, code 80877103.
var sslRequest = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// handshake sends the SSL request; the server forks a backend for it,
// which ends when the connection closes and logs nothing. Either answer
// ('S' or 'N') is a server that takes connections.
func (pgEngine) handshake(ctx context.Context, from netip.Addr, ap netip.AddrPort) error {
	conn, err := dialUntil(ctx, from, ap)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.Write(sslRequest); err != nil {
		return err
	}
	var answer [1]byte
	if err := readAnswer(conn, answer[:]); err != nil {
		return err
	}
	if answer[0] != 'N' && answer[0] != 'S' {
		return fmt.Errorf("answered an SSL request with %q", answer[0])
	}
	return nil
}

func (e pgEngine) dial(ctx context.Context, from netip.Addr, n *node, timeout time.Duration) (session, error) {
	conn, err := pgConnect(ctx, from, n.addrPort(), e.adminPassword, timeout)
	if err != nil {
		return nil, err
	}
	return pgSession{conn}, nil
}

// pgConnect logs in to the server at ap as hastack's superuser, on the
// postgres database, from the address from.
func pgConnect(ctx context.Context, from netip.Addr, ap netip.AddrPort, password string, timeout time.Duration) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig("sslmode=disable")
	if err != nil {
		return nil, fmt.Errorf("building connection config: %w", err)
	}
	cfg.Host = ap.Addr().String()
	cfg.Port = ap.Port()
	cfg.User = superUser
	cfg.Password = password
	cfg.Database = "postgres"
	cfg.Fallbacks = nil
	cfg.ConnectTimeout = timeout
	cfg.RuntimeParams = map[string]string{"application_name": "hastack"}
	cfg.DialFunc = dialerFrom(from).DialContext
	return pgx.ConnectConfig(ctx, cfg)
}

// pgSession is an admin session with a PostgreSQL server.
type pgSession struct{ conn *pgx.Conn }

func (s pgSession) ping(ctx context.Context) error {
	var one int
	return s.conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

func (s pgSession) close(ctx context.Context) { s.conn.Close(ctx) }

func (s pgSession) closed() bool { return s.conn.IsClosed() }

const (
	probeStatusSQL = `SELECT pg_is_in_recovery(),
	CASE WHEN pg_is_in_recovery() THEN coalesce(pg_last_wal_replay_lsn(), '0/0'::pg_lsn) ELSE pg_current_wal_lsn() END::text,
	current_setting('synchronous_standby_names'), current_setting('primary_conninfo')`
	probeTimelineSQL    = `SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)`
	probeReplicationSQL = `SELECT coalesce(application_name, ''), coalesce(state, ''), coalesce(sync_state, ''),
	coalesce(flush_lsn, '0/0'::pg_lsn)::text,
	coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint,
	coalesce(extract(epoch FROM replay_lag), 0)::float8,
	coalesce(extract(epoch FROM clock_timestamp() - reply_time), 0)::float8
FROM pg_stat_replication`
)

// observe: a primary whose synchronous_standby_names, or a follower
// whose primary_conninfo, is not want's has drifted. The followers are
// pg_stat_replication's rows, by application_name (the slot's name).
func (s pgSession) observe(ctx context.Context, want serverConf) (engineObs, error) {
	o, err := s.observeNode(ctx, want)
	return engineObs{nodeObs: o}, err
}

func (s pgSession) observeNode(ctx context.Context, want serverConf) (nodeObs, error) {
	var o nodeObs
	var lsn, syncNames, primaryConninfo string
	if err := s.conn.QueryRow(ctx, probeStatusSQL).Scan(&o.InRecovery, &lsn, &syncNames, &primaryConninfo); err != nil {
		return o, err
	}
	if o.InRecovery {
		o.Drifted = primaryConninfo != want.primaryConninfo
	} else {
		o.SyncDrifted = syncNames != want.syncNames
	}
	if l, err := parseLSN(lsn); err == nil {
		o.Pos = LSNPos(l)
	}
	if o.InRecovery {
		return o, nil
	}
	var err error
	if o.Timeline, err = s.timeline(ctx); err != nil {
		return o, err
	}
	rows, err := s.conn.Query(ctx, probeReplicationSQL)
	if err != nil {
		return o, err
	}
	defer rows.Close()
	o.Replicas = map[string]replicaObs{}
	for rows.Next() {
		var app, syncState, flush string
		var r replicaObs
		var replyAge float64
		if err := rows.Scan(&app, &r.State, &syncState, &flush, &r.LagBytes, &r.LagSeconds, &replyAge); err != nil {
			return o, err
		}
		if l, err := parseLSN(flush); err == nil {
			r.Flushed = LSNPos(l)
		}
		r.Sync = syncState == "sync"
		r.ReplyAge = time.Duration(replyAge * float64(time.Second))
		o.Replicas[app] = r
	}
	return o, rows.Err()
}

// timeline is a primary's timeline, from the name of the WAL file it
// writes.
func (s pgSession) timeline(ctx context.Context) (int, error) {
	var tli string
	if err := s.conn.QueryRow(ctx, probeTimelineSQL).Scan(&tli); err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(tli, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("timeline %q: %w", tli, err)
	}
	return int(v), nil
}

func (s pgSession) written(ctx context.Context) (Position, error) {
	var text string
	if err := s.conn.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&text); err != nil {
		return Position{}, fmt.Errorf("reading the primary's WAL position: %w", err)
	}
	l, err := parseLSN(text)
	if err != nil {
		return Position{}, err
	}
	return LSNPos(l), nil
}

// replaySQL is a follower's replay position, and the age of the newest
// commit it replayed (since its start when it replayed none).
const replaySQL = `SELECT coalesce(pg_last_wal_replay_lsn(), '0/0'::pg_lsn)::text,
	extract(epoch FROM now() - coalesce(pg_last_xact_replay_timestamp(), pg_postmaster_start_time()))::float8`

func (s pgSession) replayed(ctx context.Context) (Position, float64, error) {
	var text string
	var age float64
	if err := s.conn.QueryRow(ctx, replaySQL).Scan(&text, &age); err != nil {
		return Position{}, 0, fmt.Errorf("reading the replica's replay position: %w", err)
	}
	l, err := parseLSN(text)
	if err != nil {
		return Position{}, 0, err
	}
	return LSNPos(l), max(age, 0), nil
}

func (s pgSession) promote(ctx context.Context) (int, error) {
	var inRecovery bool
	if err := s.conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
		return 0, fmt.Errorf("checking recovery: %w", err)
	}
	if inRecovery {
		if _, err := s.conn.Exec(ctx, "SELECT pg_promote(false)"); err != nil {
			return 0, fmt.Errorf("pg_promote: %w", err)
		}
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for inRecovery {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for the end of recovery: %w", context.Cause(ctx))
		case <-tick.C:
		}
		if err := s.conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
			return 0, fmt.Errorf("checking recovery: %w", err)
		}
	}
	timeline, err := s.timeline(ctx)
	if err != nil {
		return 0, fmt.Errorf("reading the timeline: %w", err)
	}
	return timeline, nil
}

// setReadOnly uses default_transaction_read_only, which every session
// but hastack's (a superuser's, which fences) obeys, and ends the client
// sessions so that none goes on in a transaction begun before.
func (s pgSession) setReadOnly(ctx context.Context, on bool) error {
	stmt := "ALTER SYSTEM RESET default_transaction_read_only"
	if on {
		stmt = "ALTER SYSTEM SET default_transaction_read_only = on"
	}
	if _, err := s.conn.Exec(ctx, stmt); err != nil {
		return err
	}
	if _, err := s.conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return err
	}
	if !on {
		return nil
	}
	_, err := s.conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND usename <> $1`, superUser)
	return err
}

func (s pgSession) checkpoint(ctx context.Context) error {
	_, err := s.conn.Exec(ctx, "CHECKPOINT")
	return err
}

// shutdownSQL asks, through a superuser's session, for a fast shutdown of
// the server: the session's backend runs in the data directory, where
// postmaster.pid names the postmaster, and signals it as the server's
// own user.
const shutdownSQL = `COPY (SELECT 1) TO PROGRAM 'read pid < postmaster.pid && kill -INT "$pid"'`

// shutdown: the server ends the session as it shuts down, so the error
// says nothing about whether the request went through.
func (s pgSession) shutdown(ctx context.Context) {
	_, _ = s.conn.Exec(ctx, shutdownSQL)
}
