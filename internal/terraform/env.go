package terraform

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hastack/hastack/internal/spec"
)

// Types of the calling configuration's variables: the stack file's blocks,
// durations in seconds.
const (
	vpcType = `object({
  cidr            = string
  azs             = list(string)
  public_subnets  = list(string)
  private_subnets = list(string)
})`
	loadBalancerType = `object({
  port                 = number
  algorithm            = string
  deregistration_delay = number
  idle_timeout         = number
  access_logs          = bool
  health_check = object({
    path                = string
    port                = string
    interval            = number
    timeout             = number
    healthy_threshold   = number
    unhealthy_threshold = number
    matcher             = string
  })
})`
	autoScalingType = `object({
  min_size                  = number
  max_size                  = number
  desired_capacity          = number
  health_check_type         = string
  health_check_grace_period = number
  instance_port             = number
  scale_out = object({
    cpu_threshold       = number
    period              = number
    evaluation_periods  = number
    datapoints_to_alarm = number
    adjustment          = number
    cooldown            = number
  })
  scale_in = object({
    cpu_threshold       = number
    period              = number
    evaluation_periods  = number
    datapoints_to_alarm = number
    adjustment          = number
    cooldown            = number
  })
})`
	dnsType = `object({
  zone                   = string
  domain                 = string
  evaluate_target_health = bool
  health_check = object({
    path              = string
    request_interval  = number
    failure_threshold = number
  })
})`
	databaseType = `object({
  engine                  = string
  engine_version          = string
  parameter_group_family  = string
  instance_class          = string
  allocated_storage       = number
  multi_az                = bool
  port                    = number
  name                    = string
  username                = string
  backup_retention_period = number
  deletion_protection     = bool
})`
)

func (l *layout) variables() []variable {
	vars := []variable{
		{"name", "string", "Prefix of every resource name: lower-case letters, digits and hyphens, at most 14 characters.", ""},
	}
	for _, sd := range l.sides() {
		vars = append(vars, variable{sd.role + "_region", "string", fmt.Sprintf("AWS region of the %s side (provider aws.%s).", sd.role, sd.alias), ""})
	}
	vars = append(vars,
		variable{"dns", dnsType, "The stack file's dns block: the hosted zone, the failover record and the Route53 health check (request_interval in seconds: 10 or 30).", ""},
		variable{"instance_type", "string", "EC2 instance type of the web instances in both regions.", `"t3.micro"`},
	)
	for _, sd := range l.sides() {
		vars = append(vars,
			variable{sd.role + "_vpc", vpcType, "The " + sd.role + " region's vpc block: one public and one private subnet per availability zone.", ""},
			variable{sd.role + "_load_balancer", loadBalancerType, "The " + sd.role + " region's load_balancer block; durations in seconds.", ""},
			variable{sd.role + "_autoscaling", autoScalingType, "The " + sd.role + " region's autoscaling block; durations in seconds, CPU thresholds in percent.", ""},
			variable{sd.role + "_ami_id", "string", "AMI of the " + sd.role + " region's instances; empty uses the latest Amazon Linux 2023.", `""`},
			variable{sd.role + "_certificate_arn", "string", "ACM certificate in the " + sd.role + " region; when set, its load balancer also serves HTTPS on port 443.", `""`},
			variable{sd.role + "_user_data", "string", "Boot script of the " + sd.role + " region's instances: it starts the application on instance_port.", ""},
		)
	}
	return append(vars, variable{"database", databaseType, "The stack file's database block and the instances' size.", ""})
}

func (l *layout) outputs() []output {
	outs := []output{
		{"app_url", "URL clients use: the failover record.", `"http://${var.dns.domain}${var.primary_load_balancer.port == 80 ? "" : ":${var.primary_load_balancer.port}"}/"`},
	}
	for _, sd := range l.sides() {
		outs = append(outs,
			output{sd.role + "_alb_dns_name", "DNS name of the " + sd.role + " region's load balancer.", "module.alb_" + sd.role + ".alb_dns_name"},
			output{sd.role + "_autoscaling_group", "Auto Scaling group of the " + sd.role + " region.", "module.asg_" + sd.role + ".autoscaling_group_name"},
		)
	}
	outs = append(outs,
		output{"db_writer_endpoint", "host:port of the primary database; after a Multi-AZ failover it reaches the promoted standby.", "module.rds_primary.endpoint"},
		output{"db_master_user_secret_arn", "Secrets Manager secret with the database master password.", "module.rds_primary.master_user_secret_arn"},
	)
	if l.replica {
		outs = append(outs, output{"db_replica_endpoint", "host:port of the cross-region read replica in " + l.secondary.r.Name + ".", "module.rds_replica.endpoint"})
	}
	return outs
}

func (l *layout) providerFile() []byte {
	f := newFile()
	r := f.root()
	tf := r.top("terraform")
	tf.str("required_version", terraformVersion)
	tf.block("required_providers").raw("aws", object{}.
		str("source", "hashicorp/aws").
		str("version", providerVersion).tokens())
	for _, sd := range l.sides() {
		p := r.noted([]string{fmt.Sprintf("The %s region, %s.", sd.role, sd.r.Name)}, "provider", "aws")
		p.str("alias", sd.alias)
		p.ref("region", "var."+sd.role+"_region")
		p.block("default_tags").raw("tags", object{}.
			expr("Stack", "var.name").
			str("ManagedBy", "terraform").tokens())
	}
	return f.bytes()
}

func (l *layout) backendFile() []byte {
	f := newFile()
	r := f.root()
	b := r.noted([]string{
		"State in S3, locked by a lock file next to it (use_lockfile, Terraform 1.11",
		"and later; it replaces the deprecated DynamoDB lock table). Create the",
		"bucket, with versioning on, before terraform init.",
	}, "terraform").block("backend", "s3")
	b.str("bucket", l.opts.StateBucket)
	b.str("key", l.name+"/prod/terraform.tfstate")
	b.str("region", l.primary.r.Name)
	b.boolean("encrypt", true)
	b.boolean("use_lockfile", true)
	return f.bytes()
}

// call starts a module block with its source and provider.
func call(r body, name, source string, sd side, comment ...string) body {
	m := r.noted(comment, "module", name)
	m.str("source", "../../modules/"+source)
	m.raw("providers", object{}.expr("aws", "aws."+sd.alias).tokens())
	m.AppendNewline()
	return m
}

func (l *layout) mainFile() []byte {
	f := newFile()
	r := f.root()
	r.comment(
		"Stack "+l.s.Name+", exported by hastack: the stack file's values are in",
		"terraform.tfvars, the modules under ../../modules are generic.",
	)
	r.AppendNewline()
	for _, sd := range l.sides() {
		p, v := sd.role, "var."+sd.role

		vpc := call(r, "vpc_"+p, "vpc", sd, fmt.Sprintf("The %s region, %s.", p, sd.r.Name))
		vpc.ref("name", "var.name")
		vpc.ref("cidr", v+"_vpc.cidr")
		vpc.ref("availability_zones", v+"_vpc.azs")
		vpc.ref("public_subnet_cidrs", v+"_vpc.public_subnets")
		vpc.ref("private_subnet_cidrs", v+"_vpc.private_subnets")

		alb := call(r, "alb_"+p, "alb", sd)
		alb.ref("name", "var.name")
		alb.ref("region", v+"_region")
		alb.ref("vpc_id", "module.vpc_"+p+".vpc_id")
		alb.ref("subnet_ids", "module.vpc_"+p+".public_subnet_ids")
		alb.ref("listener_port", v+"_load_balancer.port")
		alb.ref("target_port", v+"_autoscaling.instance_port")
		alb.ref("algorithm", v+"_load_balancer.algorithm")
		alb.ref("deregistration_delay", v+"_load_balancer.deregistration_delay")
		alb.ref("idle_timeout", v+"_load_balancer.idle_timeout")
		alb.ref("access_logs", v+"_load_balancer.access_logs")
		alb.ref("health_check_path", v+"_load_balancer.health_check.path")
		alb.ref("health_check_port", v+"_load_balancer.health_check.port")
		alb.ref("health_check_interval", v+"_load_balancer.health_check.interval")
		alb.ref("health_check_timeout", v+"_load_balancer.health_check.timeout")
		alb.ref("healthy_threshold", v+"_load_balancer.health_check.healthy_threshold")
		alb.ref("unhealthy_threshold", v+"_load_balancer.health_check.unhealthy_threshold")
		alb.ref("health_check_matcher", v+"_load_balancer.health_check.matcher")
		alb.ref("certificate_arn", v+"_certificate_arn")

		asg := call(r, "asg_"+p, "asg", sd)
		asg.ref("name", "var.name")
		asg.ref("region", v+"_region")
		asg.ref("vpc_id", "module.vpc_"+p+".vpc_id")
		asg.ref("subnet_ids", "module.vpc_"+p+".private_subnet_ids")
		asg.expr("target_group_arns", "[module.alb_"+p+".target_group_arn]")
		asg.ref("alb_security_group_id", "module.alb_"+p+".security_group_id")
		asg.ref("instance_port", v+"_autoscaling.instance_port")
		asg.ref("health_check_port", v+"_load_balancer.health_check.port")
		asg.ref("min_size", v+"_autoscaling.min_size")
		asg.ref("max_size", v+"_autoscaling.max_size")
		asg.ref("desired_capacity", v+"_autoscaling.desired_capacity")
		asg.ref("health_check_type", v+"_autoscaling.health_check_type")
		asg.ref("health_check_grace_period", v+"_autoscaling.health_check_grace_period")
		asg.ref("scale_out", v+"_autoscaling.scale_out")
		asg.ref("scale_in", v+"_autoscaling.scale_in")
		asg.ref("user_data", v+"_user_data")
		asg.ref("ami_id", v+"_ami_id")
		asg.ref("instance_type", "var.instance_type")
	}

	db := call(r, "rds_primary", "rds", l.primary, "The database: a primary in "+l.primary.r.Name+
		map[bool]string{true: " with a Multi-AZ standby", false: ""}[l.s.Database.MultiAZ]+".")
	db.expr("identifier", `"${var.name}-db"`)
	db.ref("vpc_id", "module.vpc_primary.vpc_id")
	db.ref("subnet_ids", "module.vpc_primary.private_subnet_ids")
	db.expr("allowed_security_group_ids", "[module.asg_primary.security_group_id]")
	db.ref("port", "var.database.port")
	db.ref("instance_class", "var.database.instance_class")
	db.ref("multi_az", "var.database.multi_az")
	db.ref("engine", "var.database.engine")
	db.ref("engine_version", "var.database.engine_version")
	db.ref("parameter_group_family", "var.database.parameter_group_family")
	db.ref("allocated_storage", "var.database.allocated_storage")
	db.ref("db_name", "var.database.name")
	db.ref("username", "var.database.username")
	db.ref("backup_retention_period", "var.database.backup_retention_period")
	db.ref("deletion_protection", "var.database.deletion_protection")

	if l.replica {
		rep := call(r, "rds_replica", "rds", l.secondary,
			"The cross-region read replica in "+l.secondary.r.Name+", replicating asynchronously. An",
			"operator promotes it after losing "+l.primary.r.Name+" (aws rds promote-read-replica).")
		rep.expr("identifier", `"${var.name}-db-replica"`)
		rep.boolean("is_replica", true)
		rep.ref("replicate_source_db", "module.rds_primary.db_instance_arn")
		rep.ref("vpc_id", "module.vpc_secondary.vpc_id")
		rep.ref("subnet_ids", "module.vpc_secondary.private_subnet_ids")
		rep.expr("allowed_security_group_ids", "[module.asg_secondary.security_group_id]")
		rep.ref("port", "var.database.port")
		rep.ref("instance_class", "var.database.instance_class")
		rep.ref("engine", "var.database.engine")
		rep.ref("engine_version", "var.database.engine_version")
		rep.ref("parameter_group_family", "var.database.parameter_group_family")
		rep.comment("The stack file's multi_az is the primary's; a replica has no standby.")
		rep.boolean("multi_az", false)
		rep.ref("deletion_protection", "var.database.deletion_protection")
	}

	dns := call(r, "route53", "route53", l.primary, append([]string{
		"Failover DNS: " + l.s.DNS.Domain + " answers with the primary region's load balancer",
		"while its health check passes, else with the secondary's.",
	}, l.ttlNote()...)...)
	dns.ref("zone_name", "var.dns.zone")
	dns.ref("domain_name", "var.dns.domain")
	dns.ref("primary_port", "var.primary_load_balancer.port")
	dns.ref("secondary_port", "var.secondary_load_balancer.port")
	dns.ref("health_check_path", "var.dns.health_check.path")
	dns.ref("request_interval", "var.dns.health_check.request_interval")
	dns.ref("failure_threshold", "var.dns.health_check.failure_threshold")
	dns.ref("evaluate_target_health", "var.dns.evaluate_target_health")
	for _, sd := range l.sides() {
		dns.ref(sd.role+"_alb_dns_name", "module.alb_"+sd.role+".alb_dns_name")
		dns.ref(sd.role+"_alb_zone_id", "module.alb_"+sd.role+".alb_zone_id")
	}
	return f.bytes()
}

// ttlNote says what becomes of the stack file's DNS TTL.
func (l *layout) ttlNote() []string {
	ttl := l.s.DNS.TTL
	note := []string{
		fmt.Sprintf("The stack file's ttl = %d is not exported: alias records have no TTL of", ttl),
		"their own, Route53 answers with the load balancer record's 60 seconds.",
	}
	if ttl != 60 {
		note = append(note, fmt.Sprintf("Clients may cache an answer %d seconds %s than in the drills.", diff(ttl, 60), map[bool]string{true: "longer", false: "shorter"}[ttl < 60]))
	}
	return note
}

func diff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

func (l *layout) tfvarsFile() []byte {
	s := l.s
	f := newFile()
	r := f.root()
	r.comment("Stack " + s.Name + ", as its stack file says. Durations are in seconds.")
	r.AppendNewline()
	r.str("name", l.name)
	for _, sd := range l.sides() {
		r.str(sd.role+"_region", sd.r.Name)
	}
	r.AppendNewline()

	hc := s.DNS.HealthCheck
	r.raw("dns", object{}.
		str("zone", s.DNS.Zone).
		str("domain", s.DNS.Domain).
		boolean("evaluate_target_health", s.DNS.EvaluateTargetHealth).
		obj("health_check", object{}.
			str("path", hc.Path).
			num("request_interval", secs(hc.Interval)).
			num("failure_threshold", int64(hc.FailureThreshold))).
		tokens())
	r.comment(l.ttlNote()...)
	r.AppendNewline()

	r.str("instance_type", l.opts.InstanceType)
	for _, sd := range l.sides() {
		r.AppendNewline()
		reg := sd.r
		p := sd.role
		r.raw(p+"_vpc", object{}.
			str("cidr", reg.VPC.CIDR.String()).
			strs("azs", reg.VPC.AZs).
			strs("public_subnets", prefixes(reg.VPC.PublicSubnets)).
			strs("private_subnets", prefixes(reg.VPC.PrivateSubnets)).
			tokens())
		r.AppendNewline()
		lb := reg.LoadBalancer
		hcPort := "traffic-port"
		if lb.HealthCheck.Port != 0 {
			hcPort = strconv.Itoa(lb.HealthCheck.Port)
		}
		r.raw(p+"_load_balancer", object{}.
			num("port", int64(lb.Port)).
			str("algorithm", lb.Algorithm).
			num("deregistration_delay", secs(lb.DeregistrationDelay)).
			num("idle_timeout", secs(lb.IdleTimeout)).
			boolean("access_logs", lb.AccessLogs).
			obj("health_check", object{}.
				str("path", lb.HealthCheck.Path).
				str("port", hcPort).
				num("interval", secs(lb.HealthCheck.Interval)).
				num("timeout", secs(lb.HealthCheck.Timeout)).
				num("healthy_threshold", int64(lb.HealthCheck.HealthyThreshold)).
				num("unhealthy_threshold", int64(lb.HealthCheck.UnhealthyThreshold)).
				str("matcher", strings.ReplaceAll(lb.HealthCheck.Matcher, " ", ""))).
			tokens())
		r.AppendNewline()
		as := reg.AutoScaling
		r.raw(p+"_autoscaling", object{}.
			num("min_size", int64(as.Min)).
			num("max_size", int64(as.Max)).
			num("desired_capacity", int64(as.Desired)).
			str("health_check_type", as.HealthCheckType).
			num("health_check_grace_period", secs(as.HealthCheckGracePeriod)).
			num("instance_port", int64(as.LaunchTemplate.Port)).
			obj("scale_out", policy(as.ScaleOut)).
			obj("scale_in", policy(as.ScaleIn)).
			tokens())
		r.AppendNewline()
		r.str(p+"_ami_id", l.opts.AMI[reg.Name])
		r.str(p+"_certificate_arn", l.opts.CertificateARN[reg.Name])
	}
	r.AppendNewline()

	db := s.Database
	r.raw("database", object{}.
		str("engine", db.Engine).
		str("engine_version", engineVersion(db.Engine)).
		str("parameter_group_family", parameterGroupFamily(db.Engine)).
		str("instance_class", l.opts.DBInstanceClass).
		num("allocated_storage", 20).
		boolean("multi_az", db.MultiAZ).
		num("port", int64(db.Port)).
		str("name", db.Name).
		str("username", db.Username).
		num("backup_retention_period", 7).
		boolean("deletion_protection", true).
		tokens())
	for _, sd := range l.sides() {
		r.AppendNewline()
		r.raw(sd.role+"_user_data", heredoc(l.userData(sd.r)))
	}
	return f.bytes()
}

func policy(p spec.ScalingPolicy) object {
	return object{}.
		float("cpu_threshold", p.CPUThreshold).
		num("period", secs(p.Period)).
		num("evaluation_periods", int64(p.EvaluationPeriods)).
		num("datapoints_to_alarm", int64(p.DatapointsToAlarm)).
		num("adjustment", int64(p.Adjustment)).
		num("cooldown", secs(p.Cooldown))
}

// secs is d in whole seconds; refusals have made sure there is no rest.
func secs(d time.Duration) int64 { return int64(d / time.Second) }

func prefixes[P fmt.Stringer](ps []P) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// engineVersion is the RDS engine version an export asks for: the
// PostgreSQL major version hastack runs locally, or the MySQL the seed
// deploys (hastack stands MariaDB in for it here).
func engineVersion(engine string) string {
	if engine == "mysql" {
		return "8.0"
	}
	return "16"
}

// parameterGroupFamily is the DB parameter group family of the engine
// and the version engineVersion picks.
func parameterGroupFamily(engine string) string {
	return engine + engineVersion(engine)
}
