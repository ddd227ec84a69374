package network

import (
	"container/heap"
	"sync"
	"time"
)

// decide is the fate of one packet under effect e, given two uniform random
// numbers in [0, 1): dropped, or let go after delay.
func decide(e Effect, u1, u2 float64) (drop bool, delay time.Duration) {
	if e.Loss > 0 && u1*100 < e.Loss {
		return true, 0
	}
	delay = e.Delay + time.Duration((2*u2-1)*float64(e.Jitter))
	return false, max(delay, 0)
}

// pairKey names a source and destination address pair.
type pairKey struct{ src, dst uint32 }

// sequencer keeps the packets between two addresses in the order they were
// sent: jitter varies each packet's delay, but a packet never leaves before
// one sent earlier on the same path, as on a real link (netem reorders;
// TCP over a reordering link would retransmit needlessly).
type sequencer struct {
	last map[pairKey]time.Time
}

// release is when a packet from src to dst that arrived at now and should
// wait delay may go.
func (s *sequencer) release(k pairKey, now time.Time, delay time.Duration) time.Time {
	if s.last == nil {
		s.last = map[pairKey]time.Time{}
	}
	at := now.Add(delay)
	if prev, ok := s.last[k]; ok && prev.After(at) {
		at = prev
	}
	s.last[k] = at
	if len(s.last) > 4096 {
		for key, t := range s.last {
			if !t.After(now) {
				delete(s.last, key)
			}
		}
	}
	return at
}

// held is a packet waiting for its release time.
type held struct {
	at       time.Time
	seq      uint64 // arrival order, for packets due at the same instant
	id       uint32
	src, dst uint32
}

type heldHeap []held

func (h heldHeap) Len() int { return len(h) }
func (h heldHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h heldHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *heldHeap) Push(x any)   { *h = append(*h, x.(held)) }
func (h *heldHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// waitRoom holds delayed packets until they are due.
type waitRoom struct {
	mu   sync.Mutex
	h    heldHeap
	seq  uint64
	wake chan struct{}
}

func newWaitRoom() *waitRoom { return &waitRoom{wake: make(chan struct{}, 1)} }

// hold keeps packet p until at.
func (w *waitRoom) hold(p queuedPacket, at time.Time) {
	w.mu.Lock()
	w.seq++
	heap.Push(&w.h, held{at: at, seq: w.seq, id: p.id, src: p.src, dst: p.dst})
	first := w.h[0].seq == w.seq
	w.mu.Unlock()
	if first {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// due takes the packets due at now, in order, and tells when the next one
// is (zero when none waits).
func (w *waitRoom) due(now time.Time) (pkts []held, next time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.h) > 0 && !w.h[0].at.After(now) {
		pkts = append(pkts, heap.Pop(&w.h).(held))
	}
	if len(w.h) > 0 {
		next = w.h[0].at
	}
	return pkts, next
}

// all takes every waiting packet.
func (w *waitRoom) all() []held {
	w.mu.Lock()
	defer w.mu.Unlock()
	pkts := make([]held, 0, len(w.h))
	for len(w.h) > 0 {
		pkts = append(pkts, heap.Pop(&w.h).(held))
	}
	return pkts
}

func (w *waitRoom) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.h)
}
