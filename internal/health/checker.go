package health

import (
	"context"
	"time"
)

// Prober runs one check.
type Prober interface {
	Check(ctx context.Context) Result
}

// Checker runs a probe on an interval and feeds a Counter. Run blocks until
// its context is done.
type Checker struct {
	Probe    Prober
	Interval time.Duration
	// Offset delays the first check, so independent checkers spread out.
	Offset  time.Duration
	Counter *Counter
	// Report is called after every check with the result, the state after it
	// and whether the state changed. It runs on the checker's goroutine.
	Report func(r Result, s State, changed bool)
}

// Run checks until ctx is done.
func (c *Checker) Run(ctx context.Context) {
	timer := time.NewTimer(c.Offset)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		r := c.Probe.Check(ctx)
		if ctx.Err() != nil {
			return
		}
		s, changed := c.Counter.Observe(r.Passed)
		if c.Report != nil {
			c.Report(r, s, changed)
		}
		// The interval runs from the start of one check to the next, as AWS
		// schedules them; a slow check does not stretch it.
		next := c.Interval - time.Since(r.At)
		if next < 0 {
			next = 0
		}
		timer.Reset(next)
	}
}
