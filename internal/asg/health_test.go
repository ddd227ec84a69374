package asg

import (
	"strings"
	"testing"
	"time"
)

func TestCheckHealth(t *testing.T) {
	launched := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	elb := HealthCheck{Type: HealthCheckELB, GracePeriod: 300 * time.Second}
	inService := Instance{ID: "i-1", State: InService, LaunchedAt: launched}
	pending := Instance{ID: "i-1", State: Pending, LaunchedAt: launched}
	after := func(d time.Duration) time.Time { return launched.Add(d) }

	tests := []struct {
		name    string
		hc      HealthCheck
		inst    Instance
		verdict string
		now     time.Time
		want    bool
	}{
		{"ELB unhealthy during grace is ignored", elb, inService, "unhealthy", after(299*time.Second + 999*time.Millisecond), false},
		{"ELB unhealthy right at the end of grace counts", elb, inService, "unhealthy", after(300 * time.Second), true},
		{"ELB unhealthy after grace counts", elb, inService, "unhealthy", after(time.Hour), true},
		{"ELB healthy", elb, inService, "healthy", after(time.Hour), false},
		{"ELB initial is not unhealthy", elb, inService, "initial", after(time.Hour), false},
		{"ELB draining is not unhealthy", elb, inService, "draining", after(time.Hour), false},
		{"ELB unused is not unhealthy", elb, inService, "unused", after(time.Hour), false},
		{"ELB no verdict", elb, inService, "", after(time.Hour), false},
		{"ELB pending instance is not judged", elb, pending, "unhealthy", after(time.Hour), false},
		{"ELB zero grace counts at once", HealthCheck{Type: HealthCheckELB}, inService, "unhealthy", launched, true},
		{"EC2 ignores the load balancer", HealthCheck{Type: HealthCheckEC2}, inService, "unhealthy", after(time.Hour), false},
		{"empty type is EC2", HealthCheck{}, inService, "unhealthy", after(time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := CheckHealth(tt.hc, tt.inst, tt.verdict, tt.now)
			if got != tt.want {
				t.Fatalf("CheckHealth = %v (%q), want %v", got, why, tt.want)
			}
			if got != (why != "") {
				t.Errorf("reason %q with unhealthy %v", why, got)
			}
		})
	}
	_, why := CheckHealth(elb, inService, "unhealthy", after(301500*time.Millisecond))
	if !strings.Contains(why, "5m1.5s after launch") || !strings.Contains(why, "grace period 5m0s") {
		t.Errorf("reason %q lacks the numbers", why)
	}
}
