terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

locals {
  listener_ports = var.certificate_arn == "" ? [var.listener_port] : [var.listener_port, 443]
}

resource "aws_security_group" "alb" {
  name        = "${var.name}-alb"
  description = "HTTP and HTTPS from anywhere to the load balancer"
  vpc_id      = var.vpc_id

  dynamic "ingress" {
    for_each = local.listener_ports

    content {
      description = "Clients"
      from_port   = ingress.value
      to_port     = ingress.value
      protocol    = "tcp"
      cidr_blocks = ["0.0.0.0/0"]
    }
  }

  egress {
    description = "Health checks and requests to the instances"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }

  tags = {
    Name = "${var.name}-alb"
  }
}

resource "aws_lb" "this" {
  name                       = "${var.name}-${var.region}"
  load_balancer_type         = "application"
  internal                   = false
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.subnet_ids
  idle_timeout               = var.idle_timeout
  drop_invalid_header_fields = true

  dynamic "access_logs" {
    for_each = aws_s3_bucket_policy.logs[*].bucket

    content {
      bucket  = access_logs.value
      enabled = true
    }
  }

  tags = {
    Name = "${var.name}-${var.region}"
  }
}

# The stack file's target group: the same health check, thresholds and
# deregistration delay that the local drills ran with.
resource "aws_lb_target_group" "this" {
  name                          = "${var.name}-${var.region}"
  port                          = var.target_port
  protocol                      = "HTTP"
  target_type                   = "instance"
  vpc_id                        = var.vpc_id
  deregistration_delay          = var.deregistration_delay
  load_balancing_algorithm_type = var.algorithm

  health_check {
    enabled             = true
    protocol            = "HTTP"
    path                = var.health_check_path
    port                = var.health_check_port
    interval            = var.health_check_interval
    timeout             = var.health_check_timeout
    healthy_threshold   = var.healthy_threshold
    unhealthy_threshold = var.unhealthy_threshold
    matcher             = var.health_check_matcher
  }

  tags = {
    Name = "${var.name}-${var.region}"
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = var.listener_port
  protocol          = "HTTP"

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }
}

resource "aws_lb_listener" "https" {
  count             = var.certificate_arn == "" ? 0 : 1
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }
}

# Access logs, when the stack file asks for them: a bucket the region's
# Elastic Load Balancing account may write to. (Regions opened after August
# 2022 grant logdelivery.elasticloadbalancing.amazonaws.com instead.)
resource "aws_s3_bucket" "logs" {
  count         = var.access_logs ? 1 : 0
  bucket_prefix = "${var.name}-alb-logs-"
  tags = {
    Name = "${var.name}-alb-logs"
  }
}

data "aws_elb_service_account" "this" {
  count = var.access_logs ? 1 : 0
}

resource "aws_s3_bucket_policy" "logs" {
  count  = var.access_logs ? 1 : 0
  bucket = aws_s3_bucket.logs[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { AWS = data.aws_elb_service_account.this[0].arn }
      Action    = "s3:PutObject"
      Resource  = "${aws_s3_bucket.logs[0].arn}/AWSLogs/*"
    }]
  })
}
