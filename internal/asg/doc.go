// Package asg runs an Auto Scaling group: it keeps the desired number of
// instance processes running, balanced across availability zones, each on
// its own private address, registered with the load balancer while in
// service, and replaces any that exits.
package asg
