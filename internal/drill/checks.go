package drill

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hastack/hastack/internal/stack"
)

// Check is one thing a scenario expects of the stack, and whether it held.
type Check struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail,omitempty"`
}

// Facts are what a drill recorded, for a scenario's expectations to judge.
type Facts struct {
	// Report holds the measurements (filled before the checks run).
	Report *Report
	// Before is the stack just before the fault.
	Before stack.Status
	// Events is the stack's event log after the drill.
	Events []stack.Event
	// Faults are the faults injected; InPlace is when the last one was.
	Faults  []stack.Fault
	InPlace time.Time
	// Follower is the node whose lag the drill watched ("" when none).
	Follower string
	// IdentityBefore and IdentityAfter are the follower's identity before
	// the fault and after the drill; IdentityErr says why one is missing.
	IdentityBefore, IdentityAfter identity
	IdentityErr                   error
	// MissingOnFollower counts acknowledged writes the follower lacked
	// once caught up; -1 when it could not be read (FollowerErr says why).
	MissingOnFollower int
	FollowerErr       error
}

// eventsAfter returns the events of the given kinds at or after t.
func eventsAfter(events []stack.Event, t time.Time, kinds ...string) []stack.Event {
	var out []stack.Event
	for _, e := range events {
		if e.Time.Before(t) {
			continue
		}
		for _, k := range kinds {
			if e.Kind == k {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// expectPartitionHealed: a cut replication link costs lag and nothing
// else. Nothing fails over, the replica falls behind for about as long as
// the cut lasts, catches up within 10 s of the heal on the data it kept
// (no rebuild, the same server and system identifier) and then holds every
// acknowledged write; none is lost.
func expectPartitionHealed(f Facts) []Check {
	r := f.Report
	var checks []Check
	add := func(name string, ok bool, detail string) {
		checks = append(checks, Check{Name: name, Passed: ok, Detail: detail})
	}

	dns := "DNS kept answering the primary region"
	if r.DNSSwitchSeconds != nil {
		dns = fmt.Sprintf("DNS switched to %s %.2f s after the fault", r.DNSSwitchedTo, *r.DNSSwitchSeconds)
	}
	add("no DNS failover", r.DNSSwitchSeconds == nil, dns)

	promoted := eventsAfter(f.Events, r.FaultAt, "db_failover", "db_promoted")
	detail := "no database failover"
	if len(promoted) > 0 {
		detail = promoted[0].Message
	}
	add("no promotion", len(promoted) == 0, detail)

	cut := r.RecoverAt.Sub(f.InPlace)
	switch {
	case r.MaxLagSeconds == nil:
		add("the replica fell behind during the cut", false, "the replica's lag was not measured during the cut")
	default:
		add("the replica fell behind during the cut", *r.MaxLagSeconds >= cut.Seconds()/2,
			fmt.Sprintf("up to %.2f s (%s) behind during a %.1f s cut", *r.MaxLagSeconds, r.maxLagAmount(), cut.Seconds()))
	}

	const streamsWithin = 10 * time.Second
	if r.CatchUpSeconds == nil {
		add("caught up within 10 s of the heal", false, "the replica's lag did not come back down before the drill ended")
	} else {
		add("caught up within 10 s of the heal", *r.CatchUpSeconds <= streamsWithin.Seconds(),
			fmt.Sprintf("back within %s of its lag before the fault %.2f s after the heal", catchUpMargin, *r.CatchUpSeconds))
	}

	rebuilt := eventsAfter(f.Events, r.FaultAt, "db_node_rebuilding", "db_node_rebuilt")
	detail = "no follower rebuilt"
	if len(rebuilt) > 0 {
		detail = rebuilt[0].Message
	}
	add("no rebuild", len(rebuilt) == 0, detail)

	switch b, a := f.IdentityBefore, f.IdentityAfter; {
	case f.IdentityErr != nil:
		add("data directory kept", false, f.IdentityErr.Error())
	case b.SystemID != a.SystemID:
		add("data directory kept", false, fmt.Sprintf("%s's system identifier changed from %s to %s", f.Follower, b.SystemID, a.SystemID))
	case a.restartedSince(b):
		add("data directory kept", false, fmt.Sprintf("%s's server started again at %s", f.Follower, a.Started.Format(time.RFC3339Nano)))
	case b.SystemID == "": // MariaDB has none
		add("data directory kept", true, fmt.Sprintf("%s's server ran throughout", f.Follower))
	default:
		add("data directory kept", true, fmt.Sprintf("%s kept system identifier %s and its server ran throughout", f.Follower, b.SystemID))
	}

	switch {
	case f.MissingOnFollower < 0:
		add("every acknowledged write on the replica", false, fmt.Sprintf("could not read them on %s: %v", f.Follower, f.FollowerErr))
	default:
		add("every acknowledged write on the replica", f.MissingOnFollower == 0,
			fmt.Sprintf("%d of %d acknowledged writes missing on %s", f.MissingOnFollower, r.WritesAcked, f.Follower))
	}
	add("no acknowledged write lost", r.WritesLost == 0, fmt.Sprintf("%d of %d lost", r.WritesLost, r.WritesAcked))
	return checks
}

// expectAZIsolated: with the primary's AZ cut off, a standby of another
// AZ of the same region takes over, only the instances outside that AZ
// serve, and the synchronous standby loses no acknowledged write.
func expectAZIsolated(f Facts) []Check {
	r := f.Report
	az := ""
	if len(f.Faults) > 0 {
		az = f.Faults[0].Name
	}
	var checks []Check
	add := func(name string, ok bool, detail string) {
		checks = append(checks, Check{Name: name, Passed: ok, Detail: detail})
	}

	var primary stack.NodeStatus
	byName := map[string]stack.NodeStatus{}
	for _, n := range f.Before.Database.Nodes {
		byName[n.Name] = n
		if n.Role == "primary" {
			primary = n
		}
	}
	promoted := eventsAfter(f.Events, r.FaultAt, "db_promoted")
	switch {
	case len(promoted) == 0:
		add("the standby took over", false, "no database node was promoted")
	default:
		name, _, _ := strings.Cut(promoted[0].Message, " ")
		n := byName[name]
		add("the standby took over", n.Role == "standby" && n.AZ != az && n.Region == primary.Region,
			fmt.Sprintf("%s (%s in %s) promoted %.2f s after the fault", name, n.Role, n.AZ, promoted[0].Time.Sub(r.FaultAt).Seconds()))
	}

	var inside, outside int
	var others []string
	for zone, n := range r.ServedByAZ {
		if zone == az {
			inside += n
			continue
		}
		outside += n
		others = append(others, fmt.Sprintf("%s %d", zone, n))
	}
	slices.Sort(others)
	add("the other AZ kept serving", outside > 0 && inside == 0,
		fmt.Sprintf("while cut off: %d requests served from %s, %s", inside, az, strings.Join(others, ", ")))
	add("no acknowledged write lost", r.WritesLost == 0, fmt.Sprintf("%d of %d lost", r.WritesLost, r.WritesAcked))
	return checks
}

// ServedByAZ counts the requests started in [from, to) that succeeded, by
// the AZ of the instance that answered (azOf maps instance IDs; an
// unknown one counts as "unknown").
func ServedByAZ(samples []Sample, azOf map[string]string, from, to time.Time) map[string]int {
	out := map[string]int{}
	for _, s := range samples {
		if !s.OK || s.Instance == "" || s.Start.Before(from) || !s.Start.Before(to) {
			continue
		}
		az := azOf[s.Instance]
		if az == "" {
			az = "unknown"
		}
		out[az]++
	}
	return out
}
