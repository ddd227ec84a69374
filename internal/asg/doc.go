// Package asg runs an Auto Scaling group: it keeps the desired number of
// instance processes running, balanced across availability zones, each on
// its own private address and registered with the load balancer while in
// service; it replaces instances that exit or fail their health check,
// scales on their measured CPU with simple scaling policies, and drains
// instances before stopping them; as a fault it kills them all at once.
package asg
