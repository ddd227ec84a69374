terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

data "aws_route53_zone" "this" {
  name         = var.zone_name
  private_zone = false
}

resource "aws_route53_health_check" "primary" {
  type              = "HTTP"
  fqdn              = var.primary_alb_dns_name
  port              = var.primary_port
  resource_path     = var.health_check_path
  request_interval  = var.request_interval
  failure_threshold = var.failure_threshold
  tags = {
    Name = "${var.domain_name}-primary"
  }
}

resource "aws_route53_health_check" "secondary" {
  type              = "HTTP"
  fqdn              = var.secondary_alb_dns_name
  port              = var.secondary_port
  resource_path     = var.health_check_path
  request_interval  = var.request_interval
  failure_threshold = var.failure_threshold
  tags = {
    Name = "${var.domain_name}-secondary"
  }
}

# Failover alias records. An alias record has no TTL of its own: Route53
# answers with the TTL of the load balancer's record, 60 seconds.
resource "aws_route53_record" "primary" {
  zone_id         = data.aws_route53_zone.this.zone_id
  name            = var.domain_name
  type            = "A"
  set_identifier  = "primary"
  health_check_id = aws_route53_health_check.primary.id

  failover_routing_policy {
    type = "PRIMARY"
  }

  alias {
    name                   = var.primary_alb_dns_name
    zone_id                = var.primary_alb_zone_id
    evaluate_target_health = var.evaluate_target_health
  }
}

resource "aws_route53_record" "secondary" {
  zone_id         = data.aws_route53_zone.this.zone_id
  name            = var.domain_name
  type            = "A"
  set_identifier  = "secondary"
  health_check_id = aws_route53_health_check.secondary.id

  failover_routing_policy {
    type = "SECONDARY"
  }

  alias {
    name                   = var.secondary_alb_dns_name
    zone_id                = var.secondary_alb_zone_id
    evaluate_target_health = var.evaluate_target_health
  }
}
