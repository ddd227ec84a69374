package terraform

// policyType is the type of a scaling policy input: the stack file's
// scale_out or scale_in block in the units CloudWatch and Auto Scaling use.
const policyType = `object({
  cpu_threshold       = number
  period              = number
  evaluation_periods  = number
  datapoints_to_alarm = number
  adjustment          = number
  cooldown            = number
})`

const policyDesc = "cpu_threshold (percent), period (seconds, a multiple of 60), evaluation_periods, datapoints_to_alarm, adjustment (instances) and cooldown (seconds)"

var asgVariables = []variable{
	{"name", "string", "Prefix of resource names.", ""},
	{"region", "string", "AWS region, part of the group's and alarms' names.", ""},
	{"vpc_id", "string", "VPC of the instances' security group.", ""},
	{"subnet_ids", "list(string)", "Private subnets the instances run in, one per availability zone.", ""},
	{"target_group_arns", "list(string)", "Target groups the instances register with.", ""},
	{"alb_security_group_id", "string", "Security group of the load balancer, the only source of traffic to the instances.", ""},
	{"instance_port", "number", "Port every instance serves traffic on.", ""},
	{"health_check_port", "string", "Port the load balancer checks: traffic-port or a port number.", ""},
	{"min_size", "number", "Fewest instances.", ""},
	{"max_size", "number", "Most instances.", ""},
	{"desired_capacity", "number", "Instances to start with; the scaling policies change it afterwards.", ""},
	{"health_check_type", "string", "EC2 (the instance runs) or ELB (the load balancer's verdict) decides when an instance is replaced.", ""},
	{"health_check_grace_period", "number", "Seconds after launch before health checks count.", ""},
	{"scale_out", policyType, "Scale-out policy and its CPU alarm: " + policyDesc + ".", ""},
	{"scale_in", policyType, "Scale-in policy and its CPU alarm: " + policyDesc + "; adjustment is negative.", ""},
	{"user_data", "string", "Boot script of every instance: it starts the application on instance_port.", ""},
	{"ami_id", "string", "AMI of the instances; empty uses the latest Amazon Linux 2023 for x86_64.", `""`},
	{"instance_type", "string", "EC2 instance type.", `"t3.micro"`},
}

var asgOutputs = []output{
	{"autoscaling_group_name", "Name of the Auto Scaling group.", "aws_autoscaling_group.this.name"},
	{"autoscaling_group_arn", "ARN of the Auto Scaling group.", "aws_autoscaling_group.this.arn"},
	{"security_group_id", "Security group of the instances; the database accepts connections only from it.", "aws_security_group.instances.id"},
	{"launch_template_id", "ID of the launch template.", "aws_launch_template.this.id"},
	{"scale_out_policy_arn", "ARN of the scale-out policy.", "aws_autoscaling_policy.scale_out.arn"},
	{"scale_in_policy_arn", "ARN of the scale-in policy.", "aws_autoscaling_policy.scale_in.arn"},
}

func asgMain() []byte {
	f := newFile()
	r := f.root()
	requireAWS(r)

	ami := r.top("data", "aws_ami", "al2023")
	ami.boolean("most_recent", true)
	ami.raw("owners", strList([]string{"amazon"}))
	flt := ami.block("filter")
	flt.str("name", "name")
	flt.raw("values", strList([]string{"al2023-ami-2023.*-x86_64"}))

	l := r.top("locals")
	l.expr("image_id", `var.ami_id != "" ? var.ami_id : data.aws_ami.al2023.id`)
	l.expr("ingress_ports", `distinct([var.instance_port, var.health_check_port == "traffic-port" ? var.instance_port : tonumber(var.health_check_port)])`)

	sg := r.top("resource", "aws_security_group", "instances")
	sg.expr("name", `"${var.name}-instances"`)
	sg.str("description", "Traffic and health checks from the load balancer only")
	sg.ref("vpc_id", "var.vpc_id")
	in := sg.block("dynamic", "ingress")
	in.ref("for_each", "local.ingress_ports")
	c := in.block("content")
	c.str("description", "Load balancer")
	c.ref("from_port", "ingress.value")
	c.ref("to_port", "ingress.value")
	c.str("protocol", "tcp")
	c.expr("security_groups", "[var.alb_security_group_id]")
	out := sg.block("egress")
	out.str("description", "Packages and the database")
	out.num("from_port", 0)
	out.num("to_port", 0)
	out.str("protocol", "-1")
	out.raw("cidr_blocks", strList([]string{"0.0.0.0/0"}))
	sg.AppendNewline()
	tags(sg, `"${var.name}-instances"`)

	lt := r.top("resource", "aws_launch_template", "this")
	lt.expr("name_prefix", `"${var.name}-"`)
	lt.ref("image_id", "local.image_id")
	lt.ref("instance_type", "var.instance_type")
	lt.expr("vpc_security_group_ids", "[aws_security_group.instances.id]")
	lt.expr("user_data", "base64encode(var.user_data)")
	mon := lt.noted([]string{"One-minute CPU metrics, which the alarms' periods need."}, "monitoring")
	mon.boolean("enabled", true)
	md := lt.block("metadata_options")
	md.str("http_endpoint", "enabled")
	md.str("http_tokens", "required")
	ts := lt.block("tag_specifications")
	ts.str("resource_type", "instance")
	tags(ts, `"${var.name}-${var.region}"`)

	g := r.top("resource", "aws_autoscaling_group", "this")
	g.expr("name", `"${var.name}-${var.region}"`)
	g.ref("min_size", "var.min_size")
	g.ref("max_size", "var.max_size")
	g.ref("desired_capacity", "var.desired_capacity")
	g.ref("vpc_zone_identifier", "var.subnet_ids")
	g.ref("target_group_arns", "var.target_group_arns")
	g.ref("health_check_type", "var.health_check_type")
	g.ref("health_check_grace_period", "var.health_check_grace_period")
	lts := g.block("launch_template")
	lts.ref("id", "aws_launch_template.this.id")
	lts.ref("version", "aws_launch_template.this.latest_version")
	ir := g.noted([]string{"A new launch template version replaces the instances a few at a time."}, "instance_refresh")
	ir.str("strategy", "Rolling")
	ir.block("preferences").num("min_healthy_percentage", 50)
	tag := g.block("tag")
	tag.str("key", "Name")
	tag.expr("value", `"${var.name}-${var.region}"`)
	tag.boolean("propagate_at_launch", true)
	lc := g.noted([]string{"The scaling policies own the capacity once the group exists."}, "lifecycle")
	lc.expr("ignore_changes", "[desired_capacity]")

	for _, p := range []struct{ name, alarm, op, desc string }{
		{"scale_out", "cpu_high", "GreaterThanThreshold", "above"},
		{"scale_in", "cpu_low", "LessThanThreshold", "below"},
	} {
		pol := r.top("resource", "aws_autoscaling_policy", p.name)
		pol.expr("name", `"${var.name}-${var.region}-`+dashed(p.name)+`"`)
		pol.ref("autoscaling_group_name", "aws_autoscaling_group.this.name")
		pol.str("policy_type", "SimpleScaling")
		pol.str("adjustment_type", "ChangeInCapacity")
		pol.ref("scaling_adjustment", "var."+p.name+".adjustment")
		pol.ref("cooldown", "var."+p.name+".cooldown")

		a := r.top("resource", "aws_cloudwatch_metric_alarm", p.alarm)
		a.expr("alarm_name", `"${var.name}-${var.region}-`+dashed(p.alarm)+`"`)
		a.expr("alarm_description", `"Average CPU of ${aws_autoscaling_group.this.name} `+p.desc+` ${var.`+p.name+`.cpu_threshold}%"`)
		a.str("namespace", "AWS/EC2")
		a.str("metric_name", "CPUUtilization")
		a.str("statistic", "Average")
		a.raw("dimensions", object{}.expr("AutoScalingGroupName", "aws_autoscaling_group.this.name").tokens())
		a.str("comparison_operator", p.op)
		a.ref("threshold", "var."+p.name+".cpu_threshold")
		a.ref("period", "var."+p.name+".period")
		a.ref("evaluation_periods", "var."+p.name+".evaluation_periods")
		a.ref("datapoints_to_alarm", "var."+p.name+".datapoints_to_alarm")
		a.expr("alarm_actions", "[aws_autoscaling_policy."+p.name+".arn]")
	}
	return f.bytes()
}
