terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

data "aws_ami" "al2023" {
  most_recent = true
  owners      = ["amazon"]

  filter {
    name   = "name"
    values = ["al2023-ami-2023.*-x86_64"]
  }
}

locals {
  image_id      = var.ami_id != "" ? var.ami_id : data.aws_ami.al2023.id
  ingress_ports = distinct([var.instance_port, var.health_check_port == "traffic-port" ? var.instance_port : tonumber(var.health_check_port)])
}

resource "aws_security_group" "instances" {
  name        = "${var.name}-instances"
  description = "Traffic and health checks from the load balancer only"
  vpc_id      = var.vpc_id

  dynamic "ingress" {
    for_each = local.ingress_ports

    content {
      description     = "Load balancer"
      from_port       = ingress.value
      to_port         = ingress.value
      protocol        = "tcp"
      security_groups = [var.alb_security_group_id]
    }
  }

  egress {
    description = "Packages and the database"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = {
    Name = "${var.name}-instances"
  }
}

resource "aws_launch_template" "this" {
  name_prefix            = "${var.name}-"
  image_id               = local.image_id
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.instances.id]
  user_data              = base64encode(var.user_data)

  # One-minute CPU metrics, which the alarms' periods need.
  monitoring {
    enabled = true
  }

  metadata_options {
    http_endpoint = "enabled"
    http_tokens   = "required"
  }

  tag_specifications {
    resource_type = "instance"
    tags = {
      Name = "${var.name}-${var.region}"
    }
  }
}

resource "aws_autoscaling_group" "this" {
  name                      = "${var.name}-${var.region}"
  min_size                  = var.min_size
  max_size                  = var.max_size
  desired_capacity          = var.desired_capacity
  vpc_zone_identifier       = var.subnet_ids
  target_group_arns         = var.target_group_arns
  health_check_type         = var.health_check_type
  health_check_grace_period = var.health_check_grace_period

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  # A new launch template version replaces the instances a few at a time.
  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 50
    }
  }

  tag {
    key                 = "Name"
    value               = "${var.name}-${var.region}"
    propagate_at_launch = true
  }

  # The scaling policies own the capacity once the group exists.
  lifecycle {
    ignore_changes = [desired_capacity]
  }
}

resource "aws_autoscaling_policy" "scale_out" {
  name                   = "${var.name}-${var.region}-scale-out"
  autoscaling_group_name = aws_autoscaling_group.this.name
  policy_type            = "SimpleScaling"
  adjustment_type        = "ChangeInCapacity"
  scaling_adjustment     = var.scale_out.adjustment
  cooldown               = var.scale_out.cooldown
}

resource "aws_cloudwatch_metric_alarm" "cpu_high" {
  alarm_name        = "${var.name}-${var.region}-cpu-high"
  alarm_description = "Average CPU of ${aws_autoscaling_group.this.name} above ${var.scale_out.cpu_threshold}%"
  namespace         = "AWS/EC2"
  metric_name       = "CPUUtilization"
  statistic         = "Average"
  dimensions = {
    AutoScalingGroupName = aws_autoscaling_group.this.name
  }
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.scale_out.cpu_threshold
  period              = var.scale_out.period
  evaluation_periods  = var.scale_out.evaluation_periods
  datapoints_to_alarm = var.scale_out.datapoints_to_alarm
  alarm_actions       = [aws_autoscaling_policy.scale_out.arn]
}

resource "aws_autoscaling_policy" "scale_in" {
  name                   = "${var.name}-${var.region}-scale-in"
  autoscaling_group_name = aws_autoscaling_group.this.name
  policy_type            = "SimpleScaling"
  adjustment_type        = "ChangeInCapacity"
  scaling_adjustment     = var.scale_in.adjustment
  cooldown               = var.scale_in.cooldown
}

resource "aws_cloudwatch_metric_alarm" "cpu_low" {
  alarm_name        = "${var.name}-${var.region}-cpu-low"
  alarm_description = "Average CPU of ${aws_autoscaling_group.this.name} below ${var.scale_in.cpu_threshold}%"
  namespace         = "AWS/EC2"
  metric_name       = "CPUUtilization"
  statistic         = "Average"
  dimensions = {
    AutoScalingGroupName = aws_autoscaling_group.this.name
  }
  comparison_operator = "LessThanThreshold"
  threshold           = var.scale_in.cpu_threshold
  period              = var.scale_in.period
  evaluation_periods  = var.scale_in.evaluation_periods
  datapoints_to_alarm = var.scale_in.datapoints_to_alarm
  alarm_actions       = [aws_autoscaling_policy.scale_in.arn]
}
