package lease

import (
	"testing"
	"time"
)

var (
	t0     = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	policy = Policy{Duration: 3 * time.Second, Drift: 0.01, Margin: 300 * time.Millisecond}
)

func at(d time.Duration) time.Time { return t0.Add(d) }

const ms = time.Millisecond

func TestTakeoverAt(t *testing.T) {
	tests := []struct {
		p    Policy
		d    time.Duration
		want time.Duration
	}{
		{policy, 3 * time.Second, 3*time.Second + 30*ms + 300*ms},
		{policy, time.Second, time.Second + 10*ms + 300*ms},
		{Policy{Duration: time.Second}, time.Second, time.Second},
		{Policy{Duration: 10 * time.Second, Drift: 0.5, Margin: time.Second}, 10 * time.Second, 16 * time.Second},
	}
	for _, tt := range tests {
		if got := tt.p.TakeoverAt(t0, tt.d).Sub(t0); got != tt.want {
			t.Errorf("%+v: TakeoverAt(t0, %s) = t0+%s, want t0+%s", tt.p, tt.d, got, tt.want)
		}
	}
}

func TestGrant(t *testing.T) {
	for _, tt := range []struct{ asked, want time.Duration }{
		{3 * time.Second, 3 * time.Second},
		{time.Second, time.Second},
		{time.Minute, 3 * time.Second},
		{0, 3 * time.Second},
		{-time.Second, 3 * time.Second},
	} {
		if got := policy.Grant(tt.asked); got != tt.want {
			t.Errorf("Grant(%s) = %s, want %s", tt.asked, got, tt.want)
		}
	}
}

func TestDecide(t *testing.T) {
	const east, west = "us-east-1", "us-west-2"
	// held: east holds epoch 3, granted at t0 for 3s; free at t0+3.33s.
	held := Lease{Holder: east, Epoch: 3, Duration: 3 * time.Second, Renewed: t0, Expires: at(3 * time.Second), FreeAt: at(3330 * ms)}
	free := Lease{}
	quiet := Lease{FreeAt: at(3330 * ms)} // a witness that just started
	released := Lease{Epoch: 3, Duration: 3 * time.Second, Renewed: t0, Expires: at(time.Second), FreeAt: at(time.Second)}
	acquire := func(r string) Request { return Request{Op: OpAcquire, Region: r, Duration: 3 * time.Second} }
	renew := func(r string) Request { return Request{Op: OpRenew, Region: r, Duration: 3 * time.Second} }
	granted := func(holder string, epoch uint64, now, d time.Duration) Lease {
		return Lease{Holder: holder, Epoch: epoch, Duration: d, Renewed: at(now), Expires: at(now + d), FreeAt: policy.TakeoverAt(at(now), d)}
	}
	tests := []struct {
		name    string
		l       Lease
		req     Request
		now     time.Duration
		granted bool
		retry   time.Duration
		want    Lease
	}{
		{"first acquire", free, acquire(east), 0, true, 0, granted(east, 1, 0, 3*time.Second)},
		{"acquire while a new witness is quiet", quiet, acquire(east), time.Second, false, 2330 * ms, quiet},
		{"acquire once the quiet is over", quiet, acquire(east), 3330 * ms, true, 0, granted(east, 1, 3330*ms, 3*time.Second)},
		{"renewal by the holder", held, renew(east), time.Second, true, 0, granted(east, 3, time.Second, 3*time.Second)},
		{"acquire by the holder renews", held, acquire(east), time.Second, true, 0, granted(east, 3, time.Second, 3*time.Second)},
		{"renewal after expiry, before takeover", held, renew(east), 3100 * ms, true, 0, granted(east, 3, 3100*ms, 3*time.Second)},
		{"renewal of a lapsed lease nobody took", held, renew(east), time.Minute, true, 0, granted(east, 3, time.Minute, 3*time.Second)},
		{"takeover before the bound", held, acquire(west), 3329 * ms, false, ms, held},
		{"takeover a nanosecond early", held, acquire(west), 3330*ms - 1, false, 1, held},
		{"takeover at the bound", held, acquire(west), 3330 * ms, true, 0, granted(west, 4, 3330*ms, 3*time.Second)},
		{"renewal by another region never takes it", held, renew(west), time.Minute, false, 0, held},
		{"renewal of a free lease", free, renew(east), 0, false, 0, free},
		{"renewal after a restart", quiet, renew(east), time.Minute, false, 0, quiet},
		{"acquire after a release", released, acquire(west), time.Second, true, 0, granted(west, 4, time.Second, 3*time.Second)},
		{"renewal after a release", released, renew(east), time.Second, false, 0, released},
		{"release by the holder", held, Request{Op: OpRelease, Region: east}, time.Second, false, 0,
			Lease{Epoch: 3, Duration: 3 * time.Second, Renewed: t0, Expires: at(time.Second), FreeAt: at(time.Second)}},
		{"release by another region", held, Request{Op: OpRelease, Region: west}, time.Second, false, 0, held},
		{"release of a free lease", free, Request{Op: OpRelease, Region: east}, time.Second, false, 0, free},
		{"longer lease asked", free, Request{Op: OpAcquire, Region: east, Duration: time.Hour}, 0, true, 0, granted(east, 1, 0, 3*time.Second)},
		{"shorter lease asked", free, Request{Op: OpAcquire, Region: east, Duration: time.Second}, 0, true, 0, granted(east, 1, 0, time.Second)},
		{"a shorter renewal keeps the bound", held, Request{Op: OpRenew, Region: east, Duration: 200 * ms}, time.Second, true, 0,
			Lease{Holder: east, Epoch: 3, Duration: 200 * ms, Renewed: at(time.Second), Expires: at(1200 * ms), FreeAt: at(3330 * ms)}},
		{"no region", free, Request{Op: OpAcquire}, 0, false, 0, free},
		{"unknown operation", held, Request{Op: "steal", Region: west}, time.Minute, false, 0, held},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, a := Decide(tt.l, tt.req, at(tt.now), policy)
			if got != tt.want {
				t.Errorf("lease after:\n got %+v\nwant %+v", got, tt.want)
			}
			if a.Granted != tt.granted || a.RetryAfter != tt.retry || a.Lease != got {
				t.Errorf("answer = %+v, want granted %v, retry after %s, the lease after", a, tt.granted, tt.retry)
			}
			if a.Granted && a.Duration != got.Duration {
				t.Errorf("granted %s, the lease records %s", a.Duration, got.Duration)
			}
		})
	}
}

func TestHoldAnswered(t *testing.T) {
	grant := func(d time.Duration, epoch uint64) Answer {
		return Answer{Granted: true, Duration: d, Lease: Lease{Epoch: epoch}}
	}
	refused := Answer{Lease: Lease{Holder: "us-west-2", Epoch: 4}}
	const d = 3 * time.Second
	tests := []struct {
		name         string
		h            Hold
		sent, arrive time.Duration
		a            Answer
		want         Hold
	}{
		{"first grant counts from the send", Hold{}, 0, 20 * ms, grant(d, 1), Hold{Expiry: at(d), Epoch: 1}},
		{"renewal extends", Hold{Expiry: at(d), Epoch: 1}, time.Second, time.Second + 5*ms, grant(d, 1), Hold{Expiry: at(4 * time.Second), Epoch: 1}},
		{"slow answer still counts from the send", Hold{}, 0, 2 * time.Second, grant(d, 1), Hold{Expiry: at(d), Epoch: 1}},
		{"answer after the expiry revives nothing", Hold{Expiry: at(d), Epoch: 1}, time.Second, 5 * time.Second, grant(d, 1),
			Hold{Expiry: at(4 * time.Second), Epoch: 1}},
		{"older answer after a newer one", Hold{Expiry: at(5 * time.Second), Epoch: 1}, time.Second, 2500 * ms, grant(d, 1),
			Hold{Expiry: at(5 * time.Second), Epoch: 1}},
		{"more than asked is not taken", Hold{}, 0, ms, grant(time.Hour, 1), Hold{Expiry: at(d), Epoch: 1}},
		{"less than asked", Hold{}, 0, ms, grant(time.Second, 1), Hold{Expiry: at(time.Second), Epoch: 1}},
		{"refusal ends the hold now", Hold{Expiry: at(d), Epoch: 1}, time.Second, 1100 * ms, refused, Hold{Expiry: at(1100 * ms), Epoch: 1}},
		{"refusal after the expiry", Hold{Expiry: at(d), Epoch: 1}, 4 * time.Second, 4100 * ms, refused, Hold{Expiry: at(d), Epoch: 1}},
		{"refusal of a keeper holding nothing", Hold{}, 0, ms, refused, Hold{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.h.Answered(at(tt.sent), d, tt.a, at(tt.arrive)); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	// The late answer above leaves the lease over.
	late := Hold{Expiry: at(d)}.Answered(at(time.Second), d, grant(d, 1), at(5*time.Second))
	if late.Holds(at(5*time.Second), 750*ms) {
		t.Error("an answer arriving after sentAt+D made the lease held again")
	}
}

func TestHolds(t *testing.T) {
	h := Hold{Expiry: at(3 * time.Second)}
	const margin = 750 * ms
	tests := []struct {
		h    Hold
		now  time.Duration
		want bool
	}{
		{h, 0, true},
		{h, 2250*ms - 1, true},
		{h, 2250 * ms, false}, // StopAt: margin before expiry
		{h, 3 * time.Second, false},
		{Hold{}, 0, false},
	}
	for _, tt := range tests {
		if got := tt.h.Holds(at(tt.now), margin); got != tt.want {
			t.Errorf("%+v.Holds(t0+%s) = %v, want %v", tt.h, tt.now, got, tt.want)
		}
	}
	if got := h.StopAt(margin); !got.Equal(at(2250 * ms)) {
		t.Errorf("StopAt = %s, want t0+2.25s", got.Sub(t0))
	}
}

func TestRenewEveryAndMargin(t *testing.T) {
	if got := RenewEvery(3 * time.Second); got != time.Second {
		t.Errorf("RenewEvery(3s) = %s", got)
	}
	if got := DefaultMargin(3 * time.Second); got != 750*ms {
		t.Errorf("DefaultMargin(3s) = %s", got)
	}
}

// TestRenewalRacingExpiry plays a holder's renewals against another
// region's takeover with requests delayed on the way, one clock for all:
// the holder never counts the lease held at or after the instant the
// witness grants it to the other region.
func TestRenewalRacingExpiry(t *testing.T) {
	const d, margin = 3 * time.Second, 750 * ms
	tests := []struct {
		name string
		// The holder's renewal: sent at, received by the witness at, answer back at.
		sent, received, back time.Duration
		// The other region's acquire reaches the witness at take.
		take time.Duration
	}{
		{"renewal well before the takeover", 1000 * ms, 1010 * ms, 1020 * ms, 3400 * ms},
		{"renewal held up in the network past expiry", 1000 * ms, 3200 * ms, 3210 * ms, 3400 * ms},
		{"renewal arriving just before the takeover", 1000 * ms, 3329 * ms, 3330 * ms, 3330 * ms},
		{"renewal arriving just after the takeover", 1000 * ms, 3331 * ms, 3332 * ms, 3330 * ms},
		{"answer arriving long after", 1000 * ms, 1010 * ms, 9000 * ms, 9000 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The holder was granted at t0 (sent at t0 too).
			w := Lease{}
			w, a := Decide(w, Request{Op: OpAcquire, Region: "a", Duration: d}, t0, policy)
			h := Hold{}.Answered(t0, d, a, t0)

			type event struct {
				at time.Duration
				do func()
			}
			renewal := Request{Op: OpRenew, Region: "a", Duration: d}
			var ra Answer
			var takenAt time.Time
			events := []event{
				{tt.received, func() { w, ra = Decide(w, renewal, at(tt.received), policy) }},
				{tt.take, func() {
					var b Answer
					if w, b = Decide(w, Request{Op: OpAcquire, Region: "b", Duration: d}, at(tt.take), policy); b.Granted {
						takenAt = at(tt.take)
					}
				}},
			}
			if tt.take < tt.received {
				events[0], events[1] = events[1], events[0]
			}
			for _, e := range events {
				e.do()
			}
			h = h.Answered(at(tt.sent), d, ra, at(tt.back))
			if takenAt.IsZero() {
				if w.Holder != "a" {
					t.Fatalf("nobody took the lease, but the witness records %q", w.Holder)
				}
				if w.FreeAt.Before(h.Expiry) {
					t.Errorf("the witness frees the lease at %s, before the holder's expiry at %s", w.FreeAt.Sub(t0), h.Expiry.Sub(t0))
				}
				return
			}
			if !h.StopAt(margin).Before(takenAt) {
				t.Errorf("the holder counts the lease held until %s, the other region has it from %s",
					h.StopAt(margin).Sub(t0), takenAt.Sub(t0))
			}
			if h.Holds(takenAt, margin) || h.Holds(at(tt.back), margin) && !at(tt.back).Before(takenAt) {
				t.Errorf("the holder holds the lease after the takeover at %s", takenAt.Sub(t0))
			}
		})
	}
}
