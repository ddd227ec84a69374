output "alb_arn" {
  description = "ARN of the load balancer."
  value       = aws_lb.this.arn
}

output "alb_dns_name" {
  description = "DNS name of the load balancer: Route53 checks it and aliases to it."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone of the load balancer's DNS name, for alias records."
  value       = aws_lb.this.zone_id
}

output "target_group_arn" {
  description = "ARN of the target group the instances register with."
  value       = aws_lb_target_group.this.arn
}

output "security_group_id" {
  description = "Security group of the load balancer; the instances accept traffic only from it."
  value       = aws_security_group.alb.id
}

output "access_logs_bucket" {
  description = "S3 bucket of the access logs, or null without access logs."
  value       = one(aws_s3_bucket.logs[*].id)
}
