variable "name" {
  description = "Prefix of resource names (at most 14 characters, so that name-region fits the 32 characters a load balancer name may have)."
  type        = string
}

variable "region" {
  description = "AWS region, part of the load balancer's and target group's names."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the target group and the security group."
  type        = string
}

variable "subnet_ids" {
  description = "Public subnets of the load balancer, in at least two availability zones."
  type        = list(string)
}

variable "listener_port" {
  description = "Port of the HTTP listener."
  type        = number
}

variable "target_port" {
  description = "Port the instances serve traffic on."
  type        = number
}

variable "algorithm" {
  description = "How the target group picks a target: round_robin or least_outstanding_requests."
  type        = string
}

variable "deregistration_delay" {
  description = "Seconds a deregistered target keeps serving its in-flight requests (0-3600)."
  type        = number
}

variable "idle_timeout" {
  description = "Seconds a connection may stay idle, and so how long a target may take to answer (1-4000)."
  type        = number
}

variable "access_logs" {
  description = "Write access logs to an S3 bucket created for them."
  type        = bool
}

variable "health_check_path" {
  description = "Path the load balancer requests on each target."
  type        = string
}

variable "health_check_port" {
  description = "Port the load balancer checks: traffic-port or a port number."
  type        = string
}

variable "health_check_interval" {
  description = "Seconds between two checks of one target (5-300)."
  type        = number
}

variable "health_check_timeout" {
  description = "Seconds without an answer that fail a check (2-120, less than the interval)."
  type        = number
}

variable "healthy_threshold" {
  description = "Consecutive passed checks that make an unhealthy target healthy (2-10)."
  type        = number
}

variable "unhealthy_threshold" {
  description = "Consecutive failed checks that make a target unhealthy (2-10)."
  type        = number
}

variable "health_check_matcher" {
  description = "Status codes of a passed check: \"200\", \"200,202\" or \"200-299\" (200-499)."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate in this region; when set, an HTTPS listener on port 443 forwards to the same target group."
  type        = string
  default     = ""
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}
