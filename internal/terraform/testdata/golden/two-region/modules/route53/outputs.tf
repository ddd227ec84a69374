output "fqdn" {
  description = "Name clients resolve."
  value       = aws_route53_record.primary.fqdn
}

output "zone_id" {
  description = "ID of the hosted zone."
  value       = data.aws_route53_zone.this.zone_id
}

output "primary_health_check_id" {
  description = "Health check of the primary region."
  value       = aws_route53_health_check.primary.id
}

output "secondary_health_check_id" {
  description = "Health check of the secondary region."
  value       = aws_route53_health_check.secondary.id
}
