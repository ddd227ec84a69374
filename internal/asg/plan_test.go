package asg

import (
	"slices"
	"testing"
	"time"
)

func TestPlan(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	in := func(id, az string, s State, age int) Instance {
		return Instance{ID: id, AZ: az, State: s, LaunchedAt: t0.Add(-time.Duration(age) * time.Minute)}
	}
	sick := func(i Instance) Instance { i.Health = Unhealthy; return i }
	two := []string{"a", "b"}
	three := []string{"a", "b", "c"}

	tests := []struct {
		name      string
		desired   int
		azs       []string
		instances []Instance
		blocked   map[string]bool
		want      []string // Action.Kind + " " + AZ or ID
	}{
		{name: "empty group stays empty", desired: 0, azs: two},
		{name: "3 over 2 AZs is 2+1", desired: 3, azs: two,
			want: []string{"launch a", "launch b", "launch a"}},
		{name: "launch goes to the AZ with fewest", desired: 3, azs: two,
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "a", InService, 5)},
			want:      []string{"launch b"}},
		{name: "tie goes to the first AZ", desired: 4, azs: three,
			instances: []Instance{in("i-1", "b", InService, 5)},
			want:      []string{"launch a", "launch c", "launch a"}},
		{name: "at capacity does nothing", desired: 2, azs: two,
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "b", Pending, 1)}},
		{name: "missing instance replaced in its AZ", desired: 2, azs: two,
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "b", Terminated, 5)},
			want:      []string{"launch b"}},
		{name: "terminating instance does not count", desired: 2, azs: two,
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "b", Terminating, 5)},
			want:      []string{"launch b"}},
		{name: "unhealthy instance terminated and replaced", desired: 2, azs: two,
			instances: []Instance{in("i-1", "a", InService, 5), sick(in("i-2", "b", Pending, 5))},
			want:      []string{"terminate i-2", "launch b"}},
		{name: "desired drops: terminate from the AZ with most", desired: 2, azs: two,
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "b", InService, 5), in("i-3", "b", InService, 5)},
			want:      []string{"terminate i-3"}},
		{name: "desired drops: tie takes the last AZ", desired: 1, azs: two,
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "b", InService, 5)},
			want:      []string{"terminate i-2"}},
		{name: "desired drops: newest first within the AZ", desired: 1, azs: two,
			instances: []Instance{in("i-1", "a", InService, 1), in("i-2", "a", InService, 9)},
			want:      []string{"terminate i-1"}},
		{name: "desired drops: pending before in-service", desired: 1, azs: two,
			instances: []Instance{in("i-1", "a", InService, 1), in("i-2", "a", Pending, 9)},
			want:      []string{"terminate i-2"}},
		{name: "desired drops to zero", desired: 0, azs: two,
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "b", InService, 5), in("i-3", "a", Pending, 1)},
			want:      []string{"terminate i-3", "terminate i-2", "terminate i-1"}},
		{name: "negative desired is zero", desired: -1, azs: two,
			instances: []Instance{in("i-1", "a", InService, 5)},
			want:      []string{"terminate i-1"}},
		{name: "blocked AZ skipped for launches", desired: 4, azs: three, blocked: map[string]bool{"b": true},
			want: []string{"launch a", "launch c", "launch a", "launch c"}},
		{name: "instances in a blocked AZ replaced elsewhere", desired: 2, azs: two, blocked: map[string]bool{"a": true},
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "b", InService, 5)},
			want:      []string{"terminate i-1", "launch b"}},
		{name: "every AZ blocked launches nothing", desired: 2, azs: two, blocked: map[string]bool{"a": true, "b": true},
			instances: []Instance{in("i-1", "a", InService, 5)},
			want:      []string{"terminate i-1"}},
		{name: "instance in an unknown AZ replaced", desired: 1, azs: two,
			instances: []Instance{in("i-1", "z", InService, 5)},
			want:      []string{"terminate i-1", "launch a"}},
		{name: "off by one is balanced", desired: 3, azs: two,
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "a", InService, 5), in("i-3", "b", InService, 5)}},
		{name: "rebalance: launch in the emptiest AZ first", desired: 2, azs: two,
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "a", InService, 5)},
			want:      []string{"rebalance b"}},
		{name: "rebalance: the fullest AZ keeps its instances while the new one is pending", desired: 2, azs: two,
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "a", InService, 5), in("i-3", "b", Pending, 0)}},
		{name: "rebalance: then terminate from the fullest AZ, newest first", desired: 2, azs: two,
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "a", InService, 4), in("i-3", "b", InService, 0)},
			want:      []string{"terminate i-2"}},
		{name: "rebalance after an AZ came back: one at a time", desired: 4, azs: three,
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "a", InService, 5), in("i-3", "b", InService, 5), in("i-4", "b", InService, 5)},
			want:      []string{"rebalance c"}},
		{name: "rebalance after an AZ came back: surplus from the last fullest AZ", desired: 4, azs: three,
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "a", InService, 5), in("i-3", "b", InService, 5), in("i-4", "b", InService, 5), in("i-5", "c", InService, 0)},
			want:      []string{"terminate i-4"}},
		{name: "no rebalance into a blocked AZ", desired: 2, azs: two, blocked: map[string]bool{"b": true},
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "a", InService, 5)}},
		{name: "no rebalance below desired: launches fill the emptiest AZ", desired: 3, azs: two,
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "a", InService, 5)},
			want:      []string{"launch b"}},
		{name: "blocked AZ: the replacement goes to the emptiest of the rest", desired: 3, azs: three, blocked: map[string]bool{"a": true},
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "b", InService, 5), in("i-3", "c", InService, 5)},
			want:      []string{"terminate i-1", "launch b"}},
		{name: "scale-in never drops in-service below desired for a pending one", desired: 1, azs: two,
			instances: []Instance{in("i-1", "a", Pending, 0), in("i-2", "b", InService, 5)}},
		{name: "scale-in takes the pending one when it can", desired: 1, azs: two,
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "b", Pending, 0)},
			want:      []string{"terminate i-2"}},
		{name: "scale-in of in-service instances while one is pending elsewhere", desired: 2, azs: two,
			instances: []Instance{in("i-1", "a", InService, 5), in("i-2", "a", InService, 4), in("i-3", "a", InService, 3), in("i-4", "b", Pending, 0)},
			want:      []string{"terminate i-3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, a := range Plan(tt.desired, tt.azs, tt.instances, tt.blocked) {
				if a.Reason == "" {
					t.Errorf("%v has no reason", a)
				}
				switch {
				case a.Kind == Launch && a.Rebalance:
					got = append(got, "rebalance "+a.AZ)
				case a.Kind == Launch:
					got = append(got, "launch "+a.AZ)
				case a.Kind == Terminate:
					got = append(got, "terminate "+a.ID)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Plan = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPlanIsPure(t *testing.T) {
	instances := []Instance{
		{ID: "i-2", AZ: "a", State: InService},
		{ID: "i-1", AZ: "a", State: InService},
	}
	before := slices.Clone(instances)
	first := Plan(1, []string{"a"}, instances, nil)
	second := Plan(1, []string{"a"}, instances, nil)
	if !slices.Equal(instances, before) {
		t.Errorf("Plan changed its input: %v", instances)
	}
	if !slices.Equal(first, second) {
		t.Errorf("Plan is not deterministic: %v then %v", first, second)
	}
}
