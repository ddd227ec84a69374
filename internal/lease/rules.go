package lease

import (
	"time"
)

// Op is what a region asks the witness.
type Op string

const (
	// OpAcquire takes the lease: granted to its holder, or to anyone once
	// the lease is free (released, or past FreeAt).
	OpAcquire Op = "acquire"
	// OpRenew extends the lease of its holder only; it never takes a
	// lease that is free or held by another region.
	OpRenew Op = "renew"
	// OpRelease gives the lease up at once, so another region may take it
	// without waiting; only the holder's release counts.
	OpRelease Op = "release"
)

// Request is one question to the witness.
type Request struct {
	Op     Op     `json:"op"`
	Region string `json:"region"`
	// Duration is the lease the region asks for; the witness grants at
	// most its own Duration.
	Duration time.Duration `json:"duration_ns"`
}

// Answer is the witness's reply to a Request.
type Answer struct {
	Granted bool `json:"granted"`
	// Duration granted; the holder counts it from when it sent the request.
	Duration time.Duration `json:"duration_ns,omitempty"`
	// Lease is the witness's record after deciding: who holds it, until when.
	Lease Lease `json:"lease"`
	// RetryAfter, on an acquire refused, is how long until the lease may
	// be taken, on the witness's clock.
	RetryAfter time.Duration `json:"retry_after_ns,omitempty"`
}

// Lease is the witness's record of the lease. Times are on the witness's
// clock.
type Lease struct {
	// Holder is the region that holds it, or "" when none does.
	Holder string `json:"holder"`
	// Epoch counts the grants to a new holder: a fencing token that only
	// grows.
	Epoch uint64 `json:"epoch"`
	// Duration of the last grant.
	Duration time.Duration `json:"duration_ns"`
	// Renewed is when the witness granted the holder's last request.
	Renewed time.Time `json:"renewed"`
	// Expires is Renewed + Duration: the holder's own expiry is no later.
	Expires time.Time `json:"expires"`
	// FreeAt is the earliest instant another region may take the lease:
	// the holder's lease must have run out by then, even on a clock
	// running at the worst allowed rate (Policy.TakeoverAt).
	FreeAt time.Time `json:"free_at"`
	// From is the source address of the holder's last granted request.
	From string `json:"from,omitempty"`
}

// Policy is the witness's timing.
type Policy struct {
	// Duration is the longest lease granted.
	Duration time.Duration
	// Drift bounds how much a holder's clock may run slower than the
	// witness's, as a fraction (0.01: 1%).
	Drift float64
	// Margin is added on top, for the holder's owner taking a little
	// longer than planned to stop writes, and for scheduling delays.
	Margin time.Duration
}

// Grant is the duration granted for asked: asked, at most p.Duration;
// p.Duration when asked is not positive.
func (p Policy) Grant(asked time.Duration) time.Duration {
	if asked <= 0 || asked > p.Duration {
		return p.Duration
	}
	return asked
}

// TakeoverAt is the earliest instant another region may take a lease of
// duration d whose holder's request the witness granted at receivedAt.
// The holder counts d from when it sent that request, which is before
// receivedAt, so on a clock running at the witness's rate its lease is
// over by receivedAt + d; Drift covers a slower clock, Margin the rest.
func (p Policy) TakeoverAt(receivedAt time.Time, d time.Duration) time.Time {
	drift := time.Duration(float64(d) * p.Drift)
	return receivedAt.Add(d + drift + p.Margin)
}

// Decide is the witness's rule: the answer to req arriving at now, and
// the record after it.
//
//   - A renewal is granted to the holder only: a holder whose lease ran
//     out is renewed while no other region has taken it, but a renewal
//     arriving after another region took the lease is refused.
//   - An acquire is granted to the holder, or to anyone once the lease is
//     free: released, never granted, or past FreeAt. Otherwise it is
//     refused with the time left until FreeAt.
//   - A release by the holder frees the lease at once.
//
// Each grant moves FreeAt to TakeoverAt(now, d), never earlier than it was.
func Decide(l Lease, req Request, now time.Time, p Policy) (Lease, Answer) {
	switch {
	case req.Region == "" || req.Op != OpAcquire && req.Op != OpRenew && req.Op != OpRelease:
		return l, Answer{Lease: l}
	case req.Op == OpRelease:
		if req.Region == l.Holder {
			l.Holder = ""
			l.FreeAt = now
			if l.Expires.After(now) {
				l.Expires = now
			}
		}
		return l, Answer{Lease: l}
	case req.Op == OpRenew && req.Region != l.Holder:
		return l, Answer{Lease: l}
	case req.Region != l.Holder && now.Before(l.FreeAt):
		return l, Answer{Lease: l, RetryAfter: l.FreeAt.Sub(now)}
	}
	d := p.Grant(req.Duration)
	if req.Region != l.Holder {
		l.Holder = req.Region
		l.Epoch++
	}
	l.Duration = d
	l.Renewed = now
	l.Expires = now.Add(d)
	if free := p.TakeoverAt(now, d); free.After(l.FreeAt) {
		l.FreeAt = free
	}
	return l, Answer{Granted: true, Duration: d, Lease: l}
}

// RenewEvery is how often a holder renews a lease of duration d: three
// tries before it runs out.
func RenewEvery(d time.Duration) time.Duration { return d / 3 }

// DefaultMargin is how long before its expiry a holder stops counting a
// lease of duration d held, unless told otherwise: a quarter of it (750ms
// of 3s), after two renewals were missed.
func DefaultMargin(d time.Duration) time.Duration { return d / 4 }

// Hold is a holder's view of its lease, on its own clock.
type Hold struct {
	// Expiry is when the lease is over: the send time of the last granted
	// request plus the duration granted. Zero: never held.
	Expiry time.Time
	// Epoch of the last grant.
	Epoch uint64
}

// Answered is the hold after the answer a to a request for a lease of
// asked, sent at sentAt, arrived at now. A grant counts from sentAt, never
// from its arrival, so the holder's expiry is never later than the
// witness's view; an answer arriving after sentAt + d revives nothing. A
// refusal ends the hold at now at the latest.
func (h Hold) Answered(sentAt time.Time, asked time.Duration, a Answer, now time.Time) Hold {
	if !a.Granted {
		if h.Expiry.After(now) {
			h.Expiry = now
		}
		return h
	}
	d := a.Duration
	if d <= 0 || d > asked {
		d = asked
	}
	if e := sentAt.Add(d); e.After(h.Expiry) {
		h.Expiry = e
		h.Epoch = a.Lease.Epoch
	}
	return h
}

// StopAt is when the holder stops counting the lease held: margin before
// its expiry, so that its owner has margin to stop writes.
func (h Hold) StopAt(margin time.Duration) time.Time { return h.Expiry.Add(-margin) }

// Holds reports whether writes may be acknowledged at now: before StopAt.
func (h Hold) Holds(now time.Time, margin time.Duration) bool {
	return !h.Expiry.IsZero() && now.Before(h.StopAt(margin))
}
