output "db_instance_arn" {
  description = "ARN of the DB instance, the source of cross-region replicas."
  value       = aws_db_instance.this.arn
}

output "db_instance_identifier" {
  description = "Identifier of the DB instance."
  value       = aws_db_instance.this.identifier
}

output "endpoint" {
  description = "host:port clients connect to; on a Multi-AZ primary it follows the standby after a failover."
  value       = aws_db_instance.this.endpoint
}

output "address" {
  description = "Host name of the DB instance."
  value       = aws_db_instance.this.address
}

output "master_user_secret_arn" {
  description = "Secrets Manager secret with the master password of a primary, or null for a replica."
  value       = one(aws_db_instance.this.master_user_secret[*].secret_arn)
}

output "kms_key_arn" {
  description = "KMS key that encrypts a cross-region replica's storage, or null for a primary."
  value       = one(aws_kms_key.replica[*].arn)
}

output "security_group_id" {
  description = "Security group of the database."
  value       = aws_security_group.db.id
}
