terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

resource "aws_db_subnet_group" "this" {
  name       = var.identifier
  subnet_ids = var.subnet_ids
  tags = {
    Name = var.identifier
  }
}

resource "aws_security_group" "db" {
  name        = var.identifier
  description = "Database port from the instances only"
  vpc_id      = var.vpc_id

  ingress {
    description     = "Instances"
    from_port       = var.port
    to_port         = var.port
    protocol        = "tcp"
    security_groups = var.allowed_security_group_ids
  }

  tags = {
    Name = var.identifier
  }
}

# An encrypted primary's replica in another region must be encrypted with a
# key of its own region.
resource "aws_kms_key" "replica" {
  count                   = var.is_replica ? 1 : 0
  description             = "Storage of ${var.identifier}"
  deletion_window_in_days = 30
  enable_key_rotation     = true
  tags = {
    Name = var.identifier
  }
}

# The engine's settings, in a group of the database's own, so they can be
# changed without touching other databases; a replica gets one in its region.
resource "aws_db_parameter_group" "this" {
  name   = var.identifier
  family = var.parameter_group_family
  tags = {
    Name = var.identifier
  }
}

resource "aws_db_instance" "this" {
  identifier                  = var.identifier
  engine                      = var.is_replica ? null : var.engine
  engine_version              = var.is_replica ? null : var.engine_version
  instance_class              = var.instance_class
  allocated_storage           = var.is_replica ? null : var.allocated_storage
  storage_type                = "gp3"
  storage_encrypted           = true
  kms_key_id                  = one(aws_kms_key.replica[*].arn)
  replicate_source_db         = var.is_replica ? var.replicate_source_db : null
  db_name                     = var.is_replica ? null : var.db_name
  username                    = var.is_replica ? null : var.username
  manage_master_user_password = var.is_replica ? null : true
  port                        = var.port
  multi_az                    = var.multi_az
  db_subnet_group_name        = aws_db_subnet_group.this.name
  parameter_group_name        = aws_db_parameter_group.this.name
  vpc_security_group_ids      = [aws_security_group.db.id]
  publicly_accessible         = false
  # The read replica keeps no automated backups of its own; give it a retention
  # period when promoting it (promote-read-replica --backup-retention-period).
  backup_retention_period = var.is_replica ? 0 : var.backup_retention_period
  deletion_protection     = var.deletion_protection
  # A replica cannot leave a final snapshot; a primary does.
  skip_final_snapshot        = var.is_replica
  final_snapshot_identifier  = var.is_replica ? null : "${var.identifier}-final"
  copy_tags_to_snapshot      = true
  auto_minor_version_upgrade = true
  tags = {
    Name = var.identifier
  }
}
