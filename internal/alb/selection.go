package alb

import (
	"fmt"
	"sync/atomic"
)

// Algorithms a target group can route with.
const (
	AlgorithmRoundRobin       = "round_robin"
	AlgorithmLeastOutstanding = "least_outstanding_requests"
)

// Selector picks the target for one request from a non-empty list. It is
// called concurrently from every request.
type Selector interface {
	Select(targets []*target) *target
}

var (
	_ Selector = (*roundRobin)(nil)
	_ Selector = (*leastOutstanding)(nil)
)

func newSelector(algorithm string) (Selector, error) {
	switch algorithm {
	case AlgorithmRoundRobin:
		return &roundRobin{}, nil
	case AlgorithmLeastOutstanding:
		return &leastOutstanding{}, nil
	default:
		return nil, fmt.Errorf("unknown load balancing algorithm %q (want %q or %q)",
			algorithm, AlgorithmRoundRobin, AlgorithmLeastOutstanding)
	}
}

// roundRobin takes the targets in turn.
type roundRobin struct {
	next atomic.Uint64
}

func (p *roundRobin) Select(targets []*target) *target {
	if len(targets) == 0 {
		return nil
	}
	return targets[(p.next.Add(1)-1)%uint64(len(targets))]
}

// leastOutstanding takes the target with the fewest requests in flight;
// ties go round robin, so equally idle targets share the load.
type leastOutstanding struct {
	next atomic.Uint64
}

func (p *leastOutstanding) Select(targets []*target) *target {
	n := uint64(len(targets))
	if n == 0 {
		return nil
	}
	start := (p.next.Add(1) - 1) % n
	best := targets[start]
	least := best.inflight.Load()
	for i := uint64(1); i < n && least > 0; i++ {
		t := targets[(start+i)%n]
		if c := t.inflight.Load(); c < least {
			best, least = t, c
		}
	}
	return best
}
