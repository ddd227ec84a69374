package alb

import (
	"slices"
	"testing"
)

func TestRouteTo(t *testing.T) {
	const (
		i = StateInitial
		h = StateHealthy
		u = StateUnhealthy
		d = StateDraining
		n = StateUnused
	)
	tests := []struct {
		name     string
		states   []string
		take     []int
		failOpen bool
	}{
		{"no target", nil, nil, false},
		{"healthy only", []string{h, h}, []int{0, 1}, false},
		{"healthy among the others", []string{i, h, u, d, n, h}, []int{1, 5}, false},
		{"one healthy beats unhealthy ones", []string{u, u, h}, []int{2}, false},
		{"initial and healthy: the healthy one", []string{i, h}, []int{1}, false},
		{"all unhealthy: fail open to all", []string{u, u, u}, []int{0, 1, 2}, true},
		{"initial ones never checked do not count", []string{i, u, i, u}, []int{1, 3}, true},
		{"only initial: none available", []string{i, i}, nil, false},
		{"draining ones take nothing, even failing open", []string{d, u, d}, []int{1}, true},
		{"only draining: none available", []string{d, d}, nil, false},
		{"initial and draining: none available", []string{i, d}, nil, false},
		{"unused ones take nothing", []string{n, u}, []int{1}, true},
		{"only unused: none available", []string{n}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			take, failOpen := routeTo(tt.states)
			if !slices.Equal(take, tt.take) || failOpen != tt.failOpen {
				t.Errorf("routeTo(%v) = %v, fail open %v; want %v, fail open %v", tt.states, take, failOpen, tt.take, tt.failOpen)
			}
		})
	}
}
