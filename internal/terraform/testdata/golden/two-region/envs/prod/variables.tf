variable "name" {
  description = "Prefix of every resource name: lower-case letters, digits and hyphens, at most 14 characters."
  type        = string
}

variable "primary_region" {
  description = "AWS region of the primary side (provider aws.us_east_1)."
  type        = string
}

variable "secondary_region" {
  description = "AWS region of the secondary side (provider aws.us_west_2)."
  type        = string
}

variable "dns" {
  description = "The stack file's dns block: the hosted zone, the failover record and the Route53 health check (request_interval in seconds: 10 or 30)."
  type = object({
    zone                   = string
    domain                 = string
    evaluate_target_health = bool
    health_check = object({
      path              = string
      request_interval  = number
      failure_threshold = number
    })
  })
}

variable "instance_type" {
  description = "EC2 instance type of the web instances in both regions."
  type        = string
  default     = "t3.micro"
}

variable "primary_vpc" {
  description = "The primary region's vpc block: one public and one private subnet per availability zone."
  type = object({
    cidr            = string
    azs             = list(string)
    public_subnets  = list(string)
    private_subnets = list(string)
  })
}

variable "primary_load_balancer" {
  description = "The primary region's load_balancer block; durations in seconds."
  type = object({
    port                 = number
    algorithm            = string
    deregistration_delay = number
    idle_timeout         = number
    access_logs          = bool
    health_check = object({
      path                = string
      port                = string
      interval            = number
      timeout             = number
      healthy_threshold   = number
      unhealthy_threshold = number
      matcher             = string
    })
  })
}

variable "primary_autoscaling" {
  description = "The primary region's autoscaling block; durations in seconds, CPU thresholds in percent."
  type = object({
    min_size                  = number
    max_size                  = number
    desired_capacity          = number
    health_check_type         = string
    health_check_grace_period = number
    instance_port             = number
    scale_out = object({
      cpu_threshold       = number
      period              = number
      evaluation_periods  = number
      datapoints_to_alarm = number
      adjustment          = number
      cooldown            = number
    })
    scale_in = object({
      cpu_threshold       = number
      period              = number
      evaluation_periods  = number
      datapoints_to_alarm = number
      adjustment          = number
      cooldown            = number
    })
  })
}

variable "primary_ami_id" {
  description = "AMI of the primary region's instances; empty uses the latest Amazon Linux 2023."
  type        = string
  default     = ""
}

variable "primary_certificate_arn" {
  description = "ACM certificate in the primary region; when set, its load balancer also serves HTTPS on port 443."
  type        = string
  default     = ""
}

variable "primary_user_data" {
  description = "Boot script of the primary region's instances: it starts the application on instance_port."
  type        = string
}

variable "secondary_vpc" {
  description = "The secondary region's vpc block: one public and one private subnet per availability zone."
  type = object({
    cidr            = string
    azs             = list(string)
    public_subnets  = list(string)
    private_subnets = list(string)
  })
}

variable "secondary_load_balancer" {
  description = "The secondary region's load_balancer block; durations in seconds."
  type = object({
    port                 = number
    algorithm            = string
    deregistration_delay = number
    idle_timeout         = number
    access_logs          = bool
    health_check = object({
      path                = string
      port                = string
      interval            = number
      timeout             = number
      healthy_threshold   = number
      unhealthy_threshold = number
      matcher             = string
    })
  })
}

variable "secondary_autoscaling" {
  description = "The secondary region's autoscaling block; durations in seconds, CPU thresholds in percent."
  type = object({
    min_size                  = number
    max_size                  = number
    desired_capacity          = number
    health_check_type         = string
    health_check_grace_period = number
    instance_port             = number
    scale_out = object({
      cpu_threshold       = number
      period              = number
      evaluation_periods  = number
      datapoints_to_alarm = number
      adjustment          = number
      cooldown            = number
    })
    scale_in = object({
      cpu_threshold       = number
      period              = number
      evaluation_periods  = number
      datapoints_to_alarm = number
      adjustment          = number
      cooldown            = number
    })
  })
}

variable "secondary_ami_id" {
  description = "AMI of the secondary region's instances; empty uses the latest Amazon Linux 2023."
  type        = string
  default     = ""
}

variable "secondary_certificate_arn" {
  description = "ACM certificate in the secondary region; when set, its load balancer also serves HTTPS on port 443."
  type        = string
  default     = ""
}

variable "secondary_user_data" {
  description = "Boot script of the secondary region's instances: it starts the application on instance_port."
  type        = string
}

variable "database" {
  description = "The stack file's database block and the instances' size."
  type = object({
    engine                  = string
    engine_version          = string
    parameter_group_family  = string
    instance_class          = string
    allocated_storage       = number
    multi_az                = bool
    port                    = number
    name                    = string
    username                = string
    backup_retention_period = number
    deletion_protection     = bool
  })
}
