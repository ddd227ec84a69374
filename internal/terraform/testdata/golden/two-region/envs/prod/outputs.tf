output "app_url" {
  description = "URL clients use: the failover record."
  value       = "http://${var.dns.domain}${var.primary_load_balancer.port == 80 ? "" : ":${var.primary_load_balancer.port}"}/"
}

output "primary_alb_dns_name" {
  description = "DNS name of the primary region's load balancer."
  value       = module.alb_primary.alb_dns_name
}

output "primary_autoscaling_group" {
  description = "Auto Scaling group of the primary region."
  value       = module.asg_primary.autoscaling_group_name
}

output "secondary_alb_dns_name" {
  description = "DNS name of the secondary region's load balancer."
  value       = module.alb_secondary.alb_dns_name
}

output "secondary_autoscaling_group" {
  description = "Auto Scaling group of the secondary region."
  value       = module.asg_secondary.autoscaling_group_name
}

output "db_writer_endpoint" {
  description = "host:port of the primary database; after a Multi-AZ failover it reaches the promoted standby."
  value       = module.rds_primary.endpoint
}

output "db_master_user_secret_arn" {
  description = "Secrets Manager secret with the database master password."
  value       = module.rds_primary.master_user_secret_arn
}

output "db_replica_endpoint" {
  description = "host:port of the cross-region read replica in us-west-2."
  value       = module.rds_replica.endpoint
}
