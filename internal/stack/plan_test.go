package stack

import (
	"testing"
	"time"

	"github.com/hastack/hastack/internal/spec"
)

func loadQuick(t *testing.T) *spec.Stack {
	t.Helper()
	s, err := spec.Load("../../examples/quick/stack.hcl")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name   string
		change func(*spec.Stack)
		want   []Change
	}{
		{"nothing", func(*spec.Stack) {}, nil},
		{"capacity is live", func(s *spec.Stack) { s.Regions[0].AutoScaling.Max = 6 },
			[]Change{{Region: "us-east-1", Path: "autoscaling.max", Old: "4", New: "6", Live: true}}},
		{"health check interval is live", func(s *spec.Stack) { s.Regions[1].LoadBalancer.HealthCheck.Interval = time.Second },
			[]Change{{Region: "us-west-2", Path: "load_balancer.health_check.interval", Old: "250ms", New: "1s", Live: true}}},
		{"alarm threshold is live", func(s *spec.Stack) { s.Regions[0].AutoScaling.ScaleOut.CPUThreshold = 80 },
			[]Change{{Region: "us-east-1", Path: "autoscaling.scale_out.cpu_threshold", Old: "25", New: "80", Live: true}}},
		{"listener port is not", func(s *spec.Stack) { s.Regions[0].LoadBalancer.Port = 9090 },
			[]Change{{Region: "us-east-1", Path: "load_balancer.port", Old: "8080", New: "9090",
				Reason: "the listener port cannot change while the stack runs; restart it (hastack down, then up)"}}},
		{"DNS TTL is not", func(s *spec.Stack) { s.DNS.TTL = 5 },
			[]Change{{Path: "dns.ttl", Old: "1", New: "5", Reason: "DNS settings cannot change while the stack runs; restart it (hastack down, then up)"}}},
		{"inter-region latency is live", func(s *spec.Stack) { s.Network = spec.Network{InterRegionLatency: 40 * time.Millisecond} },
			[]Change{{Path: "network.inter_region_auto", Old: "true", New: "false", Live: true},
				{Path: "network.inter_region_latency", Old: "0s", New: "40ms", Live: true}}},
		{"a new region is not", func(s *spec.Stack) { s.Regions = s.Regions[:1] },
			[]Change{{Path: "regions", Old: "us-east-1=primary, us-west-2=secondary", New: "us-east-1=primary",
				Reason: "adding, removing or re-roling regions needs a new stack (hastack down, then up)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, changed := loadQuick(t), loadQuick(t)
			tt.change(changed)
			got := Diff(old, changed)
			if len(got) != len(tt.want) {
				t.Fatalf("Diff = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("change %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{"HealthCheckGracePeriod": "health_check_grace_period", "CPUThreshold": "cpu_threshold", "TTL": "ttl", "MultiAZ": "multi_az", "Min": "min"} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}
