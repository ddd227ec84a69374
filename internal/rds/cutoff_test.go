package rds

import (
	"maps"
	"slices"
	"testing"
)

// TestReachedAgain: a region cut off from a promotion keeps its
// endpoints until a monitor pass sees it reach the primary, or it holds
// the primary itself.
func TestReachedAgain(t *testing.T) {
	tests := []struct {
		name      string
		cut       []string
		unreached []string
		primary   string
		want      []string
	}{
		{"still cut off", []string{east}, []string{east}, west, []string{east}},
		{"reaches the primary again", []string{east}, nil, west, nil},
		{"holds the primary", []string{east}, nil, east, nil},
		{"one of two", []string{east, "eu-west-1"}, []string{"eu-west-1"}, west, []string{"eu-west-1"}},
		{"none cut off", nil, []string{east}, west, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Cluster{cut: map[string]bool{}}
			for _, r := range tt.cut {
				c.cut[r] = true
			}
			obs := observation{Unreached: map[string]bool{}}
			for _, r := range tt.unreached {
				obs.Unreached[r] = true
			}
			c.reachedAgain(obs, tt.primary)
			got := slices.Sorted(maps.Keys(c.cut))
			if !slices.Equal(got, tt.want) {
				t.Fatalf("cut off after the pass: %q, want %q", got, tt.want)
			}
			for _, r := range tt.want {
				if !c.cutOff(r) {
					t.Errorf("cutOff(%s) = false", r)
				}
			}
			if c.cutOff(west) && !slices.Contains(tt.want, west) {
				t.Errorf("cutOff(%s) = true", west)
			}
		})
	}
}

// TestMarkCutOff: a promotion marks the old primary's region cut off
// when the monitor's last pass saw the promoting region not reach it.
func TestMarkCutOff(t *testing.T) {
	tests := []struct {
		name      string
		from      string
		unreached bool
		want      bool
	}{
		{"cut off from the promoting region", west, true, true},
		{"reached from it", west, false, false},
		{"a failover inside the region", east, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Cluster{obs: observation{Unreached: map[string]bool{tt.from: tt.unreached}}}
			c.markCutOff(tt.from, &node{cfg: NodeConfig{Name: nodeA, Region: east}})
			if got := c.cutOff(east); got != tt.want {
				t.Fatalf("cutOff(%s) = %v, want %v", east, got, tt.want)
			}
		})
	}
}
