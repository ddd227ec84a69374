// Package alb is one region's Application Load Balancer: an HTTP listener
// that proxies requests to a target group, picks targets with a selection
// policy, and keeps each target's health current with active checks.
//
// It reports target health (Targets, HealthyCount, OnEvent) but does not act
// on it beyond routing: replacing unhealthy instances is the auto scaling
// group's decision.
package alb
