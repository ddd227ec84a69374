# State in S3, locked by a lock file next to it (use_lockfile, Terraform 1.11
# and later; it replaces the deprecated DynamoDB lock table). Create the
# bucket, with versioning on, before terraform init.
terraform {
  backend "s3" {
    bucket       = "two-region-tfstate"
    key          = "two-region/prod/terraform.tfstate"
    region       = "us-east-1"
    encrypt      = true
    use_lockfile = true
  }
}
