package terraform

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hastack/hastack/internal/spec"
)

// problem is one setting AWS cannot express. The same problem in several
// regions (a shared block) is reported once, naming them all.
type problem struct {
	sentence string // set for problems that are not one setting's value
	setting  string
	value    string
	why      string
	regions  []string
}

type problems []*problem

// bad records setting = value (in region, "" for stack-wide settings).
func (ps *problems) bad(region, setting, value, why string) {
	for _, p := range *ps {
		if p.setting == setting && p.value == value && p.why == why && region != "" && len(p.regions) > 0 {
			p.regions = append(p.regions, region)
			return
		}
	}
	p := &problem{setting: setting, value: value, why: why}
	if region != "" {
		p.regions = []string{region}
	}
	*ps = append(*ps, p)
}

func (ps *problems) say(format string, args ...any) {
	*ps = append(*ps, &problem{sentence: fmt.Sprintf(format, args...)})
}

func (ps problems) sentences() []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		if p.sentence != "" {
			out[i] = p.sentence
			continue
		}
		in := ""
		if len(p.regions) > 0 {
			in = " in " + andList(p.regions)
		}
		out[i] = fmt.Sprintf("%s is %s%s, but %s.", p.setting, p.value, in, p.why)
	}
	return out
}

// refusals lists, one sentence each, what AWS cannot express in s.
func refusals(s *spec.Stack, opts Options) []string {
	var ps problems
	roles := map[spec.Role]int{}
	var names []string
	for _, r := range s.Regions {
		roles[r.Role]++
		names = append(names, r.Name)
	}
	if len(s.Regions) != 2 || roles[spec.Primary] != 1 || roles[spec.Secondary] != 1 {
		ps.say("the stack has %d region%s (%s), but the export writes the seed's two-region layout: one primary and one secondary region.",
			len(s.Regions), plural(len(s.Regions)), strings.Join(names, ", "))
	}
	for _, r := range s.Regions {
		if !regionName.MatchString(r.Name) {
			ps.say("region %q is not an AWS region name such as \"us-east-1\".", r.Name)
		}
	}
	refuseDNS(&ps, s.DNS)
	for i := range s.Regions {
		r := &s.Regions[i]
		refuseVPC(&ps, r)
		refuseLoadBalancer(&ps, r, opts.CertificateARN[r.Name] != "")
		refuseAutoScaling(&ps, r)
	}
	if s.Database.CrossRegionFailover == "automatic" {
		ps.bad("", "database.cross_region_failover", `"automatic"`,
			"RDS never promotes a cross-region read replica by itself: an operator does (\"manual\")")
	}
	if s.Database.CrossRegionCommit == "sync" {
		ps.bad("", "database.cross_region_commit", `"sync"`,
			"RDS replicates to a cross-region read replica asynchronously only (\"async\"): nothing on AWS makes a commit wait for another region")
	}
	if s.Database.Fencing == "lease" {
		ps.bad("", "database.fencing", `"lease"`,
			"RDS has no write lease: a promoted replica's source keeps taking writes (\"none\"); on AWS, fence with ARC routing controls or your own witness")
	}
	return ps.sentences()
}

// shellName is a name bash can export.
var shellName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

func refuseDNS(ps *problems, d spec.DNS) {
	hc := d.HealthCheck
	if hc.Interval != 10*time.Second && hc.Interval != 30*time.Second {
		ps.bad("", "dns.health_check.request_interval", duration(hc.Interval),
			"Route53 health checkers request every 10s or 30s")
	}
	if hc.FailureThreshold < 1 || hc.FailureThreshold > 10 {
		ps.bad("", "dns.health_check.failure_threshold", strconv.Itoa(hc.FailureThreshold),
			"Route53 accepts 1 to 10")
	}
	if hc.ConnectTimeout != 4*time.Second {
		ps.bad("", "dns.health_check.connect_timeout", duration(hc.ConnectTimeout),
			"Route53 health checkers always allow 4s to connect")
	}
	if hc.ResponseTimeout != 2*time.Second {
		ps.bad("", "dns.health_check.response_timeout", duration(hc.ResponseTimeout),
			"Route53 health checkers always allow 2s for the answer once connected")
	}
	if len(hc.Path) > 255 {
		ps.bad("", "dns.health_check.path", fmt.Sprintf("%d characters long", len(hc.Path)),
			"Route53 accepts a resource path of at most 255")
	}
}

func refuseVPC(ps *problems, r *spec.Region) {
	if len(r.VPC.AZs) < 2 {
		ps.bad(r.Name, "vpc.azs", quoteList(r.VPC.AZs),
			"an ALB and an RDS DB subnet group need subnets in at least two availability zones")
	}
	for _, az := range r.VPC.AZs {
		if !strings.HasPrefix(az, r.Name) || len(az) == len(r.Name) {
			ps.bad(r.Name, "vpc.azs", quoteList(r.VPC.AZs),
				"AWS availability zone names are their region's name and a suffix, e.g. \""+r.Name+"a\"")
			break
		}
	}
}

func refuseLoadBalancer(ps *problems, r *spec.Region, https bool) {
	lb := r.LoadBalancer
	hc := lb.HealthCheck
	if !wholeIn(hc.Interval, 5, 300) {
		ps.bad(r.Name, "load_balancer.health_check.interval", duration(hc.Interval),
			"an ALB target group checks every 5 to 300 whole seconds")
	}
	if !wholeIn(hc.Timeout, 2, 120) {
		ps.bad(r.Name, "load_balancer.health_check.timeout", duration(hc.Timeout),
			"an ALB target group's check times out after 2 to 120 whole seconds")
	}
	if hc.HealthyThreshold < 2 || hc.HealthyThreshold > 10 {
		ps.bad(r.Name, "load_balancer.health_check.healthy_threshold", strconv.Itoa(hc.HealthyThreshold),
			"an ALB target group accepts 2 to 10")
	}
	if hc.UnhealthyThreshold < 2 || hc.UnhealthyThreshold > 10 {
		ps.bad(r.Name, "load_balancer.health_check.unhealthy_threshold", strconv.Itoa(hc.UnhealthyThreshold),
			"an ALB target group accepts 2 to 10")
	}
	if !albMatcher(hc.Matcher) {
		ps.bad(r.Name, "load_balancer.health_check.matcher", strconv.Quote(hc.Matcher),
			`an ALB accepts codes 200 to 499 as one code, a list such as "200,202" or one range such as "200-299"`)
	}
	if len(hc.Path) > 1024 {
		ps.bad(r.Name, "load_balancer.health_check.path", fmt.Sprintf("%d characters long", len(hc.Path)),
			"an ALB target group accepts a path of at most 1024")
	}
	if !wholeIn(lb.DeregistrationDelay, 0, 3600) {
		ps.bad(r.Name, "load_balancer.deregistration_delay", duration(lb.DeregistrationDelay),
			"an ALB target group waits 0 to 3600 whole seconds")
	}
	if !wholeIn(lb.IdleTimeout, 1, 4000) {
		ps.bad(r.Name, "load_balancer.idle_timeout", duration(lb.IdleTimeout),
			"an ALB's idle timeout is 1 to 4000 whole seconds")
	}
	if lb.RetryOnConnectFailure {
		ps.bad(r.Name, "load_balancer.retry_on_connect_failure", "true",
			"an ALB never retries a request on another target")
	}
	if https && lb.Port == 443 {
		ps.bad(r.Name, "load_balancer.port", "443",
			"the HTTPS listener a certificate adds uses port 443")
	}
}

func refuseAutoScaling(ps *problems, r *spec.Region) {
	as := r.AutoScaling
	for _, k := range slices.Sorted(maps.Keys(as.LaunchTemplate.Env)) {
		if !shellName.MatchString(k) {
			ps.say("launch_template.env has the name %q in %s, but the boot script can only export shell identifiers.", k, r.Name)
		}
	}
	if _, ok := whole(as.HealthCheckGracePeriod); !ok {
		ps.bad(r.Name, "autoscaling.health_check_grace_period", duration(as.HealthCheckGracePeriod),
			"an Auto Scaling group counts it in whole seconds")
	}
	for _, p := range []struct {
		name string
		sp   spec.ScalingPolicy
	}{{"scale_out", as.ScaleOut}, {"scale_in", as.ScaleIn}} {
		period, ok := whole(p.sp.Period)
		if !ok || period <= 0 || period%60 != 0 {
			ps.bad(r.Name, "autoscaling."+p.name+".period", duration(p.sp.Period),
				"EC2 reports CPUUtilization once a minute at best, so its CloudWatch alarm needs a period that is a multiple of 60s")
		} else if limit := alarmSpan(period); period*int64(p.sp.EvaluationPeriods) > limit {
			ps.bad(r.Name, "autoscaling."+p.name+".evaluation_periods", strconv.Itoa(p.sp.EvaluationPeriods),
				fmt.Sprintf("a CloudWatch alarm with a %s period looks back at most %s", duration(p.sp.Period), duration(time.Duration(limit)*time.Second)))
		}
		if _, ok := whole(p.sp.Cooldown); !ok {
			ps.bad(r.Name, "autoscaling."+p.name+".cooldown", duration(p.sp.Cooldown),
				"a scaling policy's cooldown is whole seconds")
		}
	}
}

// alarmSpan is the longest a CloudWatch alarm may look back, in seconds:
// one day for periods under an hour, seven days otherwise.
func alarmSpan(period int64) int64 {
	if period < 3600 {
		return 86400
	}
	return 7 * 86400
}

var (
	matcherList  = regexp.MustCompile(`^[0-9]{3}(,[0-9]{3})*$`)
	matcherRange = regexp.MustCompile(`^[0-9]{3}-[0-9]{3}$`)
)

// albMatcher reports whether an ALB accepts m as a target group matcher.
func albMatcher(m string) bool {
	m = strings.ReplaceAll(m, " ", "")
	var codes []string
	switch {
	case matcherList.MatchString(m):
		codes = strings.Split(m, ",")
	case matcherRange.MatchString(m):
		codes = strings.Split(m, "-")
		if codes[0] > codes[1] {
			return false
		}
	default:
		return false
	}
	for _, c := range codes {
		if c < "200" || c > "499" {
			return false
		}
	}
	return true
}

// whole returns d in seconds, and whether it is a whole number of them.
func whole(d time.Duration) (int64, bool) {
	return int64(d / time.Second), d%time.Second == 0
}

func wholeIn(d time.Duration, lo, hi int64) bool {
	s, ok := whole(d)
	return ok && s >= lo && s <= hi
}

// duration writes d as the stack file would: "300s" rather than "5m0s".
func duration(d time.Duration) string {
	if s, ok := whole(d); ok {
		return strconv.FormatInt(s, 10) + "s"
	}
	return d.String()
}

func quoteList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func andList(vs []string) string {
	if len(vs) <= 1 {
		return strings.Join(vs, "")
	}
	return strings.Join(vs[:len(vs)-1], ", ") + " and " + vs[len(vs)-1]
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
