// Package health probes HTTP endpoints and counts consecutive results
// against thresholds. It reports what it sees; the load balancer and the DNS
// failover code that consume its results decide what they mean.
package health
