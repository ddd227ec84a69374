// Package route53 is the stack's Route53: an authoritative DNS server for
// one hosted zone with a failover record pair, the health checks that probe
// each region's load balancer, and the controller that turns their verdicts
// into the answer the server hands out.
package route53
