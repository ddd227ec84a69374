package metrics

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// State is an alarm's state, as CloudWatch names them.
type State string

const (
	StateOK               State = "OK"
	StateAlarm            State = "ALARM"
	StateInsufficientData State = "INSUFFICIENT_DATA"
)

// Comparison is how a datapoint is compared with the threshold; a
// datapoint that satisfies it breaches.
type Comparison string

const (
	GreaterThanOrEqualToThreshold Comparison = "GreaterThanOrEqualToThreshold"
	GreaterThanThreshold          Comparison = "GreaterThanThreshold"
	LessThanThreshold             Comparison = "LessThanThreshold"
	LessThanOrEqualToThreshold    Comparison = "LessThanOrEqualToThreshold"
)

// breaches reports whether v satisfies the comparison with threshold.
func (c Comparison) breaches(v, threshold float64) bool {
	switch c {
	case GreaterThanOrEqualToThreshold:
		return v >= threshold
	case GreaterThanThreshold:
		return v > threshold
	case LessThanThreshold:
		return v < threshold
	case LessThanOrEqualToThreshold:
		return v <= threshold
	}
	return false
}

// Phrase is the comparison in words, e.g. "greater than or equal to".
func (c Comparison) Phrase() string {
	switch c {
	case GreaterThanOrEqualToThreshold:
		return "greater than or equal to"
	case GreaterThanThreshold:
		return "greater than"
	case LessThanThreshold:
		return "less than"
	case LessThanOrEqualToThreshold:
		return "less than or equal to"
	}
	return string(c)
}

// Symbol is the comparison as an operator, e.g. ">=".
func (c Comparison) Symbol() string {
	switch c {
	case GreaterThanOrEqualToThreshold:
		return ">="
	case GreaterThanThreshold:
		return ">"
	case LessThanThreshold:
		return "<"
	case LessThanOrEqualToThreshold:
		return "<="
	}
	return string(c)
}

// AlarmConfig is a metric alarm's definition (CloudWatch PutMetricAlarm).
type AlarmConfig struct {
	// Name identifies the alarm in reasons and events.
	Name       string
	Threshold  float64
	Comparison Comparison
	// Period is the length of one datapoint: the average of the values
	// observed in it. Periods start at the alarm's start time.
	Period time.Duration
	// EvaluationPeriods is how many of the most recent complete periods
	// are evaluated (N).
	EvaluationPeriods int
	// DatapointsToAlarm of those must breach for ALARM (M of N; default,
	// when 0, EvaluationPeriods).
	DatapointsToAlarm int
}

// withDefaults fills in DatapointsToAlarm and checks cfg.
func (c AlarmConfig) withDefaults() (AlarmConfig, error) {
	if c.DatapointsToAlarm == 0 {
		c.DatapointsToAlarm = c.EvaluationPeriods
	}
	switch {
	case c.Period <= 0:
		return c, fmt.Errorf("alarm %q: period %s is not positive", c.Name, c.Period)
	case c.EvaluationPeriods < 1:
		return c, fmt.Errorf("alarm %q: evaluation periods %d is less than 1", c.Name, c.EvaluationPeriods)
	case c.DatapointsToAlarm < 1 || c.DatapointsToAlarm > c.EvaluationPeriods:
		return c, fmt.Errorf("alarm %q: datapoints to alarm %d is not between 1 and evaluation periods %d",
			c.Name, c.DatapointsToAlarm, c.EvaluationPeriods)
	case math.IsNaN(c.Threshold) || math.IsInf(c.Threshold, 0):
		return c, fmt.Errorf("alarm %q: threshold is not a number", c.Name)
	}
	switch c.Comparison {
	case GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold, LessThanOrEqualToThreshold:
	default:
		return c, fmt.Errorf("alarm %q: unknown comparison %q", c.Name, c.Comparison)
	}
	return c, nil
}

// Datapoint is one period's statistic.
type Datapoint struct {
	// Start of the period.
	Start   time.Time
	Average float64
	// Samples is how many values were observed in the period; 0 means the
	// datapoint is missing.
	Samples int
}

// Missing reports whether no value was observed in the period.
func (d Datapoint) Missing() bool { return d.Samples == 0 }

// AlarmStatus is an alarm's definition and state, for status displays.
type AlarmStatus struct {
	AlarmConfig
	State State
	// Reason says why the alarm is in its state, with the datapoints.
	Reason string
	// Since is when the alarm entered its state.
	Since time.Time
	// Datapoints are the last evaluated periods, oldest first.
	Datapoints []Datapoint
}

type bucket struct {
	sum float64
	n   int
}

// Alarm watches one metric as a CloudWatch metric alarm does:
//
//   - values observed in one period are averaged into that period's
//     datapoint; a period with no value has a missing datapoint;
//   - Evaluate looks at the last EvaluationPeriods complete periods before
//     now (the period now falls in is not complete yet);
//   - ALARM when at least DatapointsToAlarm of them breach the threshold;
//     INSUFFICIENT_DATA when all of them are missing; OK otherwise (a
//     missing datapoint neither breaches nor blocks OK).
//
// An alarm starts in INSUFFICIENT_DATA. It reads no clock: every time comes
// from the caller. It is not safe for concurrent use.
type Alarm struct {
	cfg     AlarmConfig
	origin  time.Time
	buckets map[int64]bucket // by period index from origin
	state   State
	reason  string
	since   time.Time
	window  []Datapoint
}

// NewAlarm returns an alarm whose first period starts at start.
func NewAlarm(cfg AlarmConfig, start time.Time) (*Alarm, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Alarm{
		cfg:     cfg,
		origin:  start,
		buckets: map[int64]bucket{},
		state:   StateInsufficientData,
		reason:  "Unchecked: initial alarm creation",
		since:   start,
	}, nil
}

// Config returns the alarm's definition, defaults filled in.
func (a *Alarm) Config() AlarmConfig { return a.cfg }

// Reconfigure changes the alarm's definition and keeps its state until the
// next Evaluate, as updating a CloudWatch alarm does. Observations are kept
// unless the period changes.
func (a *Alarm) Reconfigure(cfg AlarmConfig) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if cfg.Period != a.cfg.Period {
		clear(a.buckets)
	}
	a.cfg = cfg
	return nil
}

// index is the number of the period t falls in.
func (a *Alarm) index(t time.Time) int64 {
	d := t.Sub(a.origin)
	i := int64(d / a.cfg.Period)
	if d < 0 && d%a.cfg.Period != 0 {
		i-- // floor, not truncation
	}
	return i
}

// Observe records value v at time t. NaN is ignored.
func (a *Alarm) Observe(t time.Time, v float64) {
	if math.IsNaN(v) {
		return
	}
	i := a.index(t)
	b := a.buckets[i]
	b.sum += v
	b.n++
	a.buckets[i] = b
}

// Evaluate decides the alarm's state at now from the last
// EvaluationPeriods complete periods, and reports whether it changed.
func (a *Alarm) Evaluate(now time.Time) (State, bool) {
	cur := a.index(now)
	n := int64(a.cfg.EvaluationPeriods)
	for i := range a.buckets {
		if i < cur-n {
			delete(a.buckets, i)
		}
	}
	window := make([]Datapoint, 0, n)
	breaching, present := 0, 0
	for i := cur - n; i < cur; i++ {
		d := Datapoint{Start: a.origin.Add(time.Duration(i) * a.cfg.Period)}
		if b, ok := a.buckets[i]; ok && b.n > 0 {
			d.Average, d.Samples = b.sum/float64(b.n), b.n
			present++
			if a.cfg.Comparison.breaches(d.Average, a.cfg.Threshold) {
				breaching++
			}
		}
		window = append(window, d)
	}
	a.window = window

	var next State
	var reason string
	switch {
	case breaching >= a.cfg.DatapointsToAlarm:
		next = StateAlarm
		reason = fmt.Sprintf("Threshold Crossed: %d of the last %d datapoints %s %s %s the threshold (%s) (minimum %d for ALARM)",
			breaching, n, formatDatapoints(window), plural(breaching, "was", "were"),
			a.cfg.Comparison.Phrase(), formatValue(a.cfg.Threshold), a.cfg.DatapointsToAlarm)
	case present == 0:
		next = StateInsufficientData
		reason = fmt.Sprintf("Insufficient Data: none of the last %d periods of %s has a datapoint", n, a.cfg.Period)
	default:
		next = StateOK
		reason = fmt.Sprintf("Threshold Crossed: %d of the last %d datapoints %s %s %s the threshold (%s) (minimum %d for ALARM)",
			breaching, n, formatDatapoints(window), plural(breaching, "was", "were"),
			a.cfg.Comparison.Phrase(), formatValue(a.cfg.Threshold), a.cfg.DatapointsToAlarm)
	}
	changed := next != a.state
	if changed {
		a.state, a.since = next, now
	}
	a.reason = reason
	return next, changed
}

// State returns the state decided by the last Evaluate.
func (a *Alarm) State() State { return a.state }

// Status returns the alarm's definition, state and last evaluated window.
func (a *Alarm) Status() AlarmStatus {
	return AlarmStatus{AlarmConfig: a.cfg, State: a.state, Reason: a.reason, Since: a.since,
		Datapoints: append([]Datapoint(nil), a.window...)}
}

// formatDatapoints lists a window's averages oldest first, "-" for missing.
func formatDatapoints(w []Datapoint) string {
	parts := make([]string, len(w))
	for i, d := range w {
		if d.Missing() {
			parts[i] = "-"
		} else {
			parts[i] = formatValue(d.Average)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func formatValue(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
