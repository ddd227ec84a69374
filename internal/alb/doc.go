// Package alb is one region's Application Load Balancer: an HTTP listener
// that proxies requests to a target group, picks targets with a selection
// policy, keeps each target's health current with active checks, and
// drains deregistered targets.
//
// It reports target health (Targets, TargetHealth, HealthyCount, OnEvent,
// Metrics) but does not act on it beyond routing: replacing unhealthy
// instances is the auto scaling group's decision.
package alb
