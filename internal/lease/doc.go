// Package lease fences a database primary across regions: a region may
// acknowledge writes only while it holds a lease from a witness outside
// every region, and another region can take the lease only once the old
// holder's must have run out, even if the two cannot talk.
//
// # Parts
//
// A Witness (the global control plane, in the stack's witness failure
// domain) grants the lease to one region at a time over HTTP: Serve on a
// listener, Close, and Lease for who holds it and until when. A Keeper, one
// per region, talks to it from the region's own Source address:
//
//   - Acquire(ctx, wait) takes the lease; with wait it waits, within ctx,
//     until the old holder's lease may be taken over, else it fails at once
//     with a *HeldError (errors.Is(err, ErrHeld)).
//   - Run(ctx) renews it every third of its duration while the keeper
//     keeps it, and calls OnChange(false) when it stops counting it held,
//     on its own, whether or not the witness answers; OnChange(true) when
//     it holds it again (after Acquire, or when a renewal gets through
//     once a partition heals and no other region took the lease). A
//     renewal refused because another region took the lease ends the
//     keeping: the region does not take it back when that region's lease
//     lapses, only a new Acquire does. Without Run nothing is renewed
//     and nobody is told; Holds still tells the truth.
//   - Holds(now) says whether writes may be acknowledged at now.
//   - Release(ctx) gives it up at once (planned switchover), once the
//     owner has stopped writes.
//   - Status and Witness.Lease give the state for status and metrics.
//
// # Timing
//
// With lease duration D (the stack's fencing_lease):
//
//   - The holder counts its lease from the instant it sent the request the
//     witness granted, never from the answer: it expires at sentAt + D,
//     which is before the witness's receipt + D. An answer arriving after
//     that extends nothing.
//   - It renews every D/3; a request unanswered by the next is given up.
//   - It stops counting the lease held Margin before its expiry (default
//     D/4: 750ms of 3s, after two missed renewals) and tells OnChange then,
//     so that the owner has Margin to make the database refuse writes. The
//     owner must stop writes within Margin, or check Holds before each
//     acknowledgement.
//   - The witness lets another region take the lease at
//     receipt + D*(1+Drift) + Margin of the holder's last granted request
//     (Policy.TakeoverAt; defaults Drift 1%, Margin D/10: 3.33s for 3s),
//     measured on its own clock. So the old holder stopped writes at least
//     its Margin plus the witness's margin before the new holder starts, as
//     long as neither clock runs more than Drift apart in rate.
//   - A renewal reaching the witness after another region took the lease
//     is refused; the holder of a lapsed lease nobody took is renewed.
//   - A witness that starts without Fresh grants nothing for one takeover
//     bound, since a previous run of it may have granted a lease.
//
// The rules are the pure functions Decide (the witness), Hold.Answered,
// Hold.Holds (the holder), Policy.TakeoverAt and RenewEvery; the Witness
// and Keeper only carry them out, on an injected Clock.
package lease
