# Stack two-region, exported by hastack: the stack file's values are in
# terraform.tfvars, the modules under ../../modules are generic.

# The primary region, us-east-1.
module "vpc_primary" {
  source = "../../modules/vpc"
  providers = {
    aws = aws.us_east_1
  }

  name                 = var.name
  cidr                 = var.primary_vpc.cidr
  availability_zones   = var.primary_vpc.azs
  public_subnet_cidrs  = var.primary_vpc.public_subnets
  private_subnet_cidrs = var.primary_vpc.private_subnets
}

module "alb_primary" {
  source = "../../modules/alb"
  providers = {
    aws = aws.us_east_1
  }

  name                  = var.name
  region                = var.primary_region
  vpc_id                = module.vpc_primary.vpc_id
  subnet_ids            = module.vpc_primary.public_subnet_ids
  listener_port         = var.primary_load_balancer.port
  target_port           = var.primary_autoscaling.instance_port
  algorithm             = var.primary_load_balancer.algorithm
  deregistration_delay  = var.primary_load_balancer.deregistration_delay
  idle_timeout          = var.primary_load_balancer.idle_timeout
  access_logs           = var.primary_load_balancer.access_logs
  health_check_path     = var.primary_load_balancer.health_check.path
  health_check_port     = var.primary_load_balancer.health_check.port
  health_check_interval = var.primary_load_balancer.health_check.interval
  health_check_timeout  = var.primary_load_balancer.health_check.timeout
  healthy_threshold     = var.primary_load_balancer.health_check.healthy_threshold
  unhealthy_threshold   = var.primary_load_balancer.health_check.unhealthy_threshold
  health_check_matcher  = var.primary_load_balancer.health_check.matcher
  certificate_arn       = var.primary_certificate_arn
}

module "asg_primary" {
  source = "../../modules/asg"
  providers = {
    aws = aws.us_east_1
  }

  name                      = var.name
  region                    = var.primary_region
  vpc_id                    = module.vpc_primary.vpc_id
  subnet_ids                = module.vpc_primary.private_subnet_ids
  target_group_arns         = [module.alb_primary.target_group_arn]
  alb_security_group_id     = module.alb_primary.security_group_id
  instance_port             = var.primary_autoscaling.instance_port
  health_check_port         = var.primary_load_balancer.health_check.port
  min_size                  = var.primary_autoscaling.min_size
  max_size                  = var.primary_autoscaling.max_size
  desired_capacity          = var.primary_autoscaling.desired_capacity
  health_check_type         = var.primary_autoscaling.health_check_type
  health_check_grace_period = var.primary_autoscaling.health_check_grace_period
  scale_out                 = var.primary_autoscaling.scale_out
  scale_in                  = var.primary_autoscaling.scale_in
  user_data                 = var.primary_user_data
  ami_id                    = var.primary_ami_id
  instance_type             = var.instance_type
}

# The secondary region, us-west-2.
module "vpc_secondary" {
  source = "../../modules/vpc"
  providers = {
    aws = aws.us_west_2
  }

  name                 = var.name
  cidr                 = var.secondary_vpc.cidr
  availability_zones   = var.secondary_vpc.azs
  public_subnet_cidrs  = var.secondary_vpc.public_subnets
  private_subnet_cidrs = var.secondary_vpc.private_subnets
}

module "alb_secondary" {
  source = "../../modules/alb"
  providers = {
    aws = aws.us_west_2
  }

  name                  = var.name
  region                = var.secondary_region
  vpc_id                = module.vpc_secondary.vpc_id
  subnet_ids            = module.vpc_secondary.public_subnet_ids
  listener_port         = var.secondary_load_balancer.port
  target_port           = var.secondary_autoscaling.instance_port
  algorithm             = var.secondary_load_balancer.algorithm
  deregistration_delay  = var.secondary_load_balancer.deregistration_delay
  idle_timeout          = var.secondary_load_balancer.idle_timeout
  access_logs           = var.secondary_load_balancer.access_logs
  health_check_path     = var.secondary_load_balancer.health_check.path
  health_check_port     = var.secondary_load_balancer.health_check.port
  health_check_interval = var.secondary_load_balancer.health_check.interval
  health_check_timeout  = var.secondary_load_balancer.health_check.timeout
  healthy_threshold     = var.secondary_load_balancer.health_check.healthy_threshold
  unhealthy_threshold   = var.secondary_load_balancer.health_check.unhealthy_threshold
  health_check_matcher  = var.secondary_load_balancer.health_check.matcher
  certificate_arn       = var.secondary_certificate_arn
}

module "asg_secondary" {
  source = "../../modules/asg"
  providers = {
    aws = aws.us_west_2
  }

  name                      = var.name
  region                    = var.secondary_region
  vpc_id                    = module.vpc_secondary.vpc_id
  subnet_ids                = module.vpc_secondary.private_subnet_ids
  target_group_arns         = [module.alb_secondary.target_group_arn]
  alb_security_group_id     = module.alb_secondary.security_group_id
  instance_port             = var.secondary_autoscaling.instance_port
  health_check_port         = var.secondary_load_balancer.health_check.port
  min_size                  = var.secondary_autoscaling.min_size
  max_size                  = var.secondary_autoscaling.max_size
  desired_capacity          = var.secondary_autoscaling.desired_capacity
  health_check_type         = var.secondary_autoscaling.health_check_type
  health_check_grace_period = var.secondary_autoscaling.health_check_grace_period
  scale_out                 = var.secondary_autoscaling.scale_out
  scale_in                  = var.secondary_autoscaling.scale_in
  user_data                 = var.secondary_user_data
  ami_id                    = var.secondary_ami_id
  instance_type             = var.instance_type
}

# The database: a primary in us-east-1 with a Multi-AZ standby.
module "rds_primary" {
  source = "../../modules/rds"
  providers = {
    aws = aws.us_east_1
  }

  identifier                 = "${var.name}-db"
  vpc_id                     = module.vpc_primary.vpc_id
  subnet_ids                 = module.vpc_primary.private_subnet_ids
  allowed_security_group_ids = [module.asg_primary.security_group_id]
  port                       = var.database.port
  instance_class             = var.database.instance_class
  multi_az                   = var.database.multi_az
  engine                     = var.database.engine
  engine_version             = var.database.engine_version
  parameter_group_family     = var.database.parameter_group_family
  allocated_storage          = var.database.allocated_storage
  db_name                    = var.database.name
  username                   = var.database.username
  backup_retention_period    = var.database.backup_retention_period
  deletion_protection        = var.database.deletion_protection
}

# The cross-region read replica in us-west-2, replicating asynchronously. An
# operator promotes it after losing us-east-1 (aws rds promote-read-replica).
module "rds_replica" {
  source = "../../modules/rds"
  providers = {
    aws = aws.us_west_2
  }

  identifier                 = "${var.name}-db-replica"
  is_replica                 = true
  replicate_source_db        = module.rds_primary.db_instance_arn
  vpc_id                     = module.vpc_secondary.vpc_id
  subnet_ids                 = module.vpc_secondary.private_subnet_ids
  allowed_security_group_ids = [module.asg_secondary.security_group_id]
  port                       = var.database.port
  instance_class             = var.database.instance_class
  engine                     = var.database.engine
  engine_version             = var.database.engine_version
  parameter_group_family     = var.database.parameter_group_family
  # The stack file's multi_az is the primary's; a replica has no standby.
  multi_az            = false
  deletion_protection = var.database.deletion_protection
}

# Failover DNS: app.example.com answers with the primary region's load balancer
# while its health check passes, else with the secondary's.
# The stack file's ttl = 60 is not exported: alias records have no TTL of
# their own, Route53 answers with the load balancer record's 60 seconds.
module "route53" {
  source = "../../modules/route53"
  providers = {
    aws = aws.us_east_1
  }

  zone_name              = var.dns.zone
  domain_name            = var.dns.domain
  primary_port           = var.primary_load_balancer.port
  secondary_port         = var.secondary_load_balancer.port
  health_check_path      = var.dns.health_check.path
  request_interval       = var.dns.health_check.request_interval
  failure_threshold      = var.dns.health_check.failure_threshold
  evaluate_target_health = var.dns.evaluate_target_health
  primary_alb_dns_name   = module.alb_primary.alb_dns_name
  primary_alb_zone_id    = module.alb_primary.alb_zone_id
  secondary_alb_dns_name = module.alb_secondary.alb_dns_name
  secondary_alb_zone_id  = module.alb_secondary.alb_zone_id
}
