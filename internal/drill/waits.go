package drill

import (
	"time"

	"github.com/hastack/hastack/internal/spec"
)

// Waits are how long a drill waits on the stack before it gives up.
type Waits struct {
	// Recovery: from the fault until clients are served again (or the
	// scenario's own recovery test holds).
	Recovery time.Duration
	// Restore: from undoing the fault until the stack is back as it was.
	Restore time.Duration
}

// waitMargin is added to every derived wait: process starts, promotion
// work and a loaded 2-core machine, which the stack file's timings do not
// account for.
const waitMargin = 30 * time.Second

// rejoinAllowance is what one database node of a lost region takes to
// come back once the region is recovered, which no stack-file timing
// covers: stopped if it ran on as a former primary, rewound with
// pg_rewind, started as a follower and caught up, one node after the
// other (5-9 s a node seen on a busy machine). While its nodes rejoin,
// the region's instances find no reader database and fail their checks.
const rejoinAllowance = 15 * time.Second

// fallbackWait is the wait when no stack file is known to derive one from.
const fallbackWait = time.Minute

// DefaultWaits derives a scenario's waits from the stack file's timings:
// the longest the configuration lets recovery take, plus sustain (how long
// successes must run to count) and a margin of 30 s. For a region loss:
// Route53's interval × failure threshold plus one check's timeouts (a cut
// off region's checks time out rather than fail), then the TTL clients
// cache the old answer for, then the promotion (region_failover_after when
// automatic; the drill promotes at once when manual). Scenarios are named
// as in Scenarios; an unknown one gets the region loss's waits. Timed
// scenarios (replication-partition, gray-failure) hold their fault for
// their duration and only use Restore, the region loss's: what they cut
// comes back as a recovered region does. A recovered region's restore
// also allows each of its database nodes rejoinAllowance.
func DefaultWaits(s *spec.Stack, scenario string, sustain time.Duration) Waits {
	if s == nil || len(s.Regions) == 0 {
		return Waits{Recovery: fallbackWait, Restore: fallbackWait}
	}
	r53 := s.DNS.HealthCheck
	dnsFlip := r53.Interval*time.Duration(r53.FailureThreshold) + r53.ConnectTimeout + r53.ResponseTimeout
	ttl := time.Duration(s.DNS.TTL) * time.Second
	region := s.Primary()
	if region == nil {
		region = &s.Regions[0]
	}
	tg := region.LoadBalancer.HealthCheck
	targetDown := tg.Interval*time.Duration(tg.UnhealthyThreshold) + tg.Timeout
	targetUp := tg.Interval*time.Duration(tg.HealthyThreshold) + tg.Timeout
	db := s.Database

	var w Waits
	switch scenario {
	case "db-failover":
		w.Recovery = db.FailoverDetection
		w.Restore = targetUp
	case "az-failure", "az-isolation":
		// The load balancer stops sending to the lost AZ's instances while
		// the standby takes over; the group relaunches them afterwards.
		w.Recovery = max(targetDown, db.FailoverDetection)
		w.Restore = targetUp + region.AutoScaling.HealthCheckGracePeriod
	case "instance-failure":
		w.Recovery = targetDown
	case "scale-out":
		as := region.AutoScaling
		w.Recovery = scalingSteps(as.Max-as.Desired, as.ScaleOut.Adjustment) * (alarmDelay(as.ScaleOut) + as.ScaleOut.Cooldown + targetUp)
		// Scaling back in drains each removed instance first.
		w.Restore = scalingSteps(as.Max-as.Desired, -as.ScaleIn.Adjustment) * (alarmDelay(as.ScaleIn) + as.ScaleIn.Cooldown + region.LoadBalancer.DeregistrationDelay)
	default: // a region lost, however it was lost
		promotion := time.Duration(0)
		if db.CrossRegionFailover == "automatic" {
			promotion = db.RegionFailoverAfter
		}
		w.Recovery = dnsFlip + ttl + promotion
		// The region's database nodes rejoin; its instances pass their
		// checks again, then Route53's.
		nodes := time.Duration(1)
		if db.MultiAZ {
			nodes = 2
		}
		w.Restore = nodes*rejoinAllowance + targetUp + dnsFlip
	}
	w.Recovery += sustain + waitMargin
	w.Restore += waitMargin
	return w
}

// alarmDelay is how long a CloudWatch alarm takes to fire once the metric
// breaches: datapoints_to_alarm periods.
func alarmDelay(p spec.ScalingPolicy) time.Duration {
	n := p.DatapointsToAlarm
	if n <= 0 {
		n = p.EvaluationPeriods
	}
	return p.Period * time.Duration(max(n, 1))
}

// scalingSteps is how many scaling activities of adjustment cover change.
func scalingSteps(change, adjustment int) time.Duration {
	if change <= 0 {
		return 0
	}
	adjustment = max(adjustment, 1)
	return time.Duration((change + adjustment - 1) / adjustment)
}
