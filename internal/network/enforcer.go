package network

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Queue numbers are global to the kernel; each enforcer binds a free one,
// starting from a number derived from its stack's name.
const (
	queueBase  = 20000
	queueRange = 4000
	queueTries = 1000
)

// drainFor is how long a stopping enforcer keeps reading, to let go the
// packets the kernel queued just before its rules were removed.
const drainFor = 50 * time.Millisecond

// maxReadFailures is how many reads in a row may fail before the enforcer
// gives up.
const maxReadFailures = 100

// Config configures an Enforcer.
type Config struct {
	// Stack names the nftables table, TableName(Stack). Required.
	Stack string
	// Logger reports packets the kernel refused a verdict for. Default:
	// discard.
	Logger *slog.Logger
}

// Enforcer makes the kernel enforce one stack's State: nftables rules in
// the stack's table, and the delay, jitter and loss of impaired packets,
// which the kernel hands to the enforcer through a netfilter queue and the
// enforcer lets go when due. Apply may be called at any time; Start must
// run for impaired packets to flow.
type Enforcer struct {
	table string
	q     *queue
	log   *slog.Logger
	room  *waitRoom

	imps     atomic.Pointer[[]Impairment]
	rules    atomic.Pointer[[]Rule] // in force, to judge held packets again
	draining atomic.Bool
	started  atomic.Bool

	mu      sync.Mutex // serialises Apply and the stop
	plan    Plan
	stopped bool

	packets, delayed, dropped, cutOff, refused atomic.Uint64
}

// Stats counts the packets the enforcer was handed.
type Stats struct {
	Packets uint64 // handed over by an Impair rule
	Delayed uint64 // let go after a delay
	Dropped uint64 // dropped by a loss
	CutOff  uint64 // held when a partition cut their path, and dropped
	Refused uint64 // verdicts for packets the kernel had dropped already
	Waiting int    // held now
}

var errStopped = errors.New("the network enforcer has stopped")

// New checks for CAP_NET_ADMIN, removes a table the stack may have left
// behind (a killed hastack) and binds a netfilter queue. The stack's
// network is unrestricted until the first Apply.
func New(cfg Config) (*Enforcer, error) {
	if cfg.Stack == "" {
		return nil, errors.New("network enforcer: no stack name")
	}
	if err := CheckNetAdmin(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	table := TableName(cfg.Stack)
	if err := removeTable(table); err != nil {
		return nil, err
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(table))
	q, err := openQueue(queueBase+uint16(h.Sum32()%queueRange), queueTries)
	if err != nil {
		return nil, err
	}
	e := &Enforcer{table: table, q: q, log: log, room: newWaitRoom()}
	e.imps.Store(&[]Impairment{})
	e.rules.Store(&[]Rule{})
	return e, nil
}

// Table is the name of the stack's nftables table.
func (e *Enforcer) Table() string { return e.table }

// Plan is the plan last applied.
func (e *Enforcer) Plan() Plan {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.plan
}

// Stats counts the impaired packets so far.
func (e *Enforcer) Stats() Stats {
	return Stats{
		Packets: e.packets.Load(),
		Delayed: e.delayed.Load(),
		Dropped: e.dropped.Load(),
		CutOff:  e.cutOff.Load(),
		Refused: e.refused.Load(),
		Waiting: e.room.len(),
	}
}

// Apply makes the kernel enforce s instead of the previous state, in one
// nftables transaction.
func (e *Enforcer) Apply(s State) error {
	plan, err := Compile(s)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return errStopped
	}
	// Impairments first: a packet the new rules hand over must find them.
	prev := e.imps.Load()
	imps := plan.Impairments
	e.imps.Store(&imps)
	if err := writeRules(e.table, plan.Rules, e.q.num); err != nil {
		e.imps.Store(prev)
		return err
	}
	rules := plan.Rules
	e.rules.Store(&rules)
	e.plan = plan
	return nil
}

// Start lets impaired packets go when due, until ctx is done; then it
// removes the stack's table, lets every held packet go and unbinds the
// queue, leaving nothing behind. It returns early with an error if the
// queue cannot be read.
func (e *Enforcer) Start(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("the network enforcer was already started")
	}
	readErr := make(chan error, 1)
	go func() { readErr <- e.read() }()

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var failed error
loop:
	for {
		pkts, next := e.room.due(time.Now())
		e.release(pkts)
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			break loop
		case <-e.room.wake:
		case <-timer.C:
		case failed = <-readErr:
			break loop
		}
	}
	return errors.Join(failed, e.stop(readErr, failed != nil))
}

// read hands each queued packet to its fate until the queue is closed or
// interrupted while draining.
func (e *Enforcer) read() error {
	var seq sequencer
	failures := 0
	for {
		pkts, err := e.q.receive()
		if err != nil {
			if e.draining.Load() {
				return nil
			}
			// The kernel reports a refused verdict as an error message on
			// the same socket. It refuses one for every packet it dropped
			// from the queue meanwhile, which it does to all queued
			// packets whenever any hooked chain in the namespace goes
			// (another stack's table, say): hundreds at once, and no
			// failure of the queue.
			if verdictRefused(err) {
				e.refused.Add(1)
				continue
			}
			if failures++; failures > maxReadFailures || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
				return fmt.Errorf("reading the netfilter queue: %w", err)
			}
			e.log.Debug("netfilter queue error", "err", err)
			continue
		}
		failures = 0
		now := time.Now()
		for _, p := range pkts {
			e.handle(p, now, &seq)
		}
	}
}

func (e *Enforcer) handle(p queuedPacket, now time.Time, seq *sequencer) {
	e.packets.Add(1)
	if !p.ipv4 || e.draining.Load() {
		e.verdict(p.id, true)
		return
	}
	drop, delay := decide(effectOn(*e.imps.Load(), p.src, p.dst), rand.Float64(), rand.Float64())
	switch {
	case drop:
		e.dropped.Add(1)
		e.verdict(p.id, false)
	case delay <= 0:
		e.verdict(p.id, true)
	default:
		e.delayed.Add(1)
		e.room.hold(p, seq.release(pairKey{p.src, p.dst}, now, delay))
	}
}

// release lets held packets go, but for those whose path a partition has
// cut meanwhile: a packet still on its way when a link is cut (or when
// its region loses power) is lost with the link, as netem's queue on a
// sender that goes dark would lose it.
func (e *Enforcer) release(pkts []held) {
	rules := *e.rules.Load()
	for _, p := range pkts {
		if cut(rules, p.src, p.dst) {
			e.cutOff.Add(1)
			e.verdict(p.id, false)
			continue
		}
		e.verdict(p.id, true)
	}
}

// acceptAll lets every held packet go: the rules are gone.
func (e *Enforcer) acceptAll() {
	for _, p := range e.room.all() {
		e.verdict(p.id, true)
	}
}

// verdictRefused: err is the kernel's answer to a verdict for a packet it
// no longer holds (ENOENT), which no read of the socket itself returns.
func verdictRefused(err error) bool {
	return errors.Is(err, unix.ENOENT)
}

func (e *Enforcer) verdict(id uint32, accept bool) {
	if err := e.q.verdict(id, accept); err != nil {
		e.log.Debug("netfilter queue verdict refused", "packet", id, "err", err)
	}
}

// stop removes the table, lets held and late packets go and closes the
// queue. readErr delivers the reader's result, already taken when
// readerGone.
func (e *Enforcer) stop(readErr chan error, readerGone bool) error {
	e.mu.Lock()
	e.stopped = true
	e.mu.Unlock()
	e.draining.Store(true)
	err := removeTable(e.table)
	e.acceptAll()
	if !readerGone {
		_ = e.q.conn.SetReadDeadline(time.Now().Add(drainFor))
		if rerr := <-readErr; rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	e.acceptAll()
	return errors.Join(err, e.q.close())
}

// Close releases an enforcer that was never started: it removes the
// stack's table and unbinds the queue. Once Start has run, stopping it
// does this, and Close does nothing.
func (e *Enforcer) Close() error {
	if !e.started.CompareAndSwap(false, true) {
		return nil
	}
	e.mu.Lock()
	e.stopped = true
	e.mu.Unlock()
	return errors.Join(removeTable(e.table), e.q.close())
}
