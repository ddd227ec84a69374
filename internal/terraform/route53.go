package terraform

var route53Variables = []variable{
	{"zone_name", "string", "Public hosted zone that holds the record, e.g. example.com.", ""},
	{"domain_name", "string", "Name of the failover record, e.g. app.example.com.", ""},
	{"primary_port", "number", "Port of the primary load balancer's HTTP listener, which its health check requests.", ""},
	{"secondary_port", "number", "Port of the secondary load balancer's HTTP listener, which its health check requests.", ""},
	{"health_check_path", "string", "Path the health checks request on each load balancer.", ""},
	{"request_interval", "number", "Seconds between two requests of one Route53 health checker: 10 or 30.", ""},
	{"failure_threshold", "number", "Consecutive results that flip a health check (1-10).", ""},
	{"evaluate_target_health", "bool", "Also count a region unhealthy when its load balancer has no healthy target.", ""},
	{"primary_alb_dns_name", "string", "DNS name of the primary region's load balancer.", ""},
	{"primary_alb_zone_id", "string", "Hosted zone of the primary region's load balancer.", ""},
	{"secondary_alb_dns_name", "string", "DNS name of the secondary region's load balancer.", ""},
	{"secondary_alb_zone_id", "string", "Hosted zone of the secondary region's load balancer.", ""},
}

var route53Outputs = []output{
	{"fqdn", "Name clients resolve.", "aws_route53_record.primary.fqdn"},
	{"zone_id", "ID of the hosted zone.", "data.aws_route53_zone.this.zone_id"},
	{"primary_health_check_id", "Health check of the primary region.", "aws_route53_health_check.primary.id"},
	{"secondary_health_check_id", "Health check of the secondary region.", "aws_route53_health_check.secondary.id"},
}

func route53Main() []byte {
	f := newFile()
	r := f.root()
	requireAWS(r)

	z := r.top("data", "aws_route53_zone", "this")
	z.ref("name", "var.zone_name")
	z.boolean("private_zone", false)

	for _, role := range []string{"primary", "secondary"} {
		hc := r.top("resource", "aws_route53_health_check", role)
		hc.str("type", "HTTP")
		hc.ref("fqdn", "var."+role+"_alb_dns_name")
		hc.ref("port", "var."+role+"_port")
		hc.ref("resource_path", "var.health_check_path")
		hc.ref("request_interval", "var.request_interval")
		hc.ref("failure_threshold", "var.failure_threshold")
		tags(hc, `"${var.domain_name}-`+role+`"`)
	}

	for i, role := range []string{"primary", "secondary"} {
		var note []string
		if i == 0 {
			note = []string{
				"Failover alias records. An alias record has no TTL of its own: Route53",
				"answers with the TTL of the load balancer's record, 60 seconds.",
			}
		}
		rec := r.noted(note, "resource", "aws_route53_record", role)
		rec.ref("zone_id", "data.aws_route53_zone.this.zone_id")
		rec.ref("name", "var.domain_name")
		rec.str("type", "A")
		rec.str("set_identifier", role)
		rec.ref("health_check_id", "aws_route53_health_check."+role+".id")
		rec.block("failover_routing_policy").str("type", upper(role))
		al := rec.block("alias")
		al.ref("name", "var."+role+"_alb_dns_name")
		al.ref("zone_id", "var."+role+"_alb_zone_id")
		al.ref("evaluate_target_health", "var.evaluate_target_health")
	}
	return f.bytes()
}
