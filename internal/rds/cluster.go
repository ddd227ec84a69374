package rds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hastack/hastack/internal/mariadb"
)

// Cluster is the running database tier.
type Cluster struct {
	cfg           Config
	binDir        string
	acct          account
	password      string // the master user's, for applications
	adminPassword string // hastack's own superuser's
	replPassword  string
	log           *slog.Logger
	pol           policy
	poll          time.Duration // between monitor passes
	probe         time.Duration // bounds one node's probe
	hold          time.Duration // how long endpoints hold clients with no working route

	nodes   []*node
	byName  map[string]*node
	writers map[string]*endpoint // by region
	readers map[string]*endpoint
	relays  map[string]*relay // by node

	// opMu serialises Start, Stop, the faults, the promotions, RecoverNode
	// and the monitor's passes. Restarts and rebuilds run in background
	// jobs without it; a fault or a recovery cancels a node's job first.
	opMu   sync.Mutex
	active bool
	eng    engine
	probes map[string]session // the monitor's sessions, by node
	// answerTimes is, by node, the smoothed time it took to answer the
	// first packet of a handshake (probeTimeout); used under opMu.
	answerTimes map[string]time.Duration

	// saveMu serialises changes of the state document.
	saveMu sync.Mutex

	mu       sync.Mutex // guards the fields below
	state    State
	obs      observation
	timers   timers
	problems map[string]string // last reported problem, by subject
	health   map[string]health // by node
	cut      map[string]bool   // regions whose endpoints a promotion could not reach (cutoff.go)
	jobs     map[string]*job   // background restarts and rebuilds, by node

	kick      chan struct{}
	monCancel context.CancelFunc
	monDone   chan struct{}
	bgCtx     context.Context
	bgCancel  context.CancelFunc
	bg        sync.WaitGroup // rebuilds started by the monitor

	fence *fencing // nil without lease fencing
}

// NodeStatus is what Nodes reports about one node.
type NodeStatus struct {
	Name    string `json:"name"`
	Region  string `json:"region"`
	AZ      string `json:"az"`
	Role    Role   `json:"role"`
	Address string `json:"address"` // "ip:port"
	Running bool   `json:"running"`
	// LagBytes is how far the node's replay is behind the primary's WAL,
	// or on MariaDB its binary log (0 for the primary, and when unknown:
	// a MariaDB follower applying an older binary log file than the
	// primary writes).
	LagBytes int64 `json:"lag_bytes"`
	// LagTransactions counts the transactions a MariaDB follower has yet
	// to apply (from GTIDs; PostgreSQL does not count them).
	LagTransactions int64 `json:"lag_transactions,omitempty"`
	// LagSeconds is the primary's last measure of the node's replay lag.
	LagSeconds float64 `json:"lag_seconds"`
	// ReplicationState is one of the Repl* values.
	ReplicationState string `json:"replication_state"`
	// Fenced: a former primary that may only return as a follower.
	Fenced bool `json:"fenced"`
	// DiscardedTransactions counts the transactions this node had
	// committed that pg_rewind took back when it rejoined as a follower
	// (a former primary's writes after the histories parted), over the
	// cluster's life.
	DiscardedTransactions int `json:"discarded_transactions"`
	// Restarts counts the times the monitor started the node's server
	// again after it stopped on its own, since Start.
	Restarts int `json:"restarts"`
	// CrashLoop: the server stopped on its own (or failed to start
	// again) 3 times in a row without running 10 s in between; it is
	// still restarted, with a backoff of up to 30 s.
	CrashLoop bool `json:"crash_loop"`
	// LastExit says how the server last stopped on its own, e.g.
	// "signal: killed"; LastExitAt is when ("" and zero if never).
	LastExit   string    `json:"last_exit,omitempty"`
	LastExitAt time.Time `json:"last_exit_at,omitzero"`
}

// New checks cfg, finds the engine's programs (PostgreSQL's, or
// MariaDB's for "mysql") and loads the master and replication passwords, generating them on first use, so the endpoints
// are known before Start. It starts nothing.
func New(cfg Config) (*Cluster, error) {
	cfg, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	mysql := cfg.Database.Engine == "mysql"
	var binDir string
	var mariaBins mariadb.Binaries
	var acct account
	if mysql {
		if mariaBins, err = mariadb.FindBinaries(); err != nil {
			return nil, err
		}
		if acct, err = runAs(mysqlUser, "MariaDB", "apt-get install -y mariadb-server"); err != nil {
			return nil, err
		}
	} else {
		if binDir, err = FindBinaries(); err != nil {
			return nil, err
		}
		if acct, err = runAsAccount(); err != nil {
			return nil, err
		}
	}
	password, err := loadOrCreatePassword(passwordPath(cfg.StateDir))
	if err != nil {
		return nil, err
	}
	replPassword, err := loadOrCreatePassword(replicationPasswordPath(cfg.StateDir))
	if err != nil {
		return nil, fmt.Errorf("replication password: %w", err)
	}
	adminPassword, err := loadOrCreatePassword(adminPasswordPath(cfg.StateDir))
	if err != nil {
		return nil, fmt.Errorf("superuser password: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	det := cfg.Database.FailoverDetection
	c := &Cluster{
		cfg: cfg, binDir: binDir, acct: acct, password: password, adminPassword: adminPassword, replPassword: replPassword, log: log,
		pol: policy{
			multiAZ:         cfg.Database.MultiAZ,
			crossRegionSync: cfg.Database.CrossRegionCommit == "sync",
			detection:       det,
			// A follower reports at least every wal_receiver_status_interval.
			replyTimeout: det + time.Second,
		},
		poll:     min(max(det/5, 50*time.Millisecond), time.Second),
		probe:    min(max(det/2, 300*time.Millisecond), 2*time.Second),
		hold:     det + 5*time.Second,
		byName:   map[string]*node{},
		writers:  map[string]*endpoint{},
		readers:  map[string]*endpoint{},
		relays:   map[string]*relay{},
		problems: map[string]string{},
		health:   map[string]health{},
		jobs:     map[string]*job{},
		kick:     make(chan struct{}, 1),
	}
	c.eng = pgEngine{adminPassword: adminPassword}
	if mysql {
		c.eng = &mariaEngine{binaries: mariaBins, servers: map[string]*mariadb.Server{}, copiedAt: map[string]mariadb.GTIDSet{}, accounts: mariadb.Accounts{
			AdminPassword: adminPassword, ReplicationPassword: replPassword,
			AppUser: cfg.Database.Username, AppPassword: password, AppDatabase: cfg.Database.Name,
		}}
	}
	for _, nc := range cfg.Nodes {
		n := &node{cfg: nc, port: cfg.Database.Port, layout: nodeLayout(cfg.StateDir, nc.Name)}
		c.nodes = append(c.nodes, n)
		c.byName[nc.Name] = n
		if mysql {
			c.relays[nc.Name] = newTCPRelay(n, c) // MariaDB cannot connect to a Unix socket
		} else {
			c.relays[nc.Name] = newRelay(n, acct, c)
		}
	}
	port := uint16(cfg.Database.Port)
	for _, ep := range cfg.Endpoints {
		c.writers[ep.Region] = newEndpoint("writer endpoint of "+ep.Region, netip.AddrPortFrom(ep.Writer, port), c.hold, log)
		c.readers[ep.Region] = newEndpoint("reader endpoint of "+ep.Region, netip.AddrPortFrom(ep.Reader, port), c.hold, log)
	}
	c.state = newState(cfg.Nodes, cfg.Database.MultiAZ)
	if err := c.makeLeases(); err != nil {
		return nil, err
	}
	return c, nil
}

// Start brings every node up in the role the cluster state gives it (a
// new cluster: the configured roles), the endpoints and the Multi-AZ
// monitor, and returns once the primary accepts writes, the followers
// replicate and, with Multi-AZ, the standby is synchronous. A primary is
// created with initdb, followers with pg_basebackup; existing data is
// reused. ctx bounds the wait, not the servers' lifetime. On failure it
// stops what it started and names the step in the error.
func (c *Cluster) Start(ctx context.Context) error {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if c.active {
		return nil
	}
	st, err := loadState(statePath(c.cfg.StateDir), c.cfg.Nodes, c.cfg.Database.MultiAZ)
	if err != nil {
		return err
	}
	// Commits do not wait for a standby until it streams again: the
	// primary must come up (and set itself up) before its standby does.
	st.Sync = Sync{}
	c.mu.Lock()
	c.state, c.timers, c.problems, c.health = st, timers{}, map[string]string{}, map[string]health{}
	c.mu.Unlock()
	if err := c.saveState(st); err != nil {
		return err
	}
	c.bgCtx, c.bgCancel = context.WithCancel(context.Background())
	if err := c.startAll(ctx); err != nil {
		c.bgCancel()
		c.bg.Wait()
		c.bgCancel = nil
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
		defer cancel()
		c.stopAll(cleanup)
		c.stopLeases()
		return err
	}
	c.active = true
	mctx, cancel := context.WithCancel(context.Background())
	c.monCancel, c.monDone = cancel, make(chan struct{})
	go c.monitor(mctx, c.monDone)
	return nil
}

// startAll starts the primary, then the followers, the endpoints, and
// waits for the synchronous standby.
func (c *Cluster) startAll(ctx context.Context) error {
	st := c.snapshot()
	prim := c.byName[st.Primary]
	if err := c.startNode(ctx, prim, st); err != nil {
		return err
	}
	// The followers are made at once: a copy over a cross-region link
	// waits on the link more than on the machine.
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		if n != prim {
			wg.Go(func() { errs[i] = c.startNode(ctx, n, c.snapshot()) })
		}
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	// With lease fencing the primary's region takes its lease before a
	// writer endpoint leads to it.
	if err := c.startLeases(ctx, prim.cfg.Region); err != nil {
		return err
	}
	for _, region := range c.regions() {
		if err := c.startEndpoints(region); err != nil {
			return err
		}
	}
	c.pass(ctx)
	if c.standby(c.snapshot()) == "" {
		return nil
	}
	// The standby streams; wait for the monitor's rules to make it
	// synchronous and complete, as they will after every failover.
	tick := time.NewTicker(c.poll)
	defer tick.Stop()
	for !c.snapshot().Sync.Complete {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for standby %s to become synchronous: %w", c.standby(c.snapshot()), context.Cause(ctx))
		case <-tick.C:
		}
		c.pass(ctx)
	}
	return nil
}

// startNode starts n in its role from st: the primary first ensures its
// replication slots; a fenced follower is rewound and its mark cleared.
func (c *Cluster) startNode(ctx context.Context, n *node, st State) error {
	if n.running() || st.Nodes[n.cfg.Name].Role == RoleSpare {
		return nil // a spare has no server while the primary is elsewhere
	}
	if err := c.relays[n.cfg.Name].listen(); err != nil {
		return fmt.Errorf("starting %s %s: %w", st.Nodes[n.cfg.Name].Role, n.cfg.Name, err)
	}
	c.pointRelay(n, st)
	prim := c.byName[st.Primary]
	if n == prim && st.Sync.CrossRegion != "" && !c.byName[st.Sync.CrossRegion].running() {
		// Likewise without its cross-region replica: the monitor makes
		// commits wait for one again once it streams.
		if err := c.updateState(func(s *State) { s.Sync.CrossRegion = "" }); err != nil {
			return fmt.Errorf("starting primary %s: %w", n.cfg.Name, err)
		}
		st = c.snapshot()
	}
	if n == prim && st.Sync.Standby != "" && !c.byName[st.Sync.Standby].running() {
		// A primary coming back without its standby (the whole region was
		// down) must not wait for it: its first commit would block. It
		// starts alone, as after a failover; the monitor restores
		// synchronous replication once the standby has caught up.
		var err error
		if st, err = c.dropSyncStandby(st); err != nil {
			return fmt.Errorf("starting primary %s: %w", n.cfg.Name, err)
		}
	}
	ns := st.Nodes[n.cfg.Name]
	plan := startPlan{conf: c.serverConf(n, st), primary: prim, allowInit: st.Epoch == 0, rejoin: ns.Fenced}
	if n != prim && !prim.running() {
		ok, err := complete(n.layout, c.acct, n.cfg.Name)
		if err != nil {
			return fmt.Errorf("starting %s %s: %w", ns.Role, n.cfg.Name, err)
		}
		if ns.Fenced || !ok {
			return fmt.Errorf("starting %s %s: it must be copied or rewound from primary %s, which is not running", ns.Role, n.cfg.Name, prim.cfg.Name)
		}
	}
	if err := n.start(ctx, c, plan); err != nil {
		return fmt.Errorf("starting %s %s: %w", ns.Role, n.cfg.Name, err)
	}
	if n == prim {
		if err := c.eng.primaryReady(ctx, c, prim, st); err != nil {
			return fmt.Errorf("starting primary %s: %w", n.cfg.Name, err)
		}
	}
	if ns.Fenced {
		if err := c.updateState(func(s *State) {
			e := s.Nodes[n.cfg.Name]
			e.Fenced = false
			s.Nodes[n.cfg.Name] = e
		}); err != nil {
			return err
		}
		c.log.Info("fenced node rejoined as follower", "node", n.cfg.Name, "primary", prim.cfg.Name)
	}
	return nil
}

// dropSyncStandby records that the primary's commits wait for no standby.
func (c *Cluster) dropSyncStandby(st State) (State, error) {
	standby := st.Sync.Standby
	lost := st.Sync.LostAt
	if lost.IsZero() {
		lost = time.Now()
	}
	if err := c.updateState(func(s *State) { s.Sync = Sync{LostAt: lost, CrossRegion: s.Sync.CrossRegion} }); err != nil {
		return st, err
	}
	c.emit(EventSyncLost, fmt.Sprintf("primary %s starts without synchronous standby %s, which is down: commits are acknowledged by the primary alone until it catches up", st.Primary, standby))
	return c.snapshot(), nil
}

// ensureSlots gives the primary one replication slot per follower. It
// also lifts a read-only setting left by lease fencing, which a copy or
// a rewind carries from the node it was made from: a primary starts
// taking writes, and a region that does not hold its lease stops them
// again (leaseChanged).
func (c *Cluster) ensureSlots(ctx context.Context, prim *node, st State) error {
	ctx, cancel := context.WithTimeout(ctx, sessionTimeout)
	defer cancel()
	conn, err := c.connect(ctx, prim, 5*time.Second)
	if err != nil {
		return fmt.Errorf("connecting to create replication slots: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var readOnly string
	if err := conn.QueryRow(ctx, "SELECT setting FROM pg_settings WHERE name = 'default_transaction_read_only'").Scan(&readOnly); err != nil {
		return fmt.Errorf("reading default_transaction_read_only: %w", err)
	}
	if readOnly == "on" && !c.writesFenced(prim.cfg.Region) {
		if _, err := conn.Exec(ctx, "ALTER SYSTEM RESET default_transaction_read_only"); err != nil {
			return fmt.Errorf("lifting read-only: %w", err)
		}
		if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
			return fmt.Errorf("lifting read-only: %w", err)
		}
	}
	var followers []string
	for _, n := range c.nodes {
		if n != prim && st.Nodes[n.cfg.Name].Role != RoleSpare {
			followers = append(followers, n.cfg.Name)
		}
	}
	return ensureSlots(ctx, conn, followers)
}

// serverConf is n's settings in its role from st.
func (c *Cluster) serverConf(n *node, st State) serverConf {
	sc := serverConf{addr: n.cfg.Addr, port: n.port}
	if n.cfg.Name == st.Primary {
		sc.syncNames = syncNames(st.Sync)
		sc.waitsForStandby = st.Sync.Standby != ""
		return sc
	}
	sc.follower = true
	sc.slot = slotName(n.cfg.Name)
	sc.primaryConninfo = c.conninfo(n, slotName(n.cfg.Name), "")
	sc.follows = c.relays[n.cfg.Name].tcpAddr()
	sc.acknowledges = st.Nodes[n.cfg.Name].Role == RoleStandby
	return sc
}

// reconfigure gives a running node the settings of its role in st, and
// points its relay at the primary.
func (c *Cluster) reconfigure(n *node, st State) error {
	if !n.running() || n.busy.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	if err := c.eng.configure(ctx, c, n, c.serverConf(n, st)); err != nil {
		return fmt.Errorf("configuring %s: %w", n.cfg.Name, err)
	}
	c.pointRelay(n, st)
	return nil
}

// Stop stops the monitor, closes the endpoints and shuts every node down
// (fast shutdown: open transactions are rolled back; the primary first,
// so its followers receive all of its WAL), waiting for the servers to
// exit; when ctx ends first, they are killed. The cluster state is kept,
// so the next Start gives every node its role back.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stopMonitor()
	c.opMu.Lock()
	defer c.opMu.Unlock()
	c.active = false
	err := c.stopAll(ctx)
	c.stopLeases()
	return err
}

func (c *Cluster) stopMonitor() {
	c.opMu.Lock()
	cancel, done, bgCancel := c.monCancel, c.monDone, c.bgCancel
	c.monCancel, c.monDone, c.bgCancel = nil, nil, nil
	c.opMu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	if bgCancel != nil {
		bgCancel()
	}
	c.bg.Wait()
}

func (c *Cluster) stopAll(ctx context.Context) error {
	for _, ep := range c.endpoints() {
		ep.close()
	}
	for name, sess := range c.probes {
		sess.close(ctx)
		delete(c.probes, name)
	}
	prim := c.byName[c.snapshot().Primary]
	errs := []error{c.stopNode(ctx, prim)}
	var wg sync.WaitGroup
	errCh := make(chan error, len(c.nodes))
	for _, n := range c.nodes {
		if n != prim {
			wg.Go(func() { errCh <- c.stopNode(ctx, n) })
		}
	}
	wg.Wait()
	close(errCh)
	for err := range errCh {
		errs = append(errs, err)
	}
	for _, r := range c.relays {
		r.close()
	}
	return errors.Join(errs...)
}

func (c *Cluster) stopNode(ctx context.Context, n *node) error {
	wasRunning := n.running()
	if err := n.stop(ctx); err != nil {
		return fmt.Errorf("stopping %s: %w", n.cfg.Name, err)
	}
	if wasRunning {
		c.log.Info("database node stopped", "node", n.cfg.Name)
		c.emit(EventNodeStopped, fmt.Sprintf("database node %s stopped", n.cfg.Name))
	}
	return nil
}

// snapshot returns a copy of the cluster state.
func (c *Cluster) snapshot() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state.clone()
}

// standby names the node whose role is standby in st, if any.
func (c *Cluster) standby(st State) string {
	for _, n := range c.cfg.Nodes {
		if st.Nodes[n.Name].Role == RoleStandby {
			return n.Name
		}
	}
	return ""
}

// saveState persists st and makes it the cluster's state.
func (c *Cluster) saveState(st State) error {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	return c.saveLocked(st)
}

func (c *Cluster) saveLocked(st State) error {
	st.Updated = time.Now().UTC()
	if err := st.save(statePath(c.cfg.StateDir)); err != nil {
		return err
	}
	c.mu.Lock()
	c.state = st
	c.mu.Unlock()
	return nil
}

// updateState applies change to a copy of the state and persists it;
// concurrent changes are applied one after the other.
func (c *Cluster) updateState(change func(*State)) error {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	st := c.snapshot()
	change(&st)
	return c.saveLocked(st)
}

// Purge deletes the cluster's data, state and passwords under stateDir.
// The cluster must be stopped.
func Purge(stateDir string) error {
	if err := os.RemoveAll(filepath.Join(stateDir, "db")); err != nil {
		return fmt.Errorf("removing database files: %w", err)
	}
	for _, p := range []string{passwordPath(stateDir), replicationPasswordPath(stateDir), adminPasswordPath(stateDir)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing database password: %w", err)
		}
	}
	return nil
}
