variable "name" {
  description = "Prefix of resource names."
  type        = string
}

variable "region" {
  description = "AWS region, part of the group's and alarms' names."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the instances' security group."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the instances run in, one per availability zone."
  type        = list(string)
}

variable "target_group_arns" {
  description = "Target groups the instances register with."
  type        = list(string)
}

variable "alb_security_group_id" {
  description = "Security group of the load balancer, the only source of traffic to the instances."
  type        = string
}

variable "instance_port" {
  description = "Port every instance serves traffic on."
  type        = number
}

variable "health_check_port" {
  description = "Port the load balancer checks: traffic-port or a port number."
  type        = string
}

variable "min_size" {
  description = "Fewest instances."
  type        = number
}

variable "max_size" {
  description = "Most instances."
  type        = number
}

variable "desired_capacity" {
  description = "Instances to start with; the scaling policies change it afterwards."
  type        = number
}

variable "health_check_type" {
  description = "EC2 (the instance runs) or ELB (the load balancer's verdict) decides when an instance is replaced."
  type        = string
}

variable "health_check_grace_period" {
  description = "Seconds after launch before health checks count."
  type        = number
}

variable "scale_out" {
  description = "Scale-out policy and its CPU alarm: cpu_threshold (percent), period (seconds, a multiple of 60), evaluation_periods, datapoints_to_alarm, adjustment (instances) and cooldown (seconds)."
  type = object({
    cpu_threshold       = number
    period              = number
    evaluation_periods  = number
    datapoints_to_alarm = number
    adjustment          = number
    cooldown            = number
  })
}

variable "scale_in" {
  description = "Scale-in policy and its CPU alarm: cpu_threshold (percent), period (seconds, a multiple of 60), evaluation_periods, datapoints_to_alarm, adjustment (instances) and cooldown (seconds); adjustment is negative."
  type = object({
    cpu_threshold       = number
    period              = number
    evaluation_periods  = number
    datapoints_to_alarm = number
    adjustment          = number
    cooldown            = number
  })
}

variable "user_data" {
  description = "Boot script of every instance: it starts the application on instance_port."
  type        = string
}

variable "ami_id" {
  description = "AMI of the instances; empty uses the latest Amazon Linux 2023 for x86_64."
  type        = string
  default     = ""
}

variable "instance_type" {
  description = "EC2 instance type."
  type        = string
  default     = "t3.micro"
}
