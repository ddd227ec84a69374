package alb

import (
	"strings"
	"testing"
)

func targetsWithLoad(loads ...int64) []*target {
	ts := make([]*target, len(loads))
	for i, n := range loads {
		ts[i] = &target{id: string(rune('a' + i))}
		ts[i].inflight.Store(n)
	}
	return ts
}

func picks(s Selector, ts []*target, n int) string {
	var out []byte
	for range n {
		out = append(out, s.Select(ts).id...)
	}
	return string(out)
}

func TestSelectors(t *testing.T) {
	tests := []struct {
		name      string
		algorithm string
		loads     []int64
		want      string
	}{
		{"round robin takes turns", AlgorithmRoundRobin, []int64{0, 0, 0}, "abcabc"},
		{"round robin ignores load", AlgorithmRoundRobin, []int64{9, 0}, "abab"},
		{"round robin single", AlgorithmRoundRobin, []int64{5}, "aaa"},
		{"least outstanding picks the idlest", AlgorithmLeastOutstanding, []int64{3, 1, 2}, "bbbb"},
		{"least outstanding shares ties", AlgorithmLeastOutstanding, []int64{0, 0}, "abab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newSelector(tt.algorithm)
			if err != nil {
				t.Fatal(err)
			}
			if got := picks(s, targetsWithLoad(tt.loads...), len(tt.want)); got != tt.want {
				t.Fatalf("picks %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLeastOutstandingSharesTiesAmongLeast(t *testing.T) {
	s, _ := newSelector(AlgorithmLeastOutstanding)
	got := picks(s, targetsWithLoad(1, 4, 1), 30)
	if strings.Contains(got, "b") || !strings.Contains(got, "a") || !strings.Contains(got, "c") {
		t.Fatalf("picks %q, want a and c only, both", got)
	}
}

func TestSelectorsEmpty(t *testing.T) {
	for _, alg := range []string{AlgorithmRoundRobin, AlgorithmLeastOutstanding} {
		s, _ := newSelector(alg)
		if got := s.Select(nil); got != nil {
			t.Errorf("%s: Select(nil) = %v, want nil", alg, got)
		}
	}
	if _, err := newSelector("random"); err == nil {
		t.Error("newSelector(random) succeeded")
	}
}
