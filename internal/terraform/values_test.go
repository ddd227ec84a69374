package terraform

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/hastack/hastack/internal/spec"
)

func num(n int) cty.Value               { return cty.NumberIntVal(int64(n)) }
func seconds(d time.Duration) cty.Value { return cty.NumberIntVal(int64(d / time.Second)) }
func str(s string) cty.Value            { return cty.StringVal(s) }
func strs[S fmt.Stringer](ss []S) cty.Value {
	vs := make([]cty.Value, len(ss))
	for i, s := range ss {
		vs[i] = cty.StringVal(s.String())
	}
	return cty.ListVal(vs)
}

// TestDrillValues: every value the local drills depend on reaches the
// module input that sets it on AWS, with the stack file's value, and the
// module puts that input on the resource attribute AWS reads.
func TestDrillValues(t *testing.T) {
	s := example(t, "two-region")
	files := mustExport(t, s, Options{})
	c, err := parseConfig(files)
	if err != nil {
		t.Fatal(err)
	}
	inputs, err := c.inputs()
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		module string // module call in envs/prod
		arg    string // argument, "a.b" for an object attribute
		value  cty.Value
	}
	hc := s.DNS.HealthCheck
	wants := []want{
		{"route53", "request_interval", seconds(hc.Interval)},
		{"route53", "failure_threshold", num(hc.FailureThreshold)},
		{"route53", "health_check_path", str(hc.Path)},
		{"route53", "evaluate_target_health", cty.BoolVal(s.DNS.EvaluateTargetHealth)},
		{"route53", "domain_name", str(s.DNS.Domain)},
		{"route53", "zone_name", str(s.DNS.Zone)},
		{"rds_primary", "multi_az", cty.BoolVal(s.Database.MultiAZ)},
		{"rds_primary", "port", num(s.Database.Port)},
		{"rds_primary", "db_name", str(s.Database.Name)},
		{"rds_primary", "username", str(s.Database.Username)},
	}
	for _, r := range s.Regions {
		role := string(r.Role)
		lb, as := r.LoadBalancer, r.AutoScaling
		wants = append(wants,
			want{"route53", role + "_port", num(lb.Port)},
			want{"vpc_" + role, "cidr", str(r.VPC.CIDR.String())},
			want{"vpc_" + role, "availability_zones", cty.ListVal([]cty.Value{str(r.VPC.AZs[0]), str(r.VPC.AZs[1])})},
			want{"vpc_" + role, "public_subnet_cidrs", strs(r.VPC.PublicSubnets)},
			want{"vpc_" + role, "private_subnet_cidrs", strs(r.VPC.PrivateSubnets)},
			want{"alb_" + role, "listener_port", num(lb.Port)},
			want{"alb_" + role, "target_port", num(as.LaunchTemplate.Port)},
			want{"alb_" + role, "algorithm", str(lb.Algorithm)},
			want{"alb_" + role, "deregistration_delay", seconds(lb.DeregistrationDelay)},
			want{"alb_" + role, "idle_timeout", seconds(lb.IdleTimeout)},
			want{"alb_" + role, "health_check_path", str(lb.HealthCheck.Path)},
			want{"alb_" + role, "health_check_port", str("traffic-port")},
			want{"alb_" + role, "health_check_interval", seconds(lb.HealthCheck.Interval)},
			want{"alb_" + role, "health_check_timeout", seconds(lb.HealthCheck.Timeout)},
			want{"alb_" + role, "healthy_threshold", num(lb.HealthCheck.HealthyThreshold)},
			want{"alb_" + role, "unhealthy_threshold", num(lb.HealthCheck.UnhealthyThreshold)},
			want{"alb_" + role, "health_check_matcher", str(lb.HealthCheck.Matcher)},
			want{"asg_" + role, "min_size", num(as.Min)},
			want{"asg_" + role, "max_size", num(as.Max)},
			want{"asg_" + role, "desired_capacity", num(as.Desired)},
			want{"asg_" + role, "health_check_type", str(as.HealthCheckType)},
			want{"asg_" + role, "health_check_grace_period", seconds(as.HealthCheckGracePeriod)},
			want{"asg_" + role, "instance_port", num(as.LaunchTemplate.Port)},
		)
		for name, p := range map[string]spec.ScalingPolicy{"scale_out": as.ScaleOut, "scale_in": as.ScaleIn} {
			wants = append(wants,
				want{"asg_" + role, name + ".cpu_threshold", cty.NumberFloatVal(p.CPUThreshold)},
				want{"asg_" + role, name + ".period", seconds(p.Period)},
				want{"asg_" + role, name + ".evaluation_periods", num(p.EvaluationPeriods)},
				want{"asg_" + role, name + ".datapoints_to_alarm", num(p.DatapointsToAlarm)},
				want{"asg_" + role, name + ".adjustment", num(p.Adjustment)},
				want{"asg_" + role, name + ".cooldown", seconds(p.Cooldown)},
			)
		}
	}
	for _, w := range wants {
		arg, attr, _ := strings.Cut(w.arg, ".")
		got, ok := inputs[w.module][arg]
		if !ok {
			t.Errorf("module %s: %s is not passed", w.module, arg)
			continue
		}
		if attr != "" {
			got = got.GetAttr(attr)
		}
		if !got.IsKnown() || !got.Equals(w.value).True() {
			t.Errorf("module %s: %s = %#v, want %#v", w.module, w.arg, got, w.value)
		}
	}

	// Each of those inputs sets the attribute AWS acts on.
	type use struct {
		module string
		file   string
		block  [][]string
		attr   string
		expr   string
	}
	res := func(typ, name string, nested ...string) [][]string {
		p := [][]string{{"resource", typ, name}}
		for _, n := range nested {
			p = append(p, []string{n})
		}
		return p
	}
	uses := []use{
		{"route53", "main.tf", res("aws_route53_health_check", "primary"), "request_interval", "var.request_interval"},
		{"route53", "main.tf", res("aws_route53_health_check", "secondary"), "failure_threshold", "var.failure_threshold"},
		{"route53", "main.tf", res("aws_route53_health_check", "primary"), "resource_path", "var.health_check_path"},
		{"route53", "main.tf", res("aws_route53_health_check", "primary"), "port", "var.primary_port"},
		{"route53", "main.tf", res("aws_route53_record", "primary", "alias"), "evaluate_target_health", "var.evaluate_target_health"},
		{"route53", "main.tf", res("aws_route53_record", "primary", "failover_routing_policy"), "type", `"PRIMARY"`},
		{"route53", "main.tf", res("aws_route53_record", "secondary", "failover_routing_policy"), "type", `"SECONDARY"`},
		{"route53", "main.tf", res("aws_route53_record", "secondary"), "health_check_id", "aws_route53_health_check.secondary.id"},
		{"alb", "main.tf", res("aws_lb_target_group", "this", "health_check"), "interval", "var.health_check_interval"},
		{"alb", "main.tf", res("aws_lb_target_group", "this", "health_check"), "timeout", "var.health_check_timeout"},
		{"alb", "main.tf", res("aws_lb_target_group", "this", "health_check"), "healthy_threshold", "var.healthy_threshold"},
		{"alb", "main.tf", res("aws_lb_target_group", "this", "health_check"), "unhealthy_threshold", "var.unhealthy_threshold"},
		{"alb", "main.tf", res("aws_lb_target_group", "this", "health_check"), "matcher", "var.health_check_matcher"},
		{"alb", "main.tf", res("aws_lb_target_group", "this", "health_check"), "path", "var.health_check_path"},
		{"alb", "main.tf", res("aws_lb_target_group", "this"), "deregistration_delay", "var.deregistration_delay"},
		{"alb", "main.tf", res("aws_lb", "this"), "idle_timeout", "var.idle_timeout"},
		{"asg", "main.tf", res("aws_autoscaling_group", "this"), "min_size", "var.min_size"},
		{"asg", "main.tf", res("aws_autoscaling_group", "this"), "max_size", "var.max_size"},
		{"asg", "main.tf", res("aws_autoscaling_group", "this"), "desired_capacity", "var.desired_capacity"},
		{"asg", "main.tf", res("aws_autoscaling_group", "this"), "health_check_grace_period", "var.health_check_grace_period"},
		{"asg", "main.tf", res("aws_autoscaling_policy", "scale_out"), "cooldown", "var.scale_out.cooldown"},
		{"asg", "main.tf", res("aws_autoscaling_policy", "scale_in"), "scaling_adjustment", "var.scale_in.adjustment"},
		{"asg", "main.tf", res("aws_cloudwatch_metric_alarm", "cpu_high"), "threshold", "var.scale_out.cpu_threshold"},
		{"asg", "main.tf", res("aws_cloudwatch_metric_alarm", "cpu_high"), "period", "var.scale_out.period"},
		{"asg", "main.tf", res("aws_cloudwatch_metric_alarm", "cpu_high"), "evaluation_periods", "var.scale_out.evaluation_periods"},
		{"asg", "main.tf", res("aws_cloudwatch_metric_alarm", "cpu_low"), "datapoints_to_alarm", "var.scale_in.datapoints_to_alarm"},
		{"asg", "main.tf", res("aws_cloudwatch_metric_alarm", "cpu_low"), "threshold", "var.scale_in.cpu_threshold"},
		{"vpc", "main.tf", res("aws_vpc", "this"), "cidr_block", "var.cidr"},
		{"vpc", "main.tf", res("aws_subnet", "public"), "cidr_block", "var.public_subnet_cidrs[count.index]"},
		{"vpc", "main.tf", res("aws_subnet", "private"), "cidr_block", "var.private_subnet_cidrs[count.index]"},
		{"rds", "main.tf", res("aws_db_instance", "this"), "multi_az", "var.multi_az"},
	}
	for _, u := range uses {
		dir := c.dirs["modules/"+u.module]
		got, ok := dir.attrSource(files["modules/"+u.module+"/"+u.file], u.file, u.block, u.attr)
		if !ok || got != u.expr {
			t.Errorf("modules/%s/%s %v: %s = %q, want %q", u.module, u.file, u.block, u.attr, got, u.expr)
		}
	}

	// Alias records have no TTL; the stack file's is stated where it would be.
	ttl := fmt.Sprintf("ttl = %d", s.DNS.TTL)
	for _, p := range []string{"envs/prod/terraform.tfvars", "envs/prod/main.tf"} {
		if !strings.Contains(string(files[p]), ttl) {
			t.Errorf("%s does not state the stack file's %s", p, ttl)
		}
	}
}

// TestOneValueChange: changing one value in the stack file changes exactly
// the lines that carry it.
func TestOneValueChange(t *testing.T) {
	tests := []struct {
		name string
		edit func(*spec.Stack)
		want []string // "FILE: -LINE" or "FILE: +LINE", spaces collapsed
	}{
		{"failure threshold", func(s *spec.Stack) { s.DNS.HealthCheck.FailureThreshold = 5 }, []string{
			"envs/prod/terraform.tfvars: -failure_threshold = 3",
			"envs/prod/terraform.tfvars: +failure_threshold = 5",
		}},
		{"request interval", func(s *spec.Stack) { s.DNS.HealthCheck.Interval = 10 * time.Second }, []string{
			"envs/prod/terraform.tfvars: -request_interval = 30",
			"envs/prod/terraform.tfvars: +request_interval = 10",
		}},
		{"primary max size", func(s *spec.Stack) { s.Primary().AutoScaling.Max = 6 }, []string{
			"envs/prod/terraform.tfvars: -max_size = 4",
			"envs/prod/terraform.tfvars: +max_size = 6",
		}},
		{"secondary target health interval", func(s *spec.Stack) { s.Region("us-west-2").LoadBalancer.HealthCheck.Interval = 10 * time.Second }, []string{
			"envs/prod/terraform.tfvars: -interval = 30",
			"envs/prod/terraform.tfvars: +interval = 10",
		}},
		{"scale-out threshold", func(s *spec.Stack) { s.Primary().AutoScaling.ScaleOut.CPUThreshold = 85 }, []string{
			"envs/prod/terraform.tfvars: -cpu_threshold = 70",
			"envs/prod/terraform.tfvars: +cpu_threshold = 85",
		}},
		{"primary private subnet", func(s *spec.Stack) { s.Primary().VPC.PrivateSubnets[1] = netip.MustParsePrefix("10.0.13.0/24") }, []string{
			`envs/prod/terraform.tfvars: -private_subnets = ["10.0.11.0/24", "10.0.12.0/24"]`,
			`envs/prod/terraform.tfvars: +private_subnets = ["10.0.11.0/24", "10.0.13.0/24"]`,
		}},
		{"ttl", func(s *spec.Stack) { s.DNS.TTL = 30 }, []string{
			"envs/prod/terraform.tfvars: -# The stack file's ttl = 60 is not exported: alias records have no TTL of",
			"envs/prod/terraform.tfvars: +# The stack file's ttl = 30 is not exported: alias records have no TTL of",
			"envs/prod/terraform.tfvars: +# Clients may cache an answer 30 seconds longer than in the drills.",
			"envs/prod/main.tf: -# The stack file's ttl = 60 is not exported: alias records have no TTL of",
			"envs/prod/main.tf: +# The stack file's ttl = 30 is not exported: alias records have no TTL of",
			"envs/prod/main.tf: +# Clients may cache an answer 30 seconds longer than in the drills.",
			"README.md: -The stack file's ttl is 60 as well.",
			"README.md: +The stack file's ttl is 30, so the drills' DNS switch times differ from AWS's.",
		}},
	}
	base := mustExport(t, example(t, "two-region"), Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := example(t, "two-region")
			tc.edit(s)
			changed := mustExport(t, s, Options{})
			var got []string
			for _, p := range Paths(base) {
				for _, e := range diffLines(string(base[p]), string(changed[p])) {
					got = append(got, fmt.Sprintf("%s: %c%s", p, e.op, strings.Join(strings.Fields(e.line), " ")))
				}
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("changed lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}
