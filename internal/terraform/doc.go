// Package terraform exports a stack as Terraform for AWS: the five modules
// of the seed's layout (vpc, alb, asg, rds, route53) and the production
// calling configuration that wires them across the stack's two regions,
// with the stack file's CIDRs, sizes, thresholds and intervals as its
// variables. It refuses, with one sentence per setting, what AWS cannot
// express, so that what was drilled locally is what gets deployed.
package terraform
