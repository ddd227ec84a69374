package metrics

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// at is t0 plus s seconds.
func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func TestAlarmMOfN(t *testing.T) {
	type obs struct {
		at float64 // seconds after the alarm's start
		v  float64
	}
	type check struct {
		at      float64
		want    State
		changed bool
	}
	// Every alarm has a 10 s period and a threshold of 70.
	tests := []struct {
		name   string
		cmp    Comparison
		n, m   int
		obs    []obs
		checks []check
	}{
		{
			name: "2 of 2: ALARM exactly when the second breaching period completes",
			cmp:  GreaterThanOrEqualToThreshold, n: 2, m: 2,
			obs: []obs{{1, 80}, {11, 90}},
			checks: []check{
				{0, StateInsufficientData, false},
				{9.999, StateInsufficientData, false},
				{10, StateOK, true},      // [- 80]: one breach of two needed
				{19.999, StateOK, false}, // period 1 not complete
				{20, StateAlarm, true},   // [80 90]
				{29.999, StateAlarm, false},
				{30, StateOK, true},                // [90 -]
				{40, StateInsufficientData, true},  // [- -]
				{40, StateInsufficientData, false}, // evaluating again changes nothing
			},
		},
		{
			name: "threshold itself breaches GreaterThanOrEqual",
			cmp:  GreaterThanOrEqualToThreshold, n: 1, m: 1,
			obs:    []obs{{0, 70}},
			checks: []check{{10, StateAlarm, true}},
		},
		{
			name: "threshold itself does not breach GreaterThan",
			cmp:  GreaterThanThreshold, n: 1, m: 1,
			obs:    []obs{{0, 70}},
			checks: []check{{10, StateOK, true}},
		},
		{
			name: "threshold itself does not breach LessThan",
			cmp:  LessThanThreshold, n: 1, m: 1,
			obs:    []obs{{0, 70}, {10, 69.9}},
			checks: []check{{10, StateOK, true}, {20, StateAlarm, true}},
		},
		{
			name: "threshold itself breaches LessThanOrEqual",
			cmp:  LessThanOrEqualToThreshold, n: 1, m: 1,
			obs:    []obs{{0, 70}},
			checks: []check{{10, StateAlarm, true}},
		},
		{
			name: "the period's average counts, not single values",
			cmp:  GreaterThanOrEqualToThreshold, n: 1, m: 1,
			obs:    []obs{{0, 100}, {5, 30}, {10, 100}, {15, 40}},
			checks: []check{{10, StateOK, true}, {20, StateAlarm, true}}, // 65, then 70
		},
		{
			name: "2 of 3: a dip in between still alarms",
			cmp:  GreaterThanOrEqualToThreshold, n: 3, m: 2,
			obs: []obs{{1, 80}, {11, 50}, {21, 90}, {31, 50}, {41, 50}},
			checks: []check{
				{10, StateOK, true},    // [- - 80]
				{20, StateOK, false},   // [- 80 50]
				{30, StateAlarm, true}, // [80 50 90]
				{40, StateOK, true},    // [50 90 50]
			},
		},
		{
			name: "3 of 3 needs every period",
			cmp:  GreaterThanOrEqualToThreshold, n: 3, m: 3,
			obs: []obs{{1, 80}, {11, 80}, {21, 69}, {31, 80}, {41, 80}, {51, 80}},
			checks: []check{
				{30, StateOK, true},
				{40, StateOK, false},
				{50, StateOK, false},   // [69 80 80]
				{60, StateAlarm, true}, // [80 80 80]
			},
		},
		{
			name: "missing datapoints neither breach nor block OK",
			cmp:  GreaterThanOrEqualToThreshold, n: 3, m: 2,
			obs: []obs{{1, 80}, {21, 80}},
			checks: []check{
				{20, StateOK, true},    // [- 80 -]
				{30, StateAlarm, true}, // [80 - 80]
				{40, StateOK, true},    // [- 80 -]
			},
		},
		{
			name: "an observation in the current period waits for it to complete",
			cmp:  GreaterThanOrEqualToThreshold, n: 1, m: 1,
			obs: []obs{{10, 80}},
			checks: []check{
				{10, StateInsufficientData, false},
				{19.999, StateInsufficientData, false},
				{20, StateAlarm, true},
			},
		},
		{
			name: "observations older than the window are forgotten",
			cmp:  GreaterThanOrEqualToThreshold, n: 1, m: 1,
			obs: []obs{{1, 80}},
			checks: []check{
				{100, StateInsufficientData, false},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewAlarm(AlarmConfig{Name: "cpu", Threshold: 70, Comparison: tt.cmp, Period: 10 * time.Second,
				EvaluationPeriods: tt.n, DatapointsToAlarm: tt.m}, t0)
			if err != nil {
				t.Fatal(err)
			}
			// Observations are fed in time order, interleaved with checks,
			// as a sampler would: only what happened before a check is seen.
			oi := 0
			for _, c := range tt.checks {
				for oi < len(tt.obs) && tt.obs[oi].at < c.at {
					a.Observe(at(tt.obs[oi].at), tt.obs[oi].v)
					oi++
				}
				got, changed := a.Evaluate(at(c.at))
				if got != c.want || changed != c.changed {
					t.Errorf("at %gs: %s changed=%v, want %s changed=%v (%s)", c.at, got, changed, c.want, c.changed, a.Status().Reason)
				}
			}
		})
	}
}

func TestAlarmStatusAndReason(t *testing.T) {
	a, err := NewAlarm(AlarmConfig{Name: "cpu-high", Threshold: 70, Comparison: GreaterThanOrEqualToThreshold,
		Period: time.Second, EvaluationPeriods: 3, DatapointsToAlarm: 2}, t0)
	if err != nil {
		t.Fatal(err)
	}
	st := a.Status()
	if st.State != StateInsufficientData || !st.Since.Equal(t0) || st.DatapointsToAlarm != 2 {
		t.Errorf("initial status %+v", st)
	}
	a.Observe(at(0.5), 85.25)
	a.Observe(at(2.5), 90)
	a.Observe(at(2.6), 91)
	if s, changed := a.Evaluate(at(3)); s != StateAlarm || !changed {
		t.Fatalf("Evaluate = %s, %v", s, changed)
	}
	st = a.Status()
	want := "Threshold Crossed: 2 of the last 3 datapoints [85.2 - 90.5] were greater than or equal to the threshold (70.0) (minimum 2 for ALARM)"
	if st.Reason != want {
		t.Errorf("reason\n got %s\nwant %s", st.Reason, want)
	}
	if !st.Since.Equal(at(3)) || len(st.Datapoints) != 3 || !st.Datapoints[1].Missing() ||
		st.Datapoints[2].Samples != 2 || !st.Datapoints[2].Start.Equal(at(2)) {
		t.Errorf("status %+v", st)
	}
}

func TestAlarmIgnoresNaN(t *testing.T) {
	a, err := NewAlarm(AlarmConfig{Name: "x", Threshold: 1, Comparison: LessThanThreshold, Period: time.Second, EvaluationPeriods: 1}, t0)
	if err != nil {
		t.Fatal(err)
	}
	a.Observe(at(0), math.NaN())
	if s, _ := a.Evaluate(at(1)); s != StateInsufficientData {
		t.Errorf("a NaN observation gave %s", s)
	}
}

func TestAlarmReconfigure(t *testing.T) {
	a, err := NewAlarm(AlarmConfig{Name: "x", Threshold: 70, Comparison: GreaterThanOrEqualToThreshold, Period: time.Second, EvaluationPeriods: 1}, t0)
	if err != nil {
		t.Fatal(err)
	}
	a.Observe(at(0.5), 60)
	if s, _ := a.Evaluate(at(1)); s != StateOK {
		t.Fatalf("got %s", s)
	}
	cfg := a.Config()
	cfg.Threshold = 50
	if err := a.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if a.State() != StateOK {
		t.Errorf("reconfiguring changed the state to %s before evaluating", a.State())
	}
	if s, changed := a.Evaluate(at(1.5)); s != StateAlarm || !changed {
		t.Errorf("after lowering the threshold: %s, %v", s, changed)
	}
	cfg.Period = 2 * time.Second
	if err := a.Reconfigure(cfg); err != nil {
		t.Fatal(err)
	}
	if s, _ := a.Evaluate(at(2)); s != StateInsufficientData {
		t.Errorf("a new period kept the old observations: %s", s)
	}
	cfg.EvaluationPeriods = 0
	if err := a.Reconfigure(cfg); err == nil {
		t.Error("Reconfigure accepted 0 evaluation periods")
	}
}

func TestNewAlarmRejectsBadConfig(t *testing.T) {
	good := AlarmConfig{Name: "x", Threshold: 70, Comparison: GreaterThanThreshold, Period: time.Second, EvaluationPeriods: 2}
	if a, err := NewAlarm(good, t0); err != nil || a.Config().DatapointsToAlarm != 2 {
		t.Fatalf("good config: %v; datapoints to alarm defaults to evaluation periods", err)
	}
	for name, edit := range map[string]func(*AlarmConfig){
		"zero period":          func(c *AlarmConfig) { c.Period = 0 },
		"no evaluation period": func(c *AlarmConfig) { c.EvaluationPeriods = 0 },
		"M above N":            func(c *AlarmConfig) { c.DatapointsToAlarm = 3 },
		"negative M":           func(c *AlarmConfig) { c.DatapointsToAlarm = -1 },
		"unknown comparison":   func(c *AlarmConfig) { c.Comparison = "Above" },
		"NaN threshold":        func(c *AlarmConfig) { c.Threshold = math.NaN() },
	} {
		c := good
		edit(&c)
		if _, err := NewAlarm(c, t0); err == nil {
			t.Errorf("%s: NewAlarm succeeded", name)
		} else if !strings.Contains(err.Error(), `"x"`) {
			t.Errorf("%s: error %q does not name the alarm", name, err)
		}
	}
}

func TestComparisonWords(t *testing.T) {
	for _, c := range []Comparison{GreaterThanOrEqualToThreshold, GreaterThanThreshold, LessThanThreshold, LessThanOrEqualToThreshold} {
		if c.Phrase() == string(c) || c.Symbol() == string(c) {
			t.Errorf("%s has no words", c)
		}
	}
	if got := fmt.Sprintf("%s %s", GreaterThanOrEqualToThreshold.Symbol(), LessThanThreshold.Symbol()); got != ">= <" {
		t.Errorf("symbols %q", got)
	}
}
