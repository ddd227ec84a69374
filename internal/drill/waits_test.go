package drill

import (
	"testing"
	"time"

	"github.com/hastack/hastack/internal/spec"
)

func loadExample(t *testing.T, name string) *spec.Stack {
	t.Helper()
	s, err := spec.Load("../../examples/" + name + "/stack.hcl")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDefaultWaits(t *testing.T) {
	quick, seed := loadExample(t, "quick"), loadExample(t, "two-region")
	automatic := *seed
	automatic.Database.CrossRegionFailover = "automatic"
	sustain := 2 * time.Second
	tests := []struct {
		name     string
		stack    *spec.Stack
		scenario string
		want     Waits
	}{
		// 0.5 s × 3 + 250 ms + 500 ms to flip DNS, 1 s TTL, 2 s sustained,
		// 30 s margin. Its restore: two database nodes rejoin (15 s each),
		// the instances' checks, then Route53's.
		{"quick, region failure", quick, "region-failure",
			Waits{Recovery: 35250 * time.Millisecond, Restore: (30000 + 500 + 200 + 2250 + 30000) * time.Millisecond}},
		// The seed: 30 s × 3 + 4 s + 2 s, 60 s TTL, 2 s, 30 s. Its restore:
		// two nodes rejoin, 30 s × 2 + 5 s for the instances' checks, then
		// Route53's 96 s.
		{"two-region, region failure", seed, "region-failure",
			Waits{Recovery: 188 * time.Second, Restore: (30 + 65 + 96 + 30) * time.Second}},
		// Automatic promotion waits region_failover_after (60 s) more.
		{"two-region, automatic", &automatic, "region-failure-automatic",
			Waits{Recovery: 248 * time.Second, Restore: 221 * time.Second}},
		{"two-region, an unknown scenario is a region loss", seed, "region-crash",
			Waits{Recovery: 188 * time.Second, Restore: 221 * time.Second}},
		// failover_detection 10 s; the instances' checks 30 s × 2 + 5 s.
		{"two-region, db failover", seed, "db-failover",
			Waits{Recovery: 42 * time.Second, Restore: 95 * time.Second}},
		// The targets' checks (65 s) outlast failover_detection; the
		// relaunched instances wait out the 300 s grace period.
		{"two-region, az failure", seed, "az-failure",
			Waits{Recovery: 97 * time.Second, Restore: 395 * time.Second}},
		{"two-region, az isolation waits as az failure", seed, "az-isolation",
			Waits{Recovery: 97 * time.Second, Restore: 395 * time.Second}},
		{"two-region, replication partition restores as a region", seed, "replication-partition",
			Waits{Recovery: 188 * time.Second, Restore: 221 * time.Second}},
		{"quick, instance failure", quick, "instance-failure",
			Waits{Recovery: 32700 * time.Millisecond, Restore: 30 * time.Second}},
		// Two steps from 2 to 4 of 2 × 60 s alarm + 300 s cooldown + 65 s;
		// back in, 2 × (120 s + 300 s + 300 s deregistration delay).
		{"two-region, scale-out", seed, "scale-out",
			Waits{Recovery: (2*485 + 32) * time.Second, Restore: (2*720 + 30) * time.Second}},
		{"no stack file", nil, "region-failure", Waits{Recovery: time.Minute, Restore: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DefaultWaits(tt.stack, tt.scenario, sustain); got != tt.want {
				t.Fatalf("DefaultWaits = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestDefaultWaitsCoverTheSeedsFailover: with the seed's values the wait
// for recovery must outlast what the seed's own configuration can take, so
// a drill with default flags does not give up on a failover still in
// progress (the old fixed minute did).
func TestDefaultWaitsCoverTheSeedsFailover(t *testing.T) {
	seed := loadExample(t, "two-region")
	floor := seed.DNS.HealthCheck.Interval*time.Duration(seed.DNS.HealthCheck.FailureThreshold) + time.Duration(seed.DNS.TTL)*time.Second
	if floor != 150*time.Second {
		t.Fatalf("the seed's failover floor is %v, want 30 s × 3 + 60 s", floor)
	}
	if got := DefaultWaits(seed, "region-failure", 2*time.Second); got.Recovery <= floor+2*time.Second {
		t.Fatalf("recovery wait %v does not outlast the seed's failover floor %v", got.Recovery, floor)
	}
}

func TestOptionsTimeoutOverridesWaits(t *testing.T) {
	sc, err := Find("region-failure")
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Timeout: 5 * time.Second, Stack: loadExample(t, "two-region")}
	if got := o.defaults(sc); got != (Waits{Recovery: 5 * time.Second, Restore: 5 * time.Second}) {
		t.Fatalf("waits with --timeout 5s = %+v", got)
	}
	o = Options{Stack: loadExample(t, "two-region")}
	if got := o.defaults(sc); got.Recovery != 188*time.Second || o.Sustain != 2*time.Second {
		t.Fatalf("derived waits %+v, sustain %v", got, o.Sustain)
	}
}
