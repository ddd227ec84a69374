package lease

import "time"

// Clock is the time source of the keeper's and the witness's loops, so
// that tests drive the timing rules without the wall clock.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that sends the time on the channel once d
	// has passed.
	NewTimer(d time.Duration) (Timer, <-chan time.Time)
}

// Timer is a pending NewTimer.
type Timer interface {
	// Stop prevents the timer from firing; it reports whether it stopped
	// it.
	Stop() bool
}

// systemClock is the machine's clock. Its readings carry the monotonic
// clock, so stepping the wall clock moves no expiry.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) (Timer, <-chan time.Time) {
	t := time.NewTimer(d)
	return t, t.C
}
