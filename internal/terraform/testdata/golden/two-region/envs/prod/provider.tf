terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.0"
    }
  }
}

# The primary region, us-east-1.
provider "aws" {
  alias  = "us_east_1"
  region = var.primary_region

  default_tags {
    tags = {
      Stack     = var.name
      ManagedBy = "terraform"
    }
  }
}

# The secondary region, us-west-2.
provider "aws" {
  alias  = "us_west_2"
  region = var.secondary_region

  default_tags {
    tags = {
      Stack     = var.name
      ManagedBy = "terraform"
    }
  }
}
