package ledger

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config says where and how fast to write. Zero fields take the defaults.
type Config struct {
	// URL is written to, normally a writer endpoint: postgres:// (or any
	// form pgx takes) for PostgreSQL, mysql://user:password@host:port/db
	// for MySQL (MariaDB).
	URL string
	// Table holds the rows and is created if missing (default
	// "hastack_ledger"). Several ledgers may share it: each run writes
	// rows of its own.
	Table string
	// Rate is the writes per second of all writers together (default 50).
	Rate float64
	// Writers is the number of connections writing at once (default 2).
	Writers int
	// Duration bounds a run (default 10s).
	Duration time.Duration
	// Timeout bounds one write, connecting included (default 2s).
	Timeout time.Duration
}

var tableName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func (c Config) withDefaults() (Config, error) {
	if c.URL == "" {
		return c, errors.New("ledger: no database URL given")
	}
	if c.Table == "" {
		c.Table = "hastack_ledger"
	}
	if !tableName.MatchString(c.Table) {
		return c, fmt.Errorf("ledger: table name %q is not a plain lower-case identifier", c.Table)
	}
	if c.Rate <= 0 {
		c.Rate = 50
	}
	if c.Writers <= 0 {
		c.Writers = 2
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if err := checkURL(c.URL); err != nil {
		return c, fmt.Errorf("ledger: database URL: %w", err)
	}
	return c, nil
}

// Outcome is what became of one write.
type Outcome int

const (
	// Acked: the commit returned without error; the row must survive.
	Acked Outcome = iota + 1
	// Failed: refused before the commit was sent, or by the server; the
	// row is certainly not there.
	Failed
	// Unknown: the connection broke while the commit was in flight; the
	// row may or may not be there.
	Unknown
)

func (o Outcome) String() string {
	switch o {
	case Acked:
		return "acked"
	case Failed:
		return "failed"
	case Unknown:
		return "unknown"
	}
	return "pending"
}

// Write is one attempted write.
type Write struct {
	Seq     int64
	Writer  int
	Start   time.Time
	End     time.Time // when the outcome was known
	Outcome Outcome
	Err     string
}

// Ledger runs the writers and keeps their record.
type Ledger struct {
	cfg Config
	run string // this ledger's rows, among others in the table

	seq     atomic.Int64
	mu      sync.Mutex
	started time.Time
	writes  []Write
}

// New checks cfg; nothing is written until Run.
func New(cfg Config) (*Ledger, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	id := make([]byte, 8)
	rand.Read(id)
	return &Ledger{cfg: cfg, run: hex.EncodeToString(id)}, nil
}

// Run creates the table if missing, then writes at the configured rate
// until the duration has passed or ctx ends, and returns once every
// writer has stopped. It fails only when the table cannot be created;
// failed writes are recorded, not returned.
func (l *Ledger) Run(ctx context.Context) error {
	if err := l.createTable(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Duration)
	defer cancel()
	l.mu.Lock()
	l.started = time.Now()
	l.mu.Unlock()
	interval := time.Duration(float64(time.Second) * float64(l.cfg.Writers) / l.cfg.Rate)
	var wg sync.WaitGroup
	for w := range l.cfg.Writers {
		wg.Go(func() { l.writer(ctx, w, interval) })
	}
	wg.Wait()
	return nil
}

func (l *Ledger) createTable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	conn, err := l.connect(ctx, l.cfg.URL)
	if err != nil {
		return fmt.Errorf("ledger: connecting to create table %s: %w", l.cfg.Table, err)
	}
	defer conn.close()
	if err := conn.createTable(ctx, l.cfg.Table); err != nil {
		return fmt.Errorf("ledger: creating table %s: %w", l.cfg.Table, err)
	}
	return nil
}

// writer writes one row per tick on its own connection, reconnecting
// after a broken one.
func (l *Ledger) writer(ctx context.Context, id int, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var conn session
	defer func() {
		if conn != nil {
			conn.close()
		}
	}()
	for {
		w := Write{Seq: l.seq.Add(1), Writer: id, Start: time.Now()}
		wctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
		var err error
		if conn == nil {
			conn, err = l.connect(wctx, l.cfg.URL)
		}
		if err == nil {
			err = conn.insert(wctx, l.cfg.Table, l.run, w.Seq, id)
		}
		cancel()
		w.End = time.Now()
		w.Outcome = Failed // not connected: nothing was sent
		if conn != nil {
			w.Outcome = conn.outcome(err)
		}
		if err != nil {
			w.Err = err.Error()
			if conn != nil && conn.broken(err) {
				conn.close()
				conn = nil
			}
		}
		if ctx.Err() == nil || w.Outcome == Acked {
			l.record(w)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (l *Ledger) record(w Write) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes = append(l.writes, w)
}

// Writes returns every write recorded so far, in the order they ended.
func (l *Ledger) Writes() []Write {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.writes)
}

// Stats sums up the writes so far.
type Stats struct {
	Attempted, Acked, Failed, Unknown int
	// LongestGap is the longest time without an acknowledgement: between
	// two consecutive ones, or from the start to the first; GapStart is
	// when it began.
	LongestGap time.Duration
	GapStart   time.Time
}

// Stats sums up the writes so far.
func (l *Ledger) Stats() Stats {
	l.mu.Lock()
	started := l.started
	writes := slices.Clone(l.writes)
	l.mu.Unlock()
	var s Stats
	var acks []time.Time
	for _, w := range writes {
		s.Attempted++
		switch w.Outcome {
		case Acked:
			s.Acked++
			acks = append(acks, w.End)
		case Failed:
			s.Failed++
		case Unknown:
			s.Unknown++
		}
	}
	slices.SortFunc(acks, time.Time.Compare)
	prev := started
	for _, t := range acks {
		if gap := t.Sub(prev); gap > s.LongestGap {
			s.LongestGap, s.GapStart = gap, prev
		}
		prev = t
	}
	return s
}
