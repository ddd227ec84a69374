variable "name" {
  description = "Prefix of resource names."
  type        = string
}

variable "cidr" {
  description = "IPv4 block of the VPC, e.g. 10.0.0.0/16."
  type        = string
}

variable "availability_zones" {
  description = "Availability zones, one public and one private subnet in each."
  type        = list(string)
}

variable "public_subnet_cidrs" {
  description = "One CIDR per availability zone, in the same order: the load balancer's subnets."
  type        = list(string)
}

variable "private_subnet_cidrs" {
  description = "One CIDR per availability zone, in the same order: the instances' and the database's subnets."
  type        = list(string)
}
