package drill

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hastack/hastack/internal/stack"
)

// Lag is how far one follower trailed the primary at one instant.
type Lag struct {
	At   time.Time `json:"at"`
	Node string    `json:"node"`
	// Bytes of WAL the primary had written that the follower had not
	// replayed yet.
	Bytes int64 `json:"bytes"`
	// Seconds since the newest commit the follower had replayed was made
	// on the primary, when the primary had written more since: the writes
	// a loss of the primary at that instant would take with it. 0 when
	// the follower had replayed everything.
	Seconds float64 `json:"seconds"`
}

// FollowerLag is the lag of a follower whose replay had reached replayLSN
// when the primary's WAL was at primaryLSN (read just before), and whose
// newest replayed commit was sinceCommit old (known false when it has
// replayed none since it started). The seconds are as fine as the
// primary's commits are frequent: under a drill's write load, tens of
// milliseconds.
func FollowerLag(primaryLSN, replayLSN uint64, sinceCommit float64, known bool) (bytes int64, seconds float64) {
	if replayLSN >= primaryLSN {
		return 0, 0
	}
	bytes = int64(primaryLSN - replayLSN)
	if known && sinceCommit > 0 {
		seconds = sinceCommit
	}
	return bytes, seconds
}

// MaxLag is node's largest lag among the samples taken in [from, to).
func MaxLag(series []Lag, node string, from, to time.Time) (Lag, bool) {
	var best Lag
	found := false
	for _, l := range series {
		if l.Node != node || l.At.Before(from) || !l.At.Before(to) {
			continue
		}
		if !found || l.Seconds > best.Seconds || (l.Seconds == best.Seconds && l.Bytes > best.Bytes) {
			best, found = l, true
		}
	}
	return best, found
}

// catchUpMargin is how much more than its lag before the fault a follower
// may trail and still count as caught up: a few commits' worth under a
// drill's load, far less than any cut worth rehearsing.
const catchUpMargin = 250 * time.Millisecond

// CaughtUp is how long after healed node's lag was first back within
// catchUpMargin of baseline (its largest lag before the fault).
func CaughtUp(series []Lag, node string, healed time.Time, baseline float64) (time.Duration, bool) {
	limit := baseline + catchUpMargin.Seconds()
	for _, l := range series {
		if l.Node == node && !l.At.Before(healed) && l.Seconds <= limit {
			return l.At.Sub(healed), true
		}
	}
	return 0, false
}

// parseLSN reads PostgreSQL's "X/Y" notation of a WAL position.
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("WAL position %q is not X/Y", s)
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("WAL position %q: %w", s, err)
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("WAL position %q: %w", s, err)
	}
	return h<<32 | l, nil
}

// Queries the sampler runs. clock_timestamp() is the follower's own
// clock, the primary's too on one machine.
const (
	primaryLSNSQL = `SELECT pg_current_wal_lsn()::text`
	followerSQL   = `SELECT coalesce(pg_last_wal_replay_lsn(), '0/0'::pg_lsn)::text,
	extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8`
	identitySQL = `SELECT system_identifier::text, pg_postmaster_start_time() FROM pg_control_system()`
)

// sampleTimeout bounds one query of the sampler: a node cut off must not
// hold the drill up.
const sampleTimeout = 500 * time.Millisecond

// lagSampler reads the followers' lag straight from the database nodes,
// as the operator (from the operator's address, which their security
// groups let in), not from the stack's status: the primary measures its
// followers' replay lag over a round trip, which counts the way back too,
// while what a loss of the primary costs is how stale the follower is.
type lagSampler struct {
	cfg       *pgx.ConnConfig // credentials; the host is each node's
	primary   stack.NodeStatus
	followers []stack.NodeStatus

	sampling sync.Mutex // one reading at a time; it owns conns
	conns    map[string]*pgx.Conn

	mu     sync.Mutex
	series []Lag
}

// newLagSampler samples the followers of the database as st shows it,
// with the credentials of url (the writer endpoint's).
func newLagSampler(url string, st stack.Status) (*lagSampler, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("reading the database URL: %w", errors.New(strings.ReplaceAll(err.Error(), url, "the writer endpoint")))
	}
	cfg.ConnectTimeout = 0 // each use bounds its own context
	cfg.RuntimeParams["application_name"] = "hastack-drill"
	s := &lagSampler{cfg: cfg, conns: map[string]*pgx.Conn{}}
	for _, n := range st.Database.Nodes {
		switch {
		case n.Role == "primary":
			s.primary = n
		case n.Running:
			s.followers = append(s.followers, n)
		}
	}
	if s.primary.Name == "" {
		return nil, fmt.Errorf("the database has no primary to measure lag against")
	}
	return s, nil
}

// run samples every interval until ctx is done.
func (s *lagSampler) run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		s.sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sample reads every follower's lag once, records it and returns it;
// nodes that do not answer in time are left out.
func (s *lagSampler) sample(ctx context.Context) []Lag {
	s.sampling.Lock()
	defer s.sampling.Unlock()
	var primaryLSN uint64
	err := s.query(ctx, s.primary, func(c *pgx.Conn, qctx context.Context) error {
		var lsn string
		err := c.QueryRow(qctx, primaryLSNSQL).Scan(&lsn)
		if err == nil {
			primaryLSN, err = parseLSN(lsn)
		}
		return err
	})
	if err != nil {
		return nil
	}
	var out []Lag
	for _, n := range s.followers {
		var replay string
		var since *float64
		err := s.query(ctx, n, func(c *pgx.Conn, qctx context.Context) error {
			return c.QueryRow(qctx, followerSQL).Scan(&replay, &since)
		})
		if err != nil {
			continue
		}
		lsn, err := parseLSN(replay)
		if err != nil {
			continue
		}
		l := Lag{At: time.Now(), Node: n.Name}
		l.Bytes, l.Seconds = FollowerLag(primaryLSN, lsn, deref0(since), since != nil)
		out = append(out, l)
	}
	s.mu.Lock()
	s.series = append(s.series, out...)
	s.mu.Unlock()
	return out
}

func deref0(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}

// query runs q on node's session, opening one if needed, within
// sampleTimeout; a failed session is closed and opened again next time.
func (s *lagSampler) query(ctx context.Context, n stack.NodeStatus, q func(*pgx.Conn, context.Context) error) error {
	qctx, cancel := context.WithTimeout(ctx, sampleTimeout)
	defer cancel()
	c := s.conns[n.Name]
	if c == nil || c.IsClosed() {
		var err error
		if c, err = s.connect(qctx, n); err != nil {
			return err
		}
		s.conns[n.Name] = c
	}
	if err := q(c, qctx); err != nil {
		closeQuickly(c)
		delete(s.conns, n.Name)
		return err
	}
	return nil
}

// connect opens a session to node n itself, not to an endpoint.
func (s *lagSampler) connect(ctx context.Context, n stack.NodeStatus) (*pgx.Conn, error) {
	host, port, err := net.SplitHostPort(n.Address)
	if err != nil {
		return nil, fmt.Errorf("database node %s address %q: %w", n.Name, n.Address, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("database node %s address %q: %w", n.Name, n.Address, err)
	}
	cfg := s.cfg.Copy()
	cfg.Host, cfg.Port, cfg.Fallbacks = host, uint16(p), nil
	return pgx.ConnectConfig(ctx, cfg)
}

// Series returns every sample so far, in the order taken.
func (s *lagSampler) Series() []Lag {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Lag(nil), s.series...)
}

// close ends the sampler's sessions; call it once run has returned.
func (s *lagSampler) close() {
	s.sampling.Lock()
	defer s.sampling.Unlock()
	for name, c := range s.conns {
		closeQuickly(c)
		delete(s.conns, name)
	}
}

// closeQuickly ends a session without waiting on a node that is cut off.
func closeQuickly(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), sampleTimeout)
	defer cancel()
	c.Close(ctx)
}

// follower returns the sampled follower named name.
func (s *lagSampler) follower(name string) (stack.NodeStatus, bool) {
	for _, n := range s.followers {
		if n.Name == name {
			return n, true
		}
	}
	return stack.NodeStatus{}, false
}

// identity says which copy of the data a node serves: its system
// identifier (kept by every copy of one cluster) and when its server
// started (a rebuilt follower starts again).
type identity struct {
	SystemID string
	Started  time.Time
}

// identityOf reads node n's identity on a session of its own.
func (s *lagSampler) identityOf(ctx context.Context, n stack.NodeStatus) (identity, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := s.connect(ctx, n)
	if err != nil {
		return identity{}, fmt.Errorf("connecting to %s: %w", n.Name, err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	var id identity
	if err := c.QueryRow(ctx, identitySQL).Scan(&id.SystemID, &id.Started); err != nil {
		return identity{}, fmt.Errorf("reading the identity of %s: %w", n.Name, err)
	}
	return id, nil
}

// keysOn reads which of keys node n holds, once it has replayed all the
// primary had written when asked (waiting up to within for that).
func (s *lagSampler) keysOn(ctx context.Context, n stack.NodeStatus, keys []string, within time.Duration) (map[string]bool, error) {
	deadline := time.Now().Add(within)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		caught := false
		for _, l := range s.sampleOne(ctx, n) {
			caught = l.Bytes == 0
		}
		if caught || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := s.connect(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", n.Name, err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	rows, err := c.Query(ctx, `SELECT key FROM hastack_kv WHERE key = ANY($1)`, keys)
	if err != nil {
		return nil, fmt.Errorf("reading the written keys on %s: %w", n.Name, err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading the written keys on %s: %w", n.Name, err)
	}
	present := make(map[string]bool, len(found))
	for _, k := range found {
		present[k] = true
	}
	return present, nil
}

// sampleOne is sample limited to follower n, not recorded in the series.
func (s *lagSampler) sampleOne(ctx context.Context, n stack.NodeStatus) []Lag {
	one := &lagSampler{cfg: s.cfg, primary: s.primary, followers: []stack.NodeStatus{n}, conns: map[string]*pgx.Conn{}}
	defer one.close()
	return one.sample(ctx)
}
