package drill

import (
	"fmt"
	"strings"
	"time"

	"github.com/hastack/hastack/internal/stack"
)

// cutOffPrimary cuts the primary region off from Route53's checkers, from
// every other region and from the fencing witness, and leaves its link to
// the internet alone: clients still reach its load balancer (cached DNS
// answers, kept-alive connections) while DNS and the other region see it
// gone. That is the partition that makes two writers.
func cutOffPrimary(st stack.Status, _ Options) ([]stack.Fault, error) {
	r, err := primaryOf(st)
	if err != nil {
		return nil, err
	}
	if _, err := replicaRegion(st, r.Name); err != nil {
		return nil, err
	}
	faults := []stack.Fault{{Kind: stack.FaultPartition, Name: r.Name, Other: stack.DomainDNS}}
	for _, o := range st.Regions {
		if o.Name != r.Name {
			faults = append(faults, stack.Fault{Kind: stack.FaultPartition, Name: r.Name, Other: o.Name})
		}
	}
	return append(faults, stack.Fault{Kind: stack.FaultPartition, Name: r.Name, Other: stack.DomainWitness}), nil
}

// SplitBrain is what a partition that left the old primary running cost,
// as the split-brain drill measures it from what its clients saw.
type SplitBrain struct {
	// Region is the old primary's region, the one cut off; OldPrimary
	// the primary there before the fault and NewPrimary the node promoted
	// after it ("" when none was).
	Region     string `json:"region"`
	OldPrimary string `json:"old_primary"`
	NewPrimary string `json:"new_primary,omitempty"`
	// PromotedSeconds: from the fault to NewPrimary's promotion (nil
	// when none). A Multi-AZ failover inside Region, which the report's
	// promotion_seconds may name, is no second writer.
	PromotedSeconds *float64 `json:"promoted_seconds,omitempty"`
	// Fencing is the stack file's: "none" or "lease"; LeaseSeconds the
	// lease's duration with "lease".
	Fencing      string  `json:"fencing"`
	LeaseSeconds float64 `json:"lease_seconds,omitempty"`
	// CrossRegionCommit is the stack file's: "async", or "sync" when a
	// commit waits for the replica in the other region too.
	CrossRegionCommit string `json:"cross_region_commit,omitempty"`
	// LeaseLostSeconds: from the fault until Region lost its write lease
	// and stopped writes on its own (its first db_lease_lost event);
	// nil when it did not.
	LeaseLostSeconds *float64 `json:"lease_lost_seconds,omitempty"`
	// DivergentLost counts the divergent writes missing from the final
	// primary: all of them, unless something copied them over.
	DivergentLost int `json:"divergent_lost"`
	// LostBeforePromotion counts the other lost writes: acknowledged by
	// the old primary before the promotion (on the replica's lag at the
	// cut, or after it) and never replicated, they are discarded when it
	// rejoins, whatever the fencing. LastLostSeconds is from the fault to
	// the acknowledgement of the last of them (nil when none).
	LostBeforePromotion int      `json:"lost_before_promotion"`
	LastLostSeconds     *float64 `json:"last_lost_seconds,omitempty"`
	// WritesRefused counts the writes Region answered with an error
	// while it was cut off: with lease fencing, once its lease ran out.
	WritesRefused int `json:"writes_refused"`
	// KeptRequests and FreshRequests split the requests between the
	// clients that keep their connections alive (they stay on the region
	// their connection leads to) and those that open one per request
	// (they follow DNS; the RTO is theirs).
	KeptRequests  int `json:"kept_connection_requests"`
	FreshRequests int `json:"fresh_connection_requests"`
}

// Split is what a split-brain drill knows of the partition, to judge
// the clients' writes by.
type Split struct {
	// Region is the old primary's region, cut off from the other regions
	// from Fault until Healed (zero while it was not).
	Region        string
	Fault, Healed time.Time
	// Promoted is when the replica in another region was promoted (zero
	// when it was not: no write is divergent then).
	Promoted time.Time
}

// Writers is the pure measure of two writers, from the clients' samples.
type Writers struct {
	// Divergent counts the writes the old primary acknowledged after the
	// promotion: those acknowledged through an instance of Region after
	// Promoted and sent before Healed, when that region could not reach
	// the new primary, so that only the old one can have committed them;
	// and, sent later, those missing from the final primary (once healed,
	// the region's writes go to the new primary, or still to the old one
	// until it rejoins). DivergentLost counts those missing.
	Divergent, DivergentLost int
	// Overlap runs from Promoted to the acknowledgement of the last of
	// them: how long two primaries both acknowledged writes (0 when none
	// did).
	Overlap time.Duration
	// LostBefore counts the acknowledged writes missing from the final
	// primary that are not divergent, and LastLost is when the last of
	// them was acknowledged (zero when none).
	LostBefore int
	LastLost   time.Time
	// Refused counts the writes sent through an instance of Region while
	// it was cut off that it answered with an error: refused by the old
	// region, as lease fencing makes it once its lease has run out.
	Refused int
}

// Writers measures Writers from samples, the load's requests, and
// present, the keys found on the final primary. A write counts as
// acknowledged when its response arrived (ackTime).
func (sp Split) Writers(samples []Sample, present map[string]bool) Writers {
	var w Writers
	var last time.Time
	for _, s := range samples {
		if s.Kind != Write {
			continue
		}
		cut := !s.Start.Before(sp.Fault) && (sp.Healed.IsZero() || s.Start.Before(sp.Healed))
		if !s.OK {
			if cut && s.Region == sp.Region {
				w.Refused++
			}
			continue
		}
		at := ackTime(s)
		unhealed := sp.Healed.IsZero() || s.Start.Before(sp.Healed)
		divergent := !sp.Promoted.IsZero() && s.Region == sp.Region && at.After(sp.Promoted) && (unhealed || !present[s.Key])
		switch {
		case divergent:
			w.Divergent++
			if at.After(last) {
				last = at
			}
			if !present[s.Key] {
				w.DivergentLost++
			}
		case !present[s.Key]:
			w.LostBefore++
			if at.After(w.LastLost) {
				w.LastLost = at
			}
		}
	}
	if w.Divergent > 0 {
		w.Overlap = last.Sub(sp.Promoted)
	}
	return w
}

// promotedAfter returns the node outside region named by the first
// db_promoted event at or after t that names one, and when it came; ok
// is false when there was none. regionOf maps nodes to their regions: a
// Multi-AZ failover inside region is no second writer.
func promotedAfter(events []stack.Event, t time.Time, region string, regionOf map[string]string) (node string, at time.Time, ok bool) {
	for _, e := range eventsAfter(events, t, "db_promoted") {
		// rds words it "<node> promoted: ...".
		name, _, _ := strings.Cut(e.Message, " ")
		if r := regionOf[name]; r != "" && r != region {
			return name, e.Time, true
		}
	}
	return "", time.Time{}, false
}

// leaseLostAfter is when region's first db_lease_lost event at or after t
// came; ok is false when there was none. rds words it "<region> lost its
// write lease: ...".
func leaseLostAfter(events []stack.Event, region string, t time.Time) (time.Time, bool) {
	for _, e := range eventsAfter(events, t, "db_lease_lost") {
		if strings.HasPrefix(e.Message, region+" ") {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// setSplitBrain records what two writers cost: before is the stack just
// before the fault, present the keys found on the final primary.
func (r *Report) setSplitBrain(samples []Sample, present map[string]bool, before stack.Status, events []stack.Event) {
	sb := &SplitBrain{Region: dbRegion(before), Fencing: before.Database.Fencing, CrossRegionCommit: before.Database.CrossRegionCommit}
	if sb.Fencing == "" {
		sb.Fencing = "none"
	}
	if l := before.Database.Lease; l != nil {
		sb.LeaseSeconds = l.LeaseSeconds
	}
	regionOf := map[string]string{}
	for _, n := range before.Database.Nodes {
		regionOf[n.Name] = n.Region
		if n.Role == "primary" {
			sb.OldPrimary = n.Name
		}
	}
	node, promoted, ok := promotedAfter(events, r.FaultAt, sb.Region, regionOf)
	if ok {
		secs := promoted.Sub(r.FaultAt).Seconds()
		sb.NewPrimary, sb.PromotedSeconds = node, &secs
	}
	if at, ok := leaseLostAfter(events, sb.Region, r.FaultAt); ok {
		secs := at.Sub(r.FaultAt).Seconds()
		sb.LeaseLostSeconds = &secs
	}
	w := Split{Region: sb.Region, Fault: r.FaultAt, Healed: r.RecoverAt, Promoted: promoted}.Writers(samples, present)
	sb.DivergentLost, sb.LostBeforePromotion, sb.WritesRefused = w.DivergentLost, w.LostBefore, w.Refused
	for _, s := range samples {
		if s.Fresh {
			sb.FreshRequests++
		} else {
			sb.KeptRequests++
		}
	}
	if !w.LastLost.IsZero() {
		secs := w.LastLost.Sub(r.FaultAt).Seconds()
		sb.LastLostSeconds = &secs
	}
	overlap := w.Overlap.Seconds()
	r.DivergentWrites, r.WritersOverlapSeconds, r.SplitBrain = &w.Divergent, &overlap, sb
}

// Damage explains, in a sentence or three, what two writers cost and
// why; "" when the report is not a split-brain drill's.
func (r *Report) Damage() string {
	sb := r.SplitBrain
	if sb == nil || r.DivergentWrites == nil {
		return ""
	}
	var out []string
	newPrimary := sb.NewPrimary
	if newPrimary == "" {
		newPrimary = "the replica"
	}
	switch n := *r.DivergentWrites; {
	case sb.NewPrimary == "":
		out = append(out, "No replica was promoted, so there was never a second writer to diverge from.")
	case n > 0:
		split := fmt.Sprintf("Split brain: %s acknowledged through %s by the old primary %s for %.2f s after %s's promotion, while %s took writes too.",
			plural(n, "write was", "writes were"), sb.Region, sb.OldPrimary, deref0(r.WritersOverlapSeconds), newPrimary, newPrimary)
		why := fmt.Sprintf("With fencing = %q, as on AWS, promoting a cross-region replica leaves its source running.", sb.Fencing)
		if sb.Fencing == "lease" {
			why = "The write lease should have stopped them: the old region went on taking writes after the promotion."
		}
		out = append(out, split, why, fmt.Sprintf("%s missing from the final primary, and counted among the writes lost: its rejoin as a follower (pg_rewind, or a new copy on MySQL) discards what %s wrote since the promotion.",
			missing(sb.DivergentLost, n), sb.OldPrimary))
	case sb.Fencing == "lease":
		lost := ""
		if sb.LeaseLostSeconds != nil {
			lost = fmt.Sprintf(" %.2f s after the cut", *sb.LeaseLostSeconds)
		}
		out = append(out, fmt.Sprintf("The write lease kept a second writer out: %s lost its lease%s and stopped writes on its own, and %s was promoted only once that lease had run out, so no write was acknowledged by two primaries.",
			sb.Region, lost, newPrimary))
		if sb.CrossRegionCommit == "sync" && sb.LostBeforePromotion == 0 {
			out = append(out, fmt.Sprintf("Every commit also waited for %s (cross_region_commit = \"sync\"), so once %s was cut off its commits waited instead of being acknowledged: nothing acknowledged was lost.", newPrimary, sb.Region))
		}
		if sb.WritesRefused > 0 {
			out = append(out, fmt.Sprintf("The price: the clients still reaching %s had %s refused while it was cut off, rather than acknowledged and later discarded.",
				sb.Region, plural(sb.WritesRefused, "write", "writes")))
		}
	default:
		out = append(out, fmt.Sprintf("No write was acknowledged through %s after %s's promotion, but with fencing = %q nothing stopped one: the old primary %s kept running as a primary.",
			sb.Region, newPrimary, sb.Fencing, sb.OldPrimary))
	}
	if n := sb.LostBeforePromotion; n > 0 {
		s := fmt.Sprintf("%s before the promotion, the last %.2f s after the cut, never reached the replica (replication across regions is asynchronous) and %s discarded when %s rejoined",
			plural(n, "write acknowledged by "+sb.OldPrimary, "writes acknowledged by "+sb.OldPrimary), deref0(sb.LastLostSeconds), map[bool]string{true: "was", false: "were"}[n == 1], sb.OldPrimary)
		if sb.Fencing == "lease" {
			s += fmt.Sprintf(": the lease bounds that loss to its duration (%.2g s), it cannot prevent it; cross_region_commit = \"sync\" (PostgreSQL) does", sb.LeaseSeconds)
		}
		out = append(out, s+".")
	}
	return strings.Join(out, " ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// missing words how many of n divergent writes are missing.
func missing(lost, n int) string {
	switch {
	case lost == n && n == 1:
		return "It is"
	case lost == n:
		return "All of them are"
	case lost == 1:
		return fmt.Sprintf("1 of the %d is", n)
	}
	return fmt.Sprintf("%d of the %d are", lost, n)
}

// expectSplitBrain: the replica was promoted and at no instant did two
// primaries acknowledge writes. With lease fencing, also: the cut-off
// region stopped writes on its own, and what it lost is bounded by the
// lease (writes it acknowledged before its lease ran out, never
// replicated). Writes lost to asynchronous replication alone do not fail
// the drill; the report counts them.
func expectSplitBrain(f Facts) []Check {
	r := f.Report
	sb := r.SplitBrain
	var checks []Check
	add := func(name string, ok bool, detail string) {
		checks = append(checks, Check{Name: name, Passed: ok, Detail: detail})
	}
	if sb == nil || r.DivergentWrites == nil {
		return []Check{{Name: "no second writer", Detail: "the writes were not measured"}}
	}
	region := map[string]string{}
	for _, n := range f.Before.Database.Nodes {
		region[n.Name] = n.Region
	}
	switch {
	case sb.NewPrimary == "":
		add("the replica was promoted", false, "no database node was promoted")
	default:
		add("the replica was promoted", region[sb.NewPrimary] != "" && region[sb.NewPrimary] != sb.Region,
			fmt.Sprintf("%s (in %s) promoted %.2f s after the fault", sb.NewPrimary, region[sb.NewPrimary], deref0(sb.PromotedSeconds)))
	}
	n := *r.DivergentWrites
	detail := fmt.Sprintf("no write acknowledged through %s after the promotion", sb.Region)
	if n > 0 {
		detail = fmt.Sprintf("%s acknowledged through %s after the promotion, for %.2f s; %d missing from the final primary",
			plural(n, "write", "writes"), sb.Region, deref0(r.WritersOverlapSeconds), sb.DivergentLost)
	}
	add("no second writer", n == 0, detail)
	if sb.Fencing != "lease" {
		return checks
	}
	switch {
	case sb.LeaseLostSeconds == nil:
		add("the cut-off region stopped writes on its own", false, sb.Region+" never reported losing its write lease")
	default:
		add("the cut-off region stopped writes on its own", true, fmt.Sprintf("%s lost its write lease %.2f s after the cut", sb.Region, *sb.LeaseLostSeconds))
	}
	switch {
	case sb.LastLostSeconds == nil:
		add("writes lost only within the lease", true, "no acknowledged write lost")
	case sb.CrossRegionCommit == "sync":
		// Every commit waited for the replica that was promoted.
		add("no acknowledged write lost", false,
			fmt.Sprintf("%d lost, the last acknowledged %.2f s after the cut, though commits waited for the other region", sb.LostBeforePromotion, *sb.LastLostSeconds))
	default:
		add("writes lost only within the lease", *sb.LastLostSeconds <= sb.LeaseSeconds,
			fmt.Sprintf("%d lost, the last acknowledged %.2f s after the cut (lease %.2g s)", sb.LostBeforePromotion, *sb.LastLostSeconds, sb.LeaseSeconds))
	}
	return checks
}
