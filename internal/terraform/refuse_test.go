package terraform

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/spec"
)

// TestQuickIsRefused: examples/quick runs with sub-second timings that no
// AWS service accepts; every one is named.
func TestQuickIsRefused(t *testing.T) {
	files, err := Export(example(t, "quick"), Options{})
	if files != nil {
		t.Error("Export returned files along with its error")
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Export(quick) = %v, want an *Error", err)
	}
	want := []string{
		"dns.health_check.request_interval is 500ms, but Route53 health checkers request every 10s or 30s.",
		"dns.health_check.connect_timeout is 250ms, but Route53 health checkers always allow 4s to connect.",
		"dns.health_check.response_timeout is 500ms, but Route53 health checkers always allow 2s for the answer once connected.",
		"load_balancer.health_check.interval is 250ms in us-east-1 and us-west-2, but an ALB target group checks every 5 to 300 whole seconds.",
		"load_balancer.health_check.timeout is 200ms in us-east-1 and us-west-2, but an ALB target group's check times out after 2 to 120 whole seconds.",
		"load_balancer.retry_on_connect_failure is true in us-east-1 and us-west-2, but an ALB never retries a request on another target.",
		"autoscaling.scale_out.period is 2s in us-east-1 and us-west-2, but EC2 reports CPUUtilization once a minute at best, so its CloudWatch alarm needs a period that is a multiple of 60s.",
		"autoscaling.scale_in.period is 2s in us-east-1 and us-west-2, but EC2 reports CPUUtilization once a minute at best, so its CloudWatch alarm needs a period that is a multiple of 60s.",
	}
	if !slices.Equal(e.Problems, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(e.Problems, "\n"), strings.Join(want, "\n"))
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "stack quick cannot be exported to Terraform for AWS:\n  dns.health_check.request_interval is 500ms") {
		t.Errorf("Error() = %q", msg)
	}
}

// TestRefusals: each setting AWS cannot express is refused with one
// sentence naming the setting, its value and why.
func TestRefusals(t *testing.T) {
	primary := func(s *spec.Stack) *spec.Region { return s.Primary() }
	both := func(s *spec.Stack, f func(r *spec.Region)) {
		for i := range s.Regions {
			f(&s.Regions[i])
		}
	}
	tests := []struct {
		name string
		edit func(*spec.Stack)
		opts Options
		want []string
	}{
		{"request interval", func(s *spec.Stack) { s.DNS.HealthCheck.Interval = 20 * time.Second }, Options{}, []string{
			"dns.health_check.request_interval is 20s, but Route53 health checkers request every 10s or 30s.",
		}},
		{"failure threshold", func(s *spec.Stack) { s.DNS.HealthCheck.FailureThreshold = 11 }, Options{}, []string{
			"dns.health_check.failure_threshold is 11, but Route53 accepts 1 to 10.",
		}},
		{"route53 path", func(s *spec.Stack) { s.DNS.HealthCheck.Path = "/" + strings.Repeat("a", 255) }, Options{}, []string{
			"dns.health_check.path is 256 characters long, but Route53 accepts a resource path of at most 255.",
		}},
		{"target interval too short", func(s *spec.Stack) { primary(s).LoadBalancer.HealthCheck.Interval = 4 * time.Second }, Options{}, []string{
			"load_balancer.health_check.interval is 4s in us-east-1, but an ALB target group checks every 5 to 300 whole seconds.",
		}},
		{"target interval fractional", func(s *spec.Stack) {
			both(s, func(r *spec.Region) { r.LoadBalancer.HealthCheck.Interval = 7500 * time.Millisecond })
		}, Options{}, []string{
			"load_balancer.health_check.interval is 7.5s in us-east-1 and us-west-2, but an ALB target group checks every 5 to 300 whole seconds.",
		}},
		{"target interval too long", func(s *spec.Stack) { primary(s).LoadBalancer.HealthCheck.Interval = 301 * time.Second }, Options{}, []string{
			"load_balancer.health_check.interval is 301s in us-east-1, but an ALB target group checks every 5 to 300 whole seconds.",
		}},
		{"target timeout", func(s *spec.Stack) { primary(s).LoadBalancer.HealthCheck.Timeout = time.Second }, Options{}, []string{
			"load_balancer.health_check.timeout is 1s in us-east-1, but an ALB target group's check times out after 2 to 120 whole seconds.",
		}},
		{"thresholds", func(s *spec.Stack) {
			primary(s).LoadBalancer.HealthCheck.HealthyThreshold = 1
			primary(s).LoadBalancer.HealthCheck.UnhealthyThreshold = 11
		}, Options{}, []string{
			"load_balancer.health_check.healthy_threshold is 1 in us-east-1, but an ALB target group accepts 2 to 10.",
			"load_balancer.health_check.unhealthy_threshold is 11 in us-east-1, but an ALB target group accepts 2 to 10.",
		}},
		{"matcher codes", func(s *spec.Stack) { primary(s).LoadBalancer.HealthCheck.Matcher = "200-599" }, Options{}, []string{
			`load_balancer.health_check.matcher is "200-599" in us-east-1, but an ALB accepts codes 200 to 499 as one code, a list such as "200,202" or one range such as "200-299".`,
		}},
		{"matcher list and range", func(s *spec.Stack) { primary(s).LoadBalancer.HealthCheck.Matcher = "200,300-399" }, Options{}, []string{
			`load_balancer.health_check.matcher is "200,300-399" in us-east-1, but an ALB accepts codes 200 to 499 as one code, a list such as "200,202" or one range such as "200-299".`,
		}},
		{"deregistration delay", func(s *spec.Stack) { primary(s).LoadBalancer.DeregistrationDelay = 2 * time.Hour }, Options{}, []string{
			"load_balancer.deregistration_delay is 7200s in us-east-1, but an ALB target group waits 0 to 3600 whole seconds.",
		}},
		{"idle timeout", func(s *spec.Stack) { primary(s).LoadBalancer.IdleTimeout = 1500 * time.Millisecond }, Options{}, []string{
			"load_balancer.idle_timeout is 1.5s in us-east-1, but an ALB's idle timeout is 1 to 4000 whole seconds.",
		}},
		{"retry", func(s *spec.Stack) { primary(s).LoadBalancer.RetryOnConnectFailure = true }, Options{}, []string{
			"load_balancer.retry_on_connect_failure is true in us-east-1, but an ALB never retries a request on another target.",
		}},
		{"port 443 with a certificate", func(s *spec.Stack) { primary(s).LoadBalancer.Port = 443 },
			Options{CertificateARN: map[string]string{"us-east-1": "arn:aws:acm:us-east-1:1:certificate/x"}}, []string{
				"load_balancer.port is 443 in us-east-1, but the HTTPS listener a certificate adds uses port 443.",
			}},
		{"grace period", func(s *spec.Stack) { primary(s).AutoScaling.HealthCheckGracePeriod = 2500 * time.Millisecond }, Options{}, []string{
			"autoscaling.health_check_grace_period is 2.5s in us-east-1, but an Auto Scaling group counts it in whole seconds.",
		}},
		{"alarm period", func(s *spec.Stack) { primary(s).AutoScaling.ScaleOut.Period = 30 * time.Second }, Options{}, []string{
			"autoscaling.scale_out.period is 30s in us-east-1, but EC2 reports CPUUtilization once a minute at best, so its CloudWatch alarm needs a period that is a multiple of 60s.",
		}},
		{"alarm span", func(s *spec.Stack) {
			primary(s).AutoScaling.ScaleIn.Period = 30 * time.Minute
			primary(s).AutoScaling.ScaleIn.EvaluationPeriods = 49
		}, Options{}, []string{
			"autoscaling.scale_in.evaluation_periods is 49 in us-east-1, but a CloudWatch alarm with a 1800s period looks back at most 86400s.",
		}},
		{"cooldown", func(s *spec.Stack) { primary(s).AutoScaling.ScaleIn.Cooldown = 500 * time.Millisecond }, Options{}, []string{
			"autoscaling.scale_in.cooldown is 500ms in us-east-1, but a scaling policy's cooldown is whole seconds.",
		}},
		{"synchronous cross-region commits", func(s *spec.Stack) { s.Database.CrossRegionCommit = "sync" }, Options{}, []string{
			`database.cross_region_commit is "sync", but RDS replicates to a cross-region read replica asynchronously only ("async"): nothing on AWS makes a commit wait for another region.`,
		}},
		{"lease fencing", func(s *spec.Stack) { s.Database.Fencing = "lease" }, Options{}, []string{
			`database.fencing is "lease", but RDS has no write lease: a promoted replica's source keeps taking writes ("none"); on AWS, fence with ARC routing controls or your own witness.`,
		}},
		{"automatic replica promotion", func(s *spec.Stack) { s.Database.CrossRegionFailover = "automatic" }, Options{}, []string{
			`database.cross_region_failover is "automatic", but RDS never promotes a cross-region read replica by itself: an operator does ("manual").`,
		}},
		{"one availability zone", func(s *spec.Stack) {
			r := primary(s)
			r.VPC.AZs, r.VPC.PublicSubnets, r.VPC.PrivateSubnets = r.VPC.AZs[:1], r.VPC.PublicSubnets[:1], r.VPC.PrivateSubnets[:1]
		}, Options{}, []string{
			`vpc.azs is ["us-east-1a"] in us-east-1, but an ALB and an RDS DB subnet group need subnets in at least two availability zones.`,
		}},
		{"zones of another region", func(s *spec.Stack) { primary(s).VPC.AZs = []string{"us-east-1a", "eu-west-1b"} }, Options{}, []string{
			`vpc.azs is ["us-east-1a", "eu-west-1b"] in us-east-1, but AWS availability zone names are their region's name and a suffix, e.g. "us-east-1a".`,
		}},
		{"three regions", func(s *spec.Stack) {
			third := s.Regions[1]
			third.Name = "eu-west-1"
			third.VPC.AZs = []string{"eu-west-1a", "eu-west-1b"}
			s.Regions = append(s.Regions, third)
		}, Options{}, []string{
			"the stack has 3 regions (us-east-1, us-west-2, eu-west-1), but the export writes the seed's two-region layout: one primary and one secondary region.",
		}},
		{"one region", func(s *spec.Stack) { s.Regions = s.Regions[:1]; s.Database.Replicas = nil }, Options{}, []string{
			"the stack has 1 region (us-east-1), but the export writes the seed's two-region layout: one primary and one secondary region.",
		}},
		{"not an AWS region", func(s *spec.Stack) {
			r := &s.Regions[1]
			r.Name, r.VPC.AZs = "west", []string{"westa", "westb"}
			s.Database.Replicas[0].Region = "west"
		}, Options{}, []string{
			`region "west" is not an AWS region name such as "us-east-1".`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := example(t, "two-region")
			tc.edit(s)
			_, err := Export(s, tc.opts)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Export = %v, want an *Error", err)
			}
			if !slices.Equal(e.Problems, tc.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(e.Problems, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestNotRefused: settings AWS expresses differently are exported, not refused.
func TestNotRefused(t *testing.T) {
	tests := []struct {
		name string
		edit func(*spec.Stack)
	}{
		{"ttl other than 60", func(s *spec.Stack) { s.DNS.TTL = 5 }},
		{"fast route53 checks", func(s *spec.Stack) { s.DNS.HealthCheck.Interval = 10 * time.Second }},
		{"access logs", func(s *spec.Stack) { s.Primary().LoadBalancer.AccessLogs = true }},
		{"failover detection", func(s *spec.Stack) { s.Database.FailoverDetection = time.Second }},
		{"least outstanding requests", func(s *spec.Stack) { s.Primary().LoadBalancer.Algorithm = "least_outstanding_requests" }},
		{"matcher list", func(s *spec.Stack) { s.Primary().LoadBalancer.HealthCheck.Matcher = "200,202" }},
		{"health check port", func(s *spec.Stack) { s.Primary().LoadBalancer.HealthCheck.Port = 8081 }},
		{"five-minute alarms", func(s *spec.Stack) { s.Primary().AutoScaling.ScaleOut.Period = 5 * time.Minute }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := example(t, "two-region")
			tc.edit(s)
			if _, err := Export(s, Options{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	s := example(t, "two-region")
	_, err := Export(s, Options{AMI: map[string]string{"eu-west-1": "ami-1"}})
	if err == nil || err.Error() != "AMI given for region eu-west-1, which stack two-region does not have" {
		t.Errorf("Export with an AMI for an unknown region = %v", err)
	}
	files := mustExport(t, s, Options{
		InstanceType:    "m7i.large",
		DBInstanceClass: "db.r7g.large",
		StateBucket:     "acme-state",
		AMI:             map[string]string{"us-east-1": "ami-0123"},
		CertificateARN:  map[string]string{"us-west-2": "arn:aws:acm:us-west-2:1:certificate/x"},
		UserData:        "#!/bin/sh\nexec /opt/shop/server\n",
	})
	for path, want := range map[string][]string{
		"envs/prod/terraform.tfvars": {
			`instance_type = "m7i.large"`, `instance_class = "db.r7g.large"`,
			`primary_ami_id = "ami-0123"`, `secondary_ami_id = ""`,
			`secondary_certificate_arn = "arn:aws:acm:us-west-2:1:certificate/x"`,
			"exec /opt/shop/server",
		},
		"envs/prod/backend.tf": {`bucket = "acme-state"`},
	} {
		text := strings.Join(strings.Fields(string(files[path])), " ")
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s has no %q", path, w)
			}
		}
	}
}

func TestResourceName(t *testing.T) {
	for in, want := range map[string]string{
		"two-region":             "two-region",
		"Shop_Prod":              "shop-prod",
		"9lives":                 "hs-9lives",
		"a-very-long-stack-name": "a-very-long-st",
		"abcdefghijklm-x":        "abcdefghijklm",
		"a__b":                   "a-b",
	} {
		if got := resourceName(in); got != want {
			t.Errorf("resourceName(%q) = %q, want %q", in, got, want)
		}
	}
}
