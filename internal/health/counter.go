package health

// State is what a run of results adds up to.
type State int

const (
	// Initial: no verdict yet (a newly registered target).
	Initial State = iota
	Healthy
	Unhealthy
)

func (s State) String() string {
	switch s {
	case Healthy:
		return "healthy"
	case Unhealthy:
		return "unhealthy"
	default:
		return "initial"
	}
}

// Thresholds are the consecutive results needed to change state.
type Thresholds struct {
	// Healthy consecutive passes turn an unhealthy endpoint healthy.
	Healthy int
	// Unhealthy consecutive failures turn a healthy or initial endpoint unhealthy.
	Unhealthy int
}

// Counter turns a sequence of pass/fail results into a state. It is a pure
// state machine: no clock, no I/O.
//
// From Initial, the first pass is enough to become Healthy, as an ALB treats
// a newly registered target; Unhealthy needs the full failure threshold.
type Counter struct {
	th     Thresholds
	state  State
	passes int
	fails  int
}

// NewCounter starts a counter in the given state.
func NewCounter(th Thresholds, start State) *Counter {
	return &Counter{th: th, state: start}
}

// State is the current verdict.
func (c *Counter) State() State { return c.state }

// Observe records one result and returns the state after it and whether it changed.
func (c *Counter) Observe(passed bool) (State, bool) {
	before := c.state
	if passed {
		c.fails = 0
		c.passes++
		if c.state == Initial || (c.state == Unhealthy && c.passes >= c.th.Healthy) {
			c.state = Healthy
		}
	} else {
		c.passes = 0
		c.fails++
		if c.state != Unhealthy && c.fails >= c.th.Unhealthy {
			c.state = Unhealthy
		}
	}
	return c.state, c.state != before
}

// SetThresholds changes the thresholds, keeping the state and counts.
func (c *Counter) SetThresholds(th Thresholds) { c.th = th }
