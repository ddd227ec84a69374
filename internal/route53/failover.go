package route53

import (
	"net/netip"
	"strings"
)

// Failover record roles, as Route53 spells them. Choose accepts them in any case.
const (
	RolePrimary   = "PRIMARY"
	RoleSecondary = "SECONDARY"
)

// Record is one failover record as the decision sees it: its answer and
// what its health check and alias target report.
type Record struct {
	SetID string
	Role  string // RolePrimary or RoleSecondary
	Addr  netip.Addr
	// HealthChecked records have a health check; Healthy is its verdict.
	HealthChecked bool
	Healthy       bool
	// EvaluateTargetHealth alias records also count unhealthy when their
	// target (the load balancer) has no healthy target: TargetHealthy false.
	EvaluateTargetHealth bool
	TargetHealthy        bool
}

// Available reports whether Route53 counts r healthy: its health check, if
// it has one, passes, and, with EvaluateTargetHealth, its target is healthy.
func (r Record) Available() bool {
	if r.HealthChecked && !r.Healthy {
		return false
	}
	if r.EvaluateTargetHealth && !r.TargetHealthy {
		return false
	}
	return true
}

// Choose picks the record Route53 answers with from a failover pair: the
// primary while it is healthy, else the secondary if it is healthy, else the
// primary (when every record is unhealthy, Route53 answers as if all were
// healthy). Only the first record of each role counts; with one role
// present, that record is the answer. It returns false only if records holds
// no primary and no secondary.
func Choose(records []Record) (Record, bool) {
	primary, hasPrimary := first(records, RolePrimary)
	secondary, hasSecondary := first(records, RoleSecondary)
	switch {
	case hasPrimary && primary.Available():
		return primary, true
	case hasSecondary && secondary.Available():
		return secondary, true
	case hasPrimary:
		return primary, true
	case hasSecondary:
		return secondary, true
	default:
		return Record{}, false
	}
}

func first(records []Record, role string) (Record, bool) {
	for _, r := range records {
		if strings.EqualFold(r.Role, role) {
			return r, true
		}
	}
	return Record{}, false
}
