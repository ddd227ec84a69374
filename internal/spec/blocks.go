package spec

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// dns decodes the dns block; start is where to report that it is missing.
func (d *decoder) dns(sec *section, start hcl.Range) DNS {
	if sec == nil {
		d.errorf(start, "a dns block is required, e.g. dns { domain = \"app.example.com\" }.")
	} else if sec.attr("domain") == nil {
		d.errorf(sec.def, "domain is required in the dns block, e.g. domain = \"app.example.com\".")
	}
	out := DNS{
		Domain:               canonicalName(get(d, sec, "domain", "", asString, dnsName)),
		Zone:                 canonicalName(get(d, sec, "zone", "", asString, dnsName)),
		TTL:                  uint32(get(d, sec, "ttl", 60, asInt, ttl)),
		Listen:               get(d, sec, "listen", "127.0.0.1:5353", asString, loopbackAddr),
		EvaluateTargetHealth: get(d, sec, "evaluate_target_health", true, asBool),
		HealthCheck:          d.dnsHealthCheck(sec.block("health_check")),
	}
	if sec.attr("zone") == nil {
		out.Zone = parentZone(out.Domain)
	}
	if out.Domain != "" && d.valid(sec, "zone") && !inZone(out.Domain, out.Zone) {
		d.errorf(sec.at("zone"), "zone (%q) must be the domain %q or a parent of it.", out.Zone, out.Domain)
	}
	return out
}

// ttl accepts DNS TTLs from 0 to 2^31-1 seconds (RFC 2181).
func ttl(name string, v int) string {
	if v < 0 {
		return fmt.Sprintf("%s (%d) must be between 0 and %d seconds.", name, v, math.MaxInt32)
	}
	return ""
}

func (d *decoder) dnsHealthCheck(sec *section) DNSHealthCheck {
	return DNSHealthCheck{
		Path:             get(d, sec, "path", "/health", asString, urlPath),
		Interval:         get(d, sec, "request_interval", 30*time.Second, asDuration, positive),
		FailureThreshold: get(d, sec, "failure_threshold", 3, asInt, atLeast(1)),
		ConnectTimeout:   get(d, sec, "connect_timeout", 4*time.Second, asDuration, positive),
		ResponseTimeout:  get(d, sec, "response_timeout", 2*time.Second, asDuration, positive),
		Checkers:         get(d, sec, "checkers", 3, asInt, atLeast(1)),
	}
}

// region decodes one region block, laying its load_balancer and autoscaling
// blocks over the shared top-level ones.
func (d *decoder) region(sec, sharedLB, sharedASG *section) Region {
	r := Region{Name: sec.label, DeclRange: sec.def}
	if problem := regionName(sec.label); problem != "" {
		d.errorf(sec.labelR, "%s", problem)
	}
	if sec.attr("role") == nil {
		d.errorf(sec.def, "role is required in region %q: \"primary\" or \"secondary\".", sec.label)
	}
	r.Role = Role(get(d, sec, "role", "", asString, oneOf(string(Primary), string(Secondary))))
	if vpc := sec.block("vpc"); vpc != nil {
		r.VPC = d.vpc(vpc)
	} else {
		d.errorf(sec.def, "region %q needs a vpc block.", sec.label)
	}

	lb := merge(sharedLB, sec.block("load_balancer"))
	r.LoadBalancer = d.loadBalancer(lb)
	d.checkTargetHealth(r.LoadBalancer.HealthCheck, lb.block("health_check"))

	asg := merge(sharedASG, sec.block("autoscaling"))
	r.AutoScaling = d.autoScaling(asg)
	d.checkAutoScaling(r.AutoScaling, asg)
	return r
}

// regionName accepts names like AWS's: lower-case letters, digits and
// inner hyphens.
func regionName(v string) string {
	ok := validLabel(v)
	for _, c := range []byte(v) {
		ok = ok && !(c >= 'A' && c <= 'Z')
	}
	if !ok {
		return fmt.Sprintf("region name %q must be lower-case letters, digits and hyphens, e.g. \"us-east-1\".", v)
	}
	return ""
}

func (d *decoder) loadBalancer(sec *section) LoadBalancer {
	return LoadBalancer{
		Port:                  get(d, sec, "port", 80, asInt, port),
		Algorithm:             get(d, sec, "algorithm", "round_robin", asString, oneOf("round_robin", "least_outstanding_requests")),
		DeregistrationDelay:   get(d, sec, "deregistration_delay", 300*time.Second, asDuration, notNegative),
		IdleTimeout:           get(d, sec, "idle_timeout", 60*time.Second, asDuration, positive),
		RetryOnConnectFailure: get(d, sec, "retry_on_connect_failure", false, asBool),
		AccessLogs:            get(d, sec, "access_logs", false, asBool),
		MaxConnections:        get(d, sec, "max_connections", 10000, asInt, atLeast(1)),
		HealthCheck:           d.targetHealthCheck(sec.block("health_check")),
	}
}

func (d *decoder) targetHealthCheck(sec *section) TargetHealthCheck {
	return TargetHealthCheck{
		Path:               get(d, sec, "path", "/health", asString, urlPath),
		Port:               get(d, sec, "port", 0, asInt, portOrTraffic),
		Interval:           get(d, sec, "interval", 30*time.Second, asDuration, positive),
		Timeout:            get(d, sec, "timeout", 5*time.Second, asDuration, positive),
		HealthyThreshold:   get(d, sec, "healthy_threshold", 2, asInt, atLeast(1)),
		UnhealthyThreshold: get(d, sec, "unhealthy_threshold", 2, asInt, atLeast(1)),
		Matcher:            get(d, sec, "matcher", "200", asString, matcher),
	}
}

func (d *decoder) autoScaling(sec *section) AutoScaling {
	a := AutoScaling{
		Min:                    get(d, sec, "min_size", 2, asInt, atLeast(0)),
		Max:                    get(d, sec, "max_size", 4, asInt, atLeast(1)),
		HealthCheckType:        get(d, sec, "health_check_type", "ELB", asString, oneOf("EC2", "ELB")),
		HealthCheckGracePeriod: get(d, sec, "health_check_grace_period", 300*time.Second, asDuration, notNegative),
		LaunchTemplate:         d.launchTemplate(sec.block("launch_template")),
		ScaleOut:               d.policy(sec.block("scale_out"), scaleOutDefaults, scaleOutAdjustment),
		ScaleIn:                d.policy(sec.block("scale_in"), scaleInDefaults, scaleInAdjustment),
	}
	a.Desired = get(d, sec, "desired_capacity", a.Min, asInt, atLeast(0))
	return a
}

func (d *decoder) launchTemplate(sec *section) LaunchTemplate {
	return LaunchTemplate{
		Command: get(d, sec, "command", "", asString),
		Args:    get(d, sec, "args", nil, asStrings),
		Env:     d.env(sec),
		Port:    get(d, sec, "port", 8080, asInt, port),
		User:    get(d, sec, "user", "", asString),
	}
}

// env decodes a launch template's environment. Its names must be shell
// identifiers: they become `export NAME=...` lines of the exported boot
// script, where anything else could run as a command.
func (d *decoder) env(sec *section) map[string]string {
	env := get(d, sec, "env", nil, asStringMap)
	for _, key := range slices.Sorted(maps.Keys(env)) {
		if !shellIdentifier(key) {
			d.errorf(envKeyRange(sec.attr("env"), key), "env has an invalid variable name %q: use letters, digits and \"_\", not starting with a digit.", key)
			d.invalid[sec.attr("env")] = true
			return nil
		}
	}
	return env
}

// envKeyRange is where key is written in the env map, or the whole map.
func envKeyRange(attr *hclsyntax.Attribute, key string) hcl.Range {
	if obj, ok := attr.Expr.(*hclsyntax.ObjectConsExpr); ok {
		for _, item := range obj.Items {
			if k, diags := item.KeyExpr.Value(nil); !diags.HasErrors() && k.Type() == cty.String && k.IsKnown() && !k.IsNull() && k.AsString() == key {
				return item.KeyExpr.Range()
			}
		}
	}
	return attr.Expr.Range()
}

// shellIdentifier accepts [A-Za-z_][A-Za-z0-9_]*.
func shellIdentifier(s string) bool {
	if s == "" || isDigit(s[0]) {
		return false
	}
	for _, c := range []byte(s) {
		if !isLower(c|0x20) && !isDigit(c) && c != '_' {
			return false
		}
	}
	return true
}

var (
	scaleOutDefaults = ScalingPolicy{CPUThreshold: 70, Period: 60 * time.Second, EvaluationPeriods: 2, Adjustment: 1, Cooldown: 300 * time.Second}
	scaleInDefaults  = ScalingPolicy{CPUThreshold: 30, Period: 60 * time.Second, EvaluationPeriods: 2, Adjustment: -1, Cooldown: 300 * time.Second}
)

func scaleOutAdjustment(name string, v int) string {
	if v <= 0 {
		return fmt.Sprintf("%s (%d) must be positive in scale_out.", name, v)
	}
	return ""
}

func scaleInAdjustment(name string, v int) string {
	if v >= 0 {
		return fmt.Sprintf("%s (%d) must be negative in scale_in.", name, v)
	}
	return ""
}

// policy decodes a scale_out or scale_in block over def; datapoints_to_alarm
// defaults to evaluation_periods.
func (d *decoder) policy(sec *section, def ScalingPolicy, adjustment check[int]) ScalingPolicy {
	p := ScalingPolicy{
		CPUThreshold:      get(d, sec, "cpu_threshold", def.CPUThreshold, asFloat, percent),
		Period:            get(d, sec, "period", def.Period, asDuration, positive),
		EvaluationPeriods: get(d, sec, "evaluation_periods", def.EvaluationPeriods, asInt, atLeast(1)),
		Adjustment:        get(d, sec, "adjustment", def.Adjustment, asInt, adjustment),
		Cooldown:          get(d, sec, "cooldown", def.Cooldown, asDuration, notNegative),
	}
	p.DatapointsToAlarm = get(d, sec, "datapoints_to_alarm", p.EvaluationPeriods, asInt, atLeast(1))
	return p
}

func (d *decoder) database(sec *section) Database {
	eng := get(d, sec, "engine", "postgres", asString, engine)
	// RDS's default ports: 5432 for PostgreSQL, 3306 for MySQL.
	defaultPort := map[string]int{"postgres": 5432, "mysql": 3306}[eng]
	if defaultPort == 0 {
		defaultPort = 5432 // an engine refused above
	}
	db := Database{
		Engine:              eng,
		MultiAZ:             get(d, sec, "multi_az", false, asBool),
		Port:                get(d, sec, "port", defaultPort, asInt, port),
		Name:                get(d, sec, "name", "app", asString, identifier),
		Username:            get(d, sec, "username", "hastack", asString, identifier),
		CrossRegionFailover: get(d, sec, "cross_region_failover", "manual", asString, oneOf("manual", "automatic")),
		FailoverDetection:   get(d, sec, "failover_detection", 10*time.Second, asDuration, positive),
		RegionFailoverAfter: get(d, sec, "region_failover_after", 60*time.Second, asDuration, positive),
		Fencing:             get(d, sec, "fencing", "none", asString, oneOf("none", "lease")),
		FencingLease:        get(d, sec, "fencing_lease", 3*time.Second, asDuration, leaseDuration),
		CrossRegionCommit:   get(d, sec, "cross_region_commit", "async", asString, oneOf("async", "sync")),
	}
	if sec == nil {
		return db
	}
	for _, rs := range sec.blocks["replica"] {
		if rs.attr("region") == nil {
			d.errorf(rs.def, "region is required in the replica block, e.g. region = \"us-west-2\".")
		}
		db.Replicas = append(db.Replicas, Replica{
			Region:    get(d, rs, "region", "", asString),
			DeclRange: rs.def,
		})
	}
	return db
}

// minLease is the shortest fencing lease: the holder renews it every third
// of its duration over the network, and stops writes a quarter of it
// before it runs out, so a shorter one would lapse on a scheduling hiccup.
const minLease = 100 * time.Millisecond

func leaseDuration(name string, v time.Duration) string {
	if v < minLease {
		return fmt.Sprintf("%s (%s) must be at least %s: the region renews its lease every third of it over the network.", name, v, minLease)
	}
	return ""
}

func engine(name string, v string) string {
	if v != "postgres" && v != "mysql" {
		return fmt.Sprintf("%s (%q) must be \"postgres\" or \"mysql\".", name, v)
	}
	return ""
}

// identifier accepts a plain PostgreSQL identifier, which needs no quoting
// in SQL or in a connection URL.
func identifier(name string, v string) string {
	ok := v != "" && len(v) <= 63 && !isDigit(v[0])
	for _, c := range []byte(v) {
		ok = ok && (isLower(c) || isDigit(c) || c == '_')
	}
	if !ok {
		return fmt.Sprintf("%s (%q) must be 1 to 63 lower-case letters, digits or \"_\", not starting with a digit.", name, v)
	}
	return ""
}

// objectives decodes the objectives block; absent, no objective is set.
func (d *decoder) objectives(sec *section) Objectives {
	return Objectives{
		RTO:             get(d, sec, "rto", 0, asDuration, positive),
		RPO:             get(d, sec, "rpo", 0, asDuration, notNegative),
		RPOSet:          sec.attr("rpo") != nil,
		MaxErrorRate:    get(d, sec, "max_error_rate", 0, asFloat, fraction),
		MaxErrorRateSet: sec.attr("max_error_rate") != nil,
	}
}

// fraction accepts a share between 0 and 1.
func fraction(name string, v float64) string {
	if v < 0 || v > 1 {
		return fmt.Sprintf("%s (%g) must be between 0 and 1, e.g. 0.01 for 1%%.", name, v)
	}
	return ""
}

// network decodes the network block; absent, regions are as far apart as
// the AWS regions they are named after.
func (d *decoder) network(sec *section) Network {
	l := get(d, sec, "inter_region_latency", latency{auto: true}, asLatency)
	return Network{InterRegionAuto: l.auto, InterRegionLatency: l.rtt}
}

// latency is an inter_region_latency: "auto" or a round trip.
type latency struct {
	auto bool
	rtt  time.Duration
}

// asLatency accepts "auto" or a round trip of zero or more, e.g. "40ms".
func asLatency(name string, v cty.Value) (latency, string) {
	bad := fmt.Sprintf("%s must be \"auto\" (the measured round trip between the AWS regions) or a round trip such as \"40ms\" or \"0s\"", name)
	s, problem := asString(name, v)
	if problem != "" {
		return latency{}, bad + ", not " + typeName(v.Type()) + "."
	}
	if s == "auto" {
		return latency{auto: true}, ""
	}
	rtt, err := time.ParseDuration(s)
	if err != nil {
		return latency{}, fmt.Sprintf("%s, not %q.", bad, s)
	}
	if rtt < 0 {
		return latency{}, fmt.Sprintf("%s (%s) must not be negative.", name, rtt)
	}
	return latency{rtt: rtt}, ""
}
