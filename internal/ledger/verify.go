package ledger

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"
)

// Report is what Verify found.
type Report struct {
	// Acked writes, and how many of them are present and lost.
	Acked, Present, Lost int
	// LostSeqs are the first 100 lost sequence numbers, in order.
	LostSeqs []int64
	// FailedPresent counts writes recorded as failed whose row exists,
	// which means a misclassified outcome; it should be 0.
	FailedPresent int
	// RPO is the time whose acknowledged writes were lost: from the
	// acknowledgement of the last surviving write before the first lost one
	// (or the start of the run, when none survived before it) to the
	// acknowledgement of the last lost one. Zero when nothing was lost.
	RPO time.Duration
}

// maxLostSeqs caps Report.LostSeqs.
const maxLostSeqs = 100

// Verify reads this ledger's rows back through url (normally the new
// primary after a fault) and reports which acknowledged writes are
// missing. A missing table counts as no rows.
func (l *Ledger) Verify(ctx context.Context, url string) (Report, error) {
	present, err := l.readBack(ctx, url)
	if err != nil {
		return Report{}, err
	}
	l.mu.Lock()
	started := l.started
	writes := slices.Clone(l.writes)
	l.mu.Unlock()
	return Compare(writes, present, started), nil
}

func (l *Ledger) readBack(ctx context.Context, url string) (map[int64]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*l.cfg.Timeout)
	defer cancel()
	conn, err := l.connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("ledger: connecting to verify: %w", err)
	}
	defer conn.close()
	present, err := conn.seqs(ctx, l.cfg.Table, l.run)
	if err != nil {
		return nil, fmt.Errorf("ledger: reading rows back: %w", err)
	}
	return present, nil
}

// Compare matches a record of writes against the sequence numbers present
// in the database and reports every acknowledged write that is missing, and
// the RPO. It is hastack's one definition of a lost write and of RPO:
// Verify applies it to the ledger's own writes, drills to their clients'.
// Only End and Outcome of a write count. started is when writing began
// (zero: the earliest Start among writes); a loss with no surviving write
// acknowledged before it counts from there.
func Compare(writes []Write, present map[int64]bool, started time.Time) Report {
	var r Report
	var lost, kept []Write
	for _, w := range writes {
		switch {
		case w.Outcome == Acked && present[w.Seq]:
			r.Acked++
			r.Present++
			kept = append(kept, w)
		case w.Outcome == Acked:
			r.Acked++
			r.Lost++
			lost = append(lost, w)
		case w.Outcome == Failed && present[w.Seq]:
			r.FailedPresent++
		}
	}
	if len(lost) == 0 {
		return r
	}
	slices.SortFunc(lost, func(a, b Write) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, w := range lost[:min(len(lost), maxLostSeqs)] {
		r.LostSeqs = append(r.LostSeqs, w.Seq)
	}
	first, last := lost[0].End, lost[0].End
	for _, w := range lost {
		if w.End.Before(first) {
			first = w.End
		}
		if w.End.After(last) {
			last = w.End
		}
	}
	from := started
	if from.IsZero() {
		from = first
		for _, w := range writes {
			if !w.Start.IsZero() && w.Start.Before(from) {
				from = w.Start
			}
		}
	}
	for _, w := range kept {
		if !w.End.After(first) && w.End.After(from) {
			from = w.End
		}
	}
	r.RPO = last.Sub(from)
	return r
}
