variable "zone_name" {
  description = "Public hosted zone that holds the record, e.g. example.com."
  type        = string
}

variable "domain_name" {
  description = "Name of the failover record, e.g. app.example.com."
  type        = string
}

variable "primary_port" {
  description = "Port of the primary load balancer's HTTP listener, which its health check requests."
  type        = number
}

variable "secondary_port" {
  description = "Port of the secondary load balancer's HTTP listener, which its health check requests."
  type        = number
}

variable "health_check_path" {
  description = "Path the health checks request on each load balancer."
  type        = string
}

variable "request_interval" {
  description = "Seconds between two requests of one Route53 health checker: 10 or 30."
  type        = number
}

variable "failure_threshold" {
  description = "Consecutive results that flip a health check (1-10)."
  type        = number
}

variable "evaluate_target_health" {
  description = "Also count a region unhealthy when its load balancer has no healthy target."
  type        = bool
}

variable "primary_alb_dns_name" {
  description = "DNS name of the primary region's load balancer."
  type        = string
}

variable "primary_alb_zone_id" {
  description = "Hosted zone of the primary region's load balancer."
  type        = string
}

variable "secondary_alb_dns_name" {
  description = "DNS name of the secondary region's load balancer."
  type        = string
}

variable "secondary_alb_zone_id" {
  description = "Hosted zone of the secondary region's load balancer."
  type        = string
}
