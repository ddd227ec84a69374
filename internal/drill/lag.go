package drill

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hastack/hastack/internal/dburl"
	"github.com/hastack/hastack/internal/stack"
)

// Lag is how far one follower trailed the primary at one instant.
type Lag struct {
	At   time.Time `json:"at"`
	Node string    `json:"node"`
	// Bytes of WAL the primary had written that the follower had not
	// replayed yet (PostgreSQL).
	Bytes int64 `json:"bytes"`
	// Transactions the primary had written that the follower had not
	// applied yet (MariaDB, from GTIDs).
	Transactions int64 `json:"transactions,omitempty"`
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
		if !found || l.Seconds > best.Seconds || (l.Seconds == best.Seconds && (l.Bytes > best.Bytes || l.Transactions > best.Transactions)) {
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

// sampleTimeout bounds one query of the sampler: a node cut off must not
// hold the drill up.
const sampleTimeout = 500 * time.Millisecond

// lagSampler reads the followers' lag straight from the database nodes,
// as the operator (from the operator's address, which their security
// groups let in), not from the stack's status: the primary measures its
// followers' replay lag over a round trip, which counts the way back too,
// while what a loss of the primary costs is how stale the follower is.
type lagSampler struct {
	eng       engineReader
	primary   stack.NodeStatus
	followers []stack.NodeStatus

	sampling sync.Mutex // one reading at a time; it owns conns and written
	conns    map[string]nodeSession
	// written is the primary's position at each recent reading, for an
	// engine whose followers cannot date what they applied.
	written []positionAt

	mu     sync.Mutex
	series []Lag
}

// positionAt is where the primary had written at an instant.
type positionAt struct {
	at  time.Time
	pos string
}

// writtenHistory bounds how far back the primary's positions are kept.
const writtenHistory = 2 * time.Minute

// nodeSession is a session with one database node.
type nodeSession interface {
	queryRow(ctx context.Context, query string, args ...any) interface{ Scan(...any) error }
	// strings runs a query whose rows are one text column.
	strings(ctx context.Context, query string, args ...any) ([]string, error)
	close()
	closed() bool
}

// engineReader is what the sampler asks of the database engine, as the
// application's user.
type engineReader interface {
	connect(ctx context.Context, host string, port uint16) (nodeSession, error)
	// written reads how far the primary has written.
	written(ctx context.Context, s nodeSession) (string, error)
	// applied reads how far a follower has applied, and the age of the
	// newest commit it applied where it can tell (ok false otherwise, or
	// when it applied none since it started).
	applied(ctx context.Context, s nodeSession) (pos string, sinceCommit float64, ok bool, err error)
	// behind measures a follower at applied against the primary at
	// written: bytes where the engine counts them, transactions where it
	// numbers them.
	behind(written, applied string) (bytes, transactions int64, err error)
	identity(ctx context.Context, s nodeSession) (identity, error)
	// keysQuery selects which of n keys of hastack_kv a node holds.
	keysQuery(n int) string
}

// newEngineReader reads the database of url (the writer endpoint's),
// with its credentials, in its engine's terms.
func newEngineReader(url string) (engineReader, error) {
	var eng engineReader
	var err error
	if dburl.IsMySQL(url) {
		eng, err = newMySQLReader(url)
	} else {
		eng, err = newPostgresReader(url)
	}
	if err != nil {
		return nil, redactURL(err, url)
	}
	return eng, nil
}

// newLagSampler samples the followers of the database as st shows it,
// with the credentials of url (the writer endpoint's).
func newLagSampler(url string, st stack.Status) (*lagSampler, error) {
	eng, err := newEngineReader(url)
	if err != nil {
		return nil, fmt.Errorf("reading the database URL: %w", err)
	}
	s := &lagSampler{eng: eng, conns: map[string]nodeSession{}}
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
	var written string
	err := s.query(ctx, s.primary, func(c nodeSession, qctx context.Context) (err error) {
		written, err = s.eng.written(qctx, c)
		return err
	})
	if err != nil {
		return nil
	}
	now := time.Now()
	s.written = append(s.written, positionAt{now, written})
	for len(s.written) > 1 && now.Sub(s.written[0].at) > writtenHistory {
		s.written = s.written[1:]
	}
	var out []Lag
	for _, n := range s.followers {
		var applied string
		var since float64
		var known bool
		err := s.query(ctx, n, func(c nodeSession, qctx context.Context) (err error) {
			applied, since, known, err = s.eng.applied(qctx, c)
			return err
		})
		if err != nil {
			continue
		}
		l := Lag{At: time.Now(), Node: n.Name}
		if l.Bytes, l.Transactions, err = s.eng.behind(written, applied); err != nil {
			continue
		}
		switch {
		case l.Bytes == 0 && l.Transactions == 0:
		case known:
			l.Seconds = max(since, 0)
		default:
			l.Seconds = s.staleSince(applied, l.At)
		}
		out = append(out, l)
	}
	s.mu.Lock()
	s.series = append(s.series, out...)
	s.mu.Unlock()
	return out
}

// staleSince is, for a follower at applied that cannot date what it
// applied, how long ago the primary had first written something it
// lacks, as far as the readings tell: 0 when no reading shows one.
func (s *lagSampler) staleSince(applied string, now time.Time) float64 {
	for _, w := range s.written {
		if b, t, err := s.eng.behind(w.pos, applied); err == nil && (b > 0 || t > 0) {
			return now.Sub(w.at).Seconds()
		}
	}
	return 0
}

// query runs q on node's session, opening one if needed, within
// sampleTimeout; a failed session is closed and opened again next time.
func (s *lagSampler) query(ctx context.Context, n stack.NodeStatus, q func(nodeSession, context.Context) error) error {
	qctx, cancel := context.WithTimeout(ctx, sampleTimeout)
	defer cancel()
	c := s.conns[n.Name]
	if c == nil || c.closed() {
		var err error
		if c, err = s.connect(qctx, n); err != nil {
			return err
		}
		s.conns[n.Name] = c
	}
	if err := q(c, qctx); err != nil {
		c.close()
		delete(s.conns, n.Name)
		return err
	}
	return nil
}

// connect opens a session to node n itself, not to an endpoint.
func (s *lagSampler) connect(ctx context.Context, n stack.NodeStatus) (nodeSession, error) {
	host, port, err := net.SplitHostPort(n.Address)
	if err != nil {
		return nil, fmt.Errorf("database node %s address %q: %w", n.Name, n.Address, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("database node %s address %q: %w", n.Name, n.Address, err)
	}
	return s.eng.connect(ctx, host, uint16(p))
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
		c.close()
		delete(s.conns, name)
	}
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
// identifier (kept by every copy of one cluster; MariaDB has none) and
// when its server started (a rebuilt follower starts again), known to
// within StartedWithin.
type identity struct {
	SystemID      string
	Started       time.Time
	StartedWithin time.Duration
}

// restartedSince reports whether the node's server started again between
// the reading b and the reading a.
func (a identity) restartedSince(b identity) bool {
	return a.Started.Sub(b.Started).Abs() > max(a.StartedWithin, b.StartedWithin)
}

// identityOf reads node n's identity on a session of its own.
func (s *lagSampler) identityOf(ctx context.Context, n stack.NodeStatus) (identity, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := s.connect(ctx, n)
	if err != nil {
		return identity{}, fmt.Errorf("connecting to %s: %w", n.Name, err)
	}
	defer c.close()
	id, err := s.eng.identity(ctx, c)
	if err != nil {
		return identity{}, fmt.Errorf("reading the identity of %s: %w", n.Name, err)
	}
	return id, nil
}

// keysOn reads which of keys node n holds, once it has applied all the
// primary had written when asked (waiting up to within for that).
func (s *lagSampler) keysOn(ctx context.Context, n stack.NodeStatus, keys []string, within time.Duration) (map[string]bool, error) {
	deadline := time.Now().Add(within)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		caught := false
		for _, l := range s.sampleOne(ctx, n) {
			caught = l.Bytes == 0 && l.Transactions == 0
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
	defer c.close()
	present, err := presentKeysIn(ctx, s.eng, c, keys)
	if err != nil {
		return nil, fmt.Errorf("reading the written keys on %s: %w", n.Name, err)
	}
	return present, nil
}

// presentKeysIn is which of keys the session's node holds in hastack_kv.
func presentKeysIn(ctx context.Context, eng engineReader, c nodeSession, keys []string) (map[string]bool, error) {
	present := make(map[string]bool, len(keys))
	// In batches: a statement takes a bounded number of parameters.
	for batch := range slices.Chunk(keys, 1000) {
		args := make([]any, len(batch))
		for i, k := range batch {
			args[i] = k
		}
		found, err := c.strings(ctx, eng.keysQuery(len(batch)), args...)
		if err != nil {
			return nil, err
		}
		for _, k := range found {
			present[k] = true
		}
	}
	return present, nil
}

// sampleOne is sample limited to follower n, not recorded in the series.
func (s *lagSampler) sampleOne(ctx context.Context, n stack.NodeStatus) []Lag {
	one := &lagSampler{eng: s.eng, primary: s.primary, followers: []stack.NodeStatus{n}, conns: map[string]nodeSession{}}
	defer one.close()
	return one.sample(ctx)
}
