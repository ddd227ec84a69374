package rds

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/hastack/hastack/internal/mariadb"
)

// observe probes every node at once, each bounded by the probe timeout,
// reusing the monitor's sessions. The caller holds opMu.
func (c *Cluster) observe(ctx context.Context) observation {
	if c.probes == nil {
		c.probes = map[string]session{}
	}
	if c.answerTimes == nil {
		c.answerTimes = map[string]time.Duration{}
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
		within := c.probeTimeout(prim)
		wg.Go(func() {
			pctx, cancel := context.WithTimeout(ctx, within)
			defer cancel()
			if !c.acceptsConnections(pctx, from, prim.addrPort()) {
				mu.Lock()
				obs.Unreached[region] = true
				mu.Unlock()
			}
		})
	}
	conns := make([]session, len(c.nodes))
	for i, n := range c.nodes {
		conns[i] = c.probes[n.cfg.Name]
	}
	reports := map[string]replicaObs{}
	lags := map[string]func(*mariadb.Position) (int64, int64){}
	var primaryBinlog *mariadb.Position
	obs.cannotFollow = map[string]string{}
	answered := map[string]time.Duration{}
	for i, n := range c.nodes {
		conn := conns[i]
		within := c.probeTimeout(n)
		wg.Go(func() {
			o, seen, conn, took := c.probeNode(ctx, n, conn, c.serverConf(n, st), within)
			mu.Lock()
			defer mu.Unlock()
			if took > 0 {
				answered[n.cfg.Name] = took
			}
			obs.Nodes[n.cfg.Name] = o
			if seen.upstream != nil {
				reports[n.cfg.Name] = *seen.upstream
			}
			if seen.lag != nil {
				lags[n.cfg.Name] = seen.lag
			}
			if n == prim {
				primaryBinlog = seen.binlog
			}
			if seen.cannotFollow != "" {
				obs.cannotFollow[n.cfg.Name] = seen.cannotFollow
			}
			if conn == nil {
				delete(c.probes, n.cfg.Name)
			} else {
				c.probes[n.cfg.Name] = conn
			}
		})
	}
	wg.Wait()
	for name, took := range answered {
		c.answerTimes[name] = nextAnswerTime(c.answerTimes[name], took)
	}
	c.reachedAgain(obs, prim.cfg.Region)
	if primaryBinlog != nil {
		for name, r := range reports {
			if lag := lags[name]; lag != nil {
				r.LagBytes, r.LagTransactions = lag(primaryBinlog)
				reports[name] = r
			}
		}
	}
	leadsTo := func(follower, primary string) bool {
		n := c.byName[follower]
		return n != nil && c.relays[follower] != nil && c.relayLeadsTo(n, primary)
	}
	// A former primary still running may have followers too (those cut
	// off with it): they strayed from the primary's history.
	for _, name := range sortedNames(st.Nodes) {
		if st.Nodes[name].Fenced && name != st.Primary {
			obs = withFollowerReports(obs, name, reports, leadsTo)
		}
	}
	return withFollowerReports(obs, st.Primary, reports, leadsTo)
}

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

// probeNode observes one node through sess (opening a new session when
// sess is nil), all within the given time, and returns, besides what the
// decider sees, what the engine's session saw (a follower's report of
// its stream, its reason not to follow), the session to reuse, nil if
// it failed, and how long the server took to answer a new connection (0
// when it did not).
func (c *Cluster) probeNode(ctx context.Context, n *node, sess session, want serverConf, within time.Duration) (nodeObs, engineObs, session, time.Duration) {
	o := nodeObs{Running: n.running(), Busy: n.busy.Load()}
	if !o.Running || o.Busy {
		if sess != nil {
			sess.close(ctx)
		}
		return o, engineObs{}, nil, 0
	}
	pctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	// A session may answer while the server accepts no one (hung, or
	// stopped): it counts as reachable only if it also takes a new
	// connection.
	began := time.Now()
	if err := c.eng.handshake(pctx, c.controlAddr(n.cfg.Region), n.addrPort()); err != nil {
		o.Unanswered = fmt.Sprintf("no new connection within %s: %v", within, err)
		return o, engineObs{}, sess, 0
	}
	took := time.Since(began)
	if sess == nil || sess.closed() {
		var err error
		if sess, err = c.eng.dial(pctx, c.controlAddr(n.cfg.Region), n, within); err != nil {
			o.Unanswered = "login: " + err.Error()
			return o, engineObs{}, nil, took
		}
	}
	seen, err := sess.observe(pctx, want)
	if err != nil {
		o.Unanswered = "query: " + err.Error()
		sess.close(context.WithoutCancel(ctx))
		return o, engineObs{}, nil, took
	}
	o.InRecovery, o.Pos, o.Timeline, o.Drifted, o.SyncDrifted = seen.InRecovery, seen.Pos, seen.Timeline, seen.Drifted, seen.SyncDrifted
	if seen.Replicas != nil {
		o.Replicas = make(map[string]replicaObs, len(seen.Replicas))
		for name, r := range seen.Replicas {
			o.Replicas[c.nodeOfSlot(name)] = r
		}
	}
	o.Reachable = true
	return o, seen, sess, took
}

// probeTimeout is how long the monitor's probe of n may take: longer
// than the configured probe time while n has lately been slow to
// answer. The caller holds opMu.
func (c *Cluster) probeTimeout(n *node) time.Duration {
	return probeTimeout(c.answerTimes[n.cfg.Name], c.probe, c.pol.detection)
}

// acceptsConnections reports whether the server at ap takes a new
// connection from the address from and answers the first packet of a
// handshake.
func (c *Cluster) acceptsConnections(ctx context.Context, from netip.Addr, ap netip.AddrPort) bool {
	return c.eng.handshake(ctx, from, ap) == nil
}
