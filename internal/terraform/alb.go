package terraform

var albVariables = []variable{
	{"name", "string", "Prefix of resource names (at most 14 characters, so that name-region fits the 32 characters a load balancer name may have).", ""},
	{"region", "string", "AWS region, part of the load balancer's and target group's names.", ""},
	{"vpc_id", "string", "VPC of the target group and the security group.", ""},
	{"subnet_ids", "list(string)", "Public subnets of the load balancer, in at least two availability zones.", ""},
	{"listener_port", "number", "Port of the HTTP listener.", ""},
	{"target_port", "number", "Port the instances serve traffic on.", ""},
	{"algorithm", "string", "How the target group picks a target: round_robin or least_outstanding_requests.", ""},
	{"deregistration_delay", "number", "Seconds a deregistered target keeps serving its in-flight requests (0-3600).", ""},
	{"idle_timeout", "number", "Seconds a connection may stay idle, and so how long a target may take to answer (1-4000).", ""},
	{"access_logs", "bool", "Write access logs to an S3 bucket created for them.", ""},
	{"health_check_path", "string", "Path the load balancer requests on each target.", ""},
	{"health_check_port", "string", "Port the load balancer checks: traffic-port or a port number.", ""},
	{"health_check_interval", "number", "Seconds between two checks of one target (5-300).", ""},
	{"health_check_timeout", "number", "Seconds without an answer that fail a check (2-120, less than the interval).", ""},
	{"healthy_threshold", "number", "Consecutive passed checks that make an unhealthy target healthy (2-10).", ""},
	{"unhealthy_threshold", "number", "Consecutive failed checks that make a target unhealthy (2-10).", ""},
	{"health_check_matcher", "string", `Status codes of a passed check: "200", "200,202" or "200-299" (200-499).`, ""},
	{"certificate_arn", "string", "ACM certificate in this region; when set, an HTTPS listener on port 443 forwards to the same target group.", `""`},
	{"ssl_policy", "string", "TLS policy of the HTTPS listener.", `"ELBSecurityPolicy-TLS13-1-2-2021-06"`},
}

var albOutputs = []output{
	{"alb_arn", "ARN of the load balancer.", "aws_lb.this.arn"},
	{"alb_dns_name", "DNS name of the load balancer: Route53 checks it and aliases to it.", "aws_lb.this.dns_name"},
	{"alb_zone_id", "Hosted zone of the load balancer's DNS name, for alias records.", "aws_lb.this.zone_id"},
	{"target_group_arn", "ARN of the target group the instances register with.", "aws_lb_target_group.this.arn"},
	{"security_group_id", "Security group of the load balancer; the instances accept traffic only from it.", "aws_security_group.alb.id"},
	{"access_logs_bucket", "S3 bucket of the access logs, or null without access logs.", "one(aws_s3_bucket.logs[*].id)"},
}

func albMain() []byte {
	f := newFile()
	r := f.root()
	requireAWS(r)

	l := r.top("locals")
	l.expr("listener_ports", `var.certificate_arn == "" ? [var.listener_port] : [var.listener_port, 443]`)

	sg := r.top("resource", "aws_security_group", "alb")
	sg.expr("name", `"${var.name}-alb"`)
	sg.str("description", "HTTP and HTTPS from anywhere to the load balancer")
	sg.ref("vpc_id", "var.vpc_id")
	in := sg.block("dynamic", "ingress")
	in.ref("for_each", "local.listener_ports")
	c := in.block("content")
	c.str("description", "Clients")
	c.ref("from_port", "ingress.value")
	c.ref("to_port", "ingress.value")
	c.str("protocol", "tcp")
	c.raw("cidr_blocks", strList([]string{"0.0.0.0/0"}))
	out := sg.block("egress")
	out.str("description", "Health checks and requests to the instances")
	out.num("from_port", 0)
	out.num("to_port", 0)
	out.str("protocol", "-1")
	out.raw("cidr_blocks", strList([]string{"0.0.0.0/0"}))
	sg.AppendNewline()
	tags(sg, `"${var.name}-alb"`)

	lb := r.top("resource", "aws_lb", "this")
	lb.expr("name", `"${var.name}-${var.region}"`)
	lb.str("load_balancer_type", "application")
	lb.boolean("internal", false)
	lb.expr("security_groups", "[aws_security_group.alb.id]")
	lb.ref("subnets", "var.subnet_ids")
	lb.ref("idle_timeout", "var.idle_timeout")
	lb.boolean("drop_invalid_header_fields", true)
	logs := lb.block("dynamic", "access_logs")
	logs.expr("for_each", "aws_s3_bucket_policy.logs[*].bucket")
	c = logs.block("content")
	c.ref("bucket", "access_logs.value")
	c.boolean("enabled", true)
	lb.AppendNewline()
	tags(lb, `"${var.name}-${var.region}"`)

	tg := r.noted([]string{
		"The stack file's target group: the same health check, thresholds and",
		"deregistration delay that the local drills ran with.",
	}, "resource", "aws_lb_target_group", "this")
	tg.expr("name", `"${var.name}-${var.region}"`)
	tg.ref("port", "var.target_port")
	tg.str("protocol", "HTTP")
	tg.str("target_type", "instance")
	tg.ref("vpc_id", "var.vpc_id")
	tg.ref("deregistration_delay", "var.deregistration_delay")
	tg.ref("load_balancing_algorithm_type", "var.algorithm")
	hc := tg.block("health_check")
	hc.boolean("enabled", true)
	hc.str("protocol", "HTTP")
	hc.ref("path", "var.health_check_path")
	hc.ref("port", "var.health_check_port")
	hc.ref("interval", "var.health_check_interval")
	hc.ref("timeout", "var.health_check_timeout")
	hc.ref("healthy_threshold", "var.healthy_threshold")
	hc.ref("unhealthy_threshold", "var.unhealthy_threshold")
	hc.ref("matcher", "var.health_check_matcher")
	tg.AppendNewline()
	tags(tg, `"${var.name}-${var.region}"`)

	http := r.top("resource", "aws_lb_listener", "http")
	http.ref("load_balancer_arn", "aws_lb.this.arn")
	http.ref("port", "var.listener_port")
	http.str("protocol", "HTTP")
	fwd := http.block("default_action")
	fwd.str("type", "forward")
	fwd.ref("target_group_arn", "aws_lb_target_group.this.arn")

	https := r.top("resource", "aws_lb_listener", "https")
	https.expr("count", `var.certificate_arn == "" ? 0 : 1`)
	https.ref("load_balancer_arn", "aws_lb.this.arn")
	https.num("port", 443)
	https.str("protocol", "HTTPS")
	https.ref("ssl_policy", "var.ssl_policy")
	https.ref("certificate_arn", "var.certificate_arn")
	fwd = https.block("default_action")
	fwd.str("type", "forward")
	fwd.ref("target_group_arn", "aws_lb_target_group.this.arn")

	bucket := r.noted([]string{
		"Access logs, when the stack file asks for them: a bucket the region's",
		"Elastic Load Balancing account may write to. (Regions opened after August",
		"2022 grant logdelivery.elasticloadbalancing.amazonaws.com instead.)",
	}, "resource", "aws_s3_bucket", "logs")
	bucket.expr("count", "var.access_logs ? 1 : 0")
	bucket.expr("bucket_prefix", `"${var.name}-alb-logs-"`)
	tags(bucket, `"${var.name}-alb-logs"`)

	acct := r.top("data", "aws_elb_service_account", "this")
	acct.expr("count", "var.access_logs ? 1 : 0")

	pol := r.top("resource", "aws_s3_bucket_policy", "logs")
	pol.expr("count", "var.access_logs ? 1 : 0")
	pol.expr("bucket", "aws_s3_bucket.logs[0].id")
	pol.expr("policy", `jsonencode({
  Version = "2012-10-17"
  Statement = [{
    Effect    = "Allow"
    Principal = { AWS = data.aws_elb_service_account.this[0].arn }
    Action    = "s3:PutObject"
    Resource  = "${aws_s3_bucket.logs[0].arn}/AWSLogs/*"
  }]
})`)
	return f.bytes()
}
