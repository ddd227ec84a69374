variable "identifier" {
  description = "DB instance identifier, unique in the region."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the database's security group."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the DB subnet group, in at least two availability zones."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups that may connect: the instances'."
  type        = list(string)
}

variable "port" {
  description = "Port the database listens on."
  type        = number
}

variable "instance_class" {
  description = "DB instance class."
  type        = string
}

variable "multi_az" {
  description = "Keep a synchronous standby in another availability zone, promoted automatically when the primary fails."
  type        = bool
}

variable "is_replica" {
  description = "Create a read replica of replicate_source_db instead of a primary."
  type        = bool
  default     = false
}

variable "replicate_source_db" {
  description = "ARN of the primary a replica follows (a cross-region replica needs the ARN)."
  type        = string
  default     = null
}

variable "engine" {
  description = "RDS engine of a primary, postgres or mysql; a replica follows its primary's."
  type        = string
}

variable "engine_version" {
  description = "Engine version of a primary (e.g. 16 for postgres, 8.0 for mysql); a replica follows its primary's."
  type        = string
}

variable "parameter_group_family" {
  description = "DB parameter group family matching the engine and version (e.g. postgres16, mysql8.0)."
  type        = string
}

variable "allocated_storage" {
  description = "Storage of a primary in GiB; a replica gets its primary's."
  type        = number
  default     = 20
}

variable "db_name" {
  description = "Application database a primary creates."
  type        = string
  default     = null
}

variable "username" {
  description = "Master user of a primary; RDS keeps its password in Secrets Manager."
  type        = string
  default     = null
}

variable "backup_retention_period" {
  description = "Days of automated backups of a primary (1-35); replicas need them."
  type        = number
  default     = 7
}

variable "deletion_protection" {
  description = "Refuse to delete the instance until this is turned off."
  type        = bool
  default     = true
}
