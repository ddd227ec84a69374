package rds

import (
	"context"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// observe probes every node at once, each bounded by the probe timeout,
// reusing the monitor's sessions. The caller holds opMu.
func (c *Cluster) observe(ctx context.Context) observation {
	if c.probes == nil {
		c.probes = map[string]*pgx.Conn{}
	}
	obs := observation{At: time.Now(), Nodes: make(map[string]nodeObs, len(c.nodes)), Unreached: map[string]bool{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	st := c.snapshot()
	prim := c.byName[st.Primary]
	for _, region := range c.nodeRegions() {
		from := c.controlAddr(region)
		if region == prim.cfg.Region || !from.IsValid() {
			continue
		}
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, c.probe)
			defer cancel()
			if !acceptsConnections(pctx, from, prim.addrPort()) {
				mu.Lock()
				obs.Unreached[region] = true
				mu.Unlock()
			}
		})
	}
	conns := make([]*pgx.Conn, len(c.nodes))
	for i, n := range c.nodes {
		conns[i] = c.probes[n.cfg.Name]
	}
	for i, n := range c.nodes {
		conn := conns[i]
		wg.Go(func() {
			o, conn := c.probeNode(ctx, n, conn, c.serverConf(n, st))
			mu.Lock()
			defer mu.Unlock()
			obs.Nodes[n.cfg.Name] = o
			if conn == nil {
				delete(c.probes, n.cfg.Name)
			} else {
				c.probes[n.cfg.Name] = conn
			}
		})
	}
	wg.Wait()
	c.reachedAgain(obs, prim.cfg.Region)
	return obs
}

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

// nodeRegions lists the regions with database nodes, in configuration
// order.
func (c *Cluster) nodeRegions() []string {
	var out []string
	for _, n := range c.nodes {
		if !slices.Contains(out, n.cfg.Region) {
			out = append(out, n.cfg.Region)
		}
	}
	return out
}

// probeNode observes one node through conn (opening a new session when
// conn is nil) and returns the session to reuse, nil if it failed. A
// primary whose synchronous standby setting, or a follower whose
// primary_conninfo, is not want's has drifted.
func (c *Cluster) probeNode(ctx context.Context, n *node, conn *pgx.Conn, want serverConf) (nodeObs, *pgx.Conn) {
	o := nodeObs{Running: n.running(), Busy: n.busy.Load()}
	if !o.Running || o.Busy {
		if conn != nil {
			conn.Close(ctx)
		}
		return o, nil
	}
	pctx, cancel := context.WithTimeout(ctx, c.probe)
	defer cancel()
	// A session may answer while the postmaster accepts no one (hung, or
	// stopped): the server counts as reachable only if it also takes a
	// new connection.
	if !acceptsConnections(pctx, c.controlAddr(n.cfg.Region), n.addrPort()) {
		return o, conn
	}
	if conn == nil || conn.IsClosed() {
		var err error
		if conn, err = c.connect(pctx, n, c.probe); err != nil {
			return o, nil
		}
	}
	fail := func() (nodeObs, *pgx.Conn) {
		conn.Close(context.WithoutCancel(ctx))
		return o, nil
	}
	var lsn, syncNames, primaryConninfo string
	if err := conn.QueryRow(pctx, probeStatusSQL).Scan(&o.InRecovery, &lsn, &syncNames, &primaryConninfo); err != nil {
		return fail()
	}
	if o.InRecovery {
		o.Drifted = primaryConninfo != want.primaryConninfo
	} else {
		o.SyncDrifted = syncNames != want.syncNames
	}
	if l, err := parseLSN(lsn); err == nil {
		o.Pos = LSNPos(l)
	}
	if !o.InRecovery {
		var tli string
		if err := conn.QueryRow(pctx, probeTimelineSQL).Scan(&tli); err != nil {
			return fail()
		}
		if v, err := strconv.ParseInt(tli, 16, 64); err == nil {
			o.Timeline = int(v)
		}
		rows, err := conn.Query(pctx, probeReplicationSQL)
		if err != nil {
			return fail()
		}
		o.Replicas = map[string]replicaObs{}
		for rows.Next() {
			var app, syncState, flush string
			var r replicaObs
			var replyAge float64
			if err := rows.Scan(&app, &r.State, &syncState, &flush, &r.LagBytes, &r.LagSeconds, &replyAge); err != nil {
				rows.Close()
				return fail()
			}
			if l, err := parseLSN(flush); err == nil {
				r.Flushed = LSNPos(l)
			}
			r.Sync = syncState == "sync"
			r.ReplyAge = time.Duration(replyAge * float64(time.Second))
			o.Replicas[c.nodeOfSlot(app)] = r
		}
		if rows.Err() != nil {
			return fail()
		}
	}
	o.Reachable = true
	return o, conn
}

// sslRequest is PostgreSQL's SSLRequest packet: length 8, code 80877103.
var sslRequest = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// acceptsConnections reports whether the server at ap takes a new
// connection from the address from and answers the first packet of a
// handshake, as pg_isready does; the server forks a backend for it,
// which ends when the connection closes and logs nothing.
func acceptsConnections(ctx context.Context, from netip.Addr, ap netip.AddrPort) bool {
	answer, err := sslHandshake(ctx, from, ap)
	return err == nil && (answer == 'N' || answer == 'S')
}

// sslHandshake sends ap, from the address from, the first packet of a
// session (an SSL request, as pg_isready does) and returns the one-byte
// answer, within ctx.
func sslHandshake(ctx context.Context, from netip.Addr, ap netip.AddrPort) (byte, error) {
	conn, err := dialerFrom(from).DialContext(ctx, "tcp", ap.String())
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	if _, err := conn.Write(sslRequest); err != nil {
		return 0, err
	}
	var answer [1]byte
	_, err = io.ReadFull(conn, answer[:])
	return answer[0], err
}
