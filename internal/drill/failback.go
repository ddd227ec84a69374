package drill

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/hastack/hastack/internal/rds"
	"github.com/hastack/hastack/internal/stack"
)

// Failback is the whole way out and back, as the failback drill measures
// it: the primary region fails, the replica is promoted, the region
// recovers and its nodes rejoin as replicas (pg_rewind taking back what
// they wrote after the promotion), then a planned switchover brings the
// primary home.
type Failback struct {
	// Home is the region the primary started in and is brought back to;
	// Away the one it failed over to.
	Home string `json:"home"`
	Away string `json:"away,omitempty"`
	// FailoverRTOSeconds is the way out's RTO as clients saw it (the
	// report's rto_seconds); FailoverWritesLost the acknowledged writes
	// made before the switchover began that are missing at the end.
	FailoverRTOSeconds float64 `json:"failover_rto_seconds"`
	FailoverWritesLost int     `json:"failover_writes_lost"`
	// DiscardedTransactions is what pg_rewind took back from the home
	// region's nodes when they rejoined, as the database counted it from
	// their WAL (the most of any one node: a standby holds a subset of
	// its primary's). Unlike the writes lost, it counts every client's.
	DiscardedTransactions int `json:"discarded_transactions"`
	// DiscardedUncounted: the engine does not count them (MariaDB, whose
	// rejoin is a new copy).
	DiscardedUncounted bool `json:"discarded_uncounted,omitempty"`
	// RejoinSeconds is from the recovery until every home node streamed
	// from the new primary.
	RejoinSeconds *float64 `json:"rejoin_seconds,omitempty"`
	// SwitchoverAt is when the switchover home was asked for.
	SwitchoverAt time.Time `json:"switchover_at,omitzero"`
	// FailbackDowntimeSeconds is the switchover's write downtime as
	// hastack measured it (writer endpoints leading nowhere);
	// FailbackRTOSeconds the longest time clients went without an
	// acknowledged write around it; FailbackWritesLost the acknowledged
	// writes from the switchover on that are missing at the end.
	FailbackDowntimeSeconds *float64 `json:"failback_downtime_seconds,omitempty"`
	FailbackRTOSeconds      *float64 `json:"failback_rto_seconds,omitempty"`
	FailbackWritesLost      int      `json:"failback_writes_lost"`
	// SettledSeconds is from the switchover until the stack was as at
	// the start (nil if it never was within the drill's restore wait).
	SettledSeconds *float64 `json:"settled_seconds,omitempty"`
	// EndMatchesStart: the primary is the node it was, with its
	// synchronous standby, DNS answers as it did and every node that ran
	// runs. Differences says what does not match.
	EndMatchesStart bool     `json:"end_matches_start"`
	Differences     []string `json:"differences,omitempty"`
	// Error says why the way back was not taken or failed.
	Error string `json:"error,omitempty"`
}

// rejoinWait is the least the way back waits for the home region's nodes
// to stream again: each rejoins after a pg_rewind, one after the other,
// which takes 5-9 s a node on a busy machine and is no part of the stack
// file's timings. The time it took is reported either way.
const rejoinWait = 90 * time.Second

// failBack takes the way back once the stack has recovered from the
// region failure: it waits until the home region's nodes stream from
// the new primary, then switches the primary over to home, and lets the
// load run on for the settle time.
func (d *driver) failBack(ctx context.Context, before stack.Status, recoverAt time.Time, limit time.Duration) *Failback {
	fb := &Failback{Home: dbRegion(before)}
	now, err := d.ctl.Status(ctx)
	if err != nil {
		fb.Error = "reading the stack's status: " + err.Error()
		return fb
	}
	fb.Away = dbRegion(now)
	if fb.Away == fb.Home || fb.Away == "" {
		fb.Error = "the primary never left " + fb.Home + ": there is no way back to take"
		return fb
	}
	rejoined := func() bool {
		st, err := d.ctl.Status(ctx)
		return err == nil && streamingIn(st, fb.Home)
	}
	if err := d.phase(ctx, "rejoin", limit, rejoined); err != nil || !rejoined() {
		fb.Error = fmt.Sprintf("the nodes of %s did not rejoin as replicas within %s", fb.Home, limit)
		return fb
	}
	secs := time.Since(recoverAt).Seconds()
	fb.RejoinSeconds = &secs
	fb.SwitchoverAt = time.Now()
	d.mark(Marker{At: fb.SwitchoverAt, Kind: "switchover", Label: "switchover home to " + fb.Home})
	sw, err := d.ctl.Switchover(ctx, fb.Home)
	if err != nil {
		fb.Error = "switching over to " + fb.Home + ": " + err.Error()
		return fb
	}
	fb.FailbackDowntimeSeconds = &sw.WriteDowntimeSeconds
	d.mark(Marker{At: time.Now(), Kind: "promotion", Label: sw.To + " primary again"})
	// The followers turn to the new primary and the standby becomes
	// synchronous again after the switchover has returned.
	settled := func() bool {
		st, err := d.ctl.Status(ctx)
		return err == nil && len(endDifferences(before, st)) == 0
	}
	if err := d.phase(ctx, "home", limit, settled); err == nil && settled() {
		secs := time.Since(fb.SwitchoverAt).Seconds()
		fb.SettledSeconds = &secs
	}
	_ = d.phase(ctx, "settle", d.opts.Settle, nil)
	return fb
}

// streamingIn: every node of region runs and streams from the primary.
func streamingIn(st stack.Status, region string) bool {
	n := 0
	for _, node := range st.Database.Nodes {
		if node.Region != region {
			continue
		}
		n++
		if !node.Running || node.ReplicationState != rds.ReplSync && node.ReplicationState != rds.ReplAsync {
			return false
		}
	}
	return n > 0
}

// measure fills what the samples and the end state tell: the writes lost
// on each way, the clients' RTO of the way back, what pg_rewind took back
// (start and end are the stack before the fault and after the drill) and
// whether the end matches the start.
func (fb *Failback) measure(samples []Sample, present map[string]bool, rto float64, start, end stack.Status, endedAt time.Time) {
	fb.FailoverRTOSeconds = rto
	fb.FailoverWritesLost, fb.FailbackWritesLost = lostAround(samples, present, fb.SwitchoverAt)
	fb.DiscardedTransactions = mostDiscarded(start, end, fb.Home)
	fb.DiscardedUncounted = start.Database.Engine == "mysql"
	if !fb.SwitchoverAt.IsZero() {
		gap := longestWriteGap(samples, fb.SwitchoverAt, endedAt).Seconds()
		fb.FailbackRTOSeconds = &gap
	}
	fb.Differences = endDifferences(start, end)
	fb.EndMatchesStart = len(fb.Differences) == 0
}

// lostAround splits the acknowledged writes missing from the final
// primary into those acknowledged before at and those from at on (all
// before when at is zero).
func lostAround(samples []Sample, present map[string]bool, at time.Time) (before, after int) {
	for _, s := range samples {
		if s.Kind != Write || !s.OK || present[s.Key] {
			continue
		}
		if at.IsZero() || ackTime(s).Before(at) {
			before++
		} else {
			after++
		}
	}
	return before, after
}

// longestWriteGap is the longest time in [from, to] without an
// acknowledged write: between the last acknowledgement before from (or
// from itself) and the next, and so on to to.
func longestWriteGap(samples []Sample, from, to time.Time) time.Duration {
	var acks []time.Time
	last := from
	for _, s := range samples {
		if s.Kind != Write || !s.OK {
			continue
		}
		switch at := ackTime(s); {
		case at.Before(from):
			if at.After(last) || last.Equal(from) {
				last = at
			}
		case !at.After(to):
			acks = append(acks, at)
		}
	}
	slices.SortFunc(acks, func(a, b time.Time) int { return a.Compare(b) })
	var gap time.Duration
	for _, at := range append(acks, to) {
		gap = max(gap, at.Sub(last))
		last = at
	}
	return gap
}

// mostDiscarded is the most transactions pg_rewind took back from any one
// node of region between start and end.
func mostDiscarded(start, end stack.Status, region string) int {
	was := map[string]int{}
	for _, n := range start.Database.Nodes {
		was[n.Name] = n.DiscardedTransactions
	}
	most := 0
	for _, n := range end.Database.Nodes {
		if n.Region == region {
			most = max(most, n.DiscardedTransactions-was[n.Name])
		}
	}
	return most
}

// endDifferences lists how the stack at the end differs from the start
// in what a failback must restore: the primary node, its synchronous
// standby, DNS's answer, and every node that ran running and following.
func endDifferences(start, end stack.Status) []string {
	var diffs []string
	role := func(st stack.Status, r rds.Role) string {
		for _, n := range st.Database.Nodes {
			if n.Role == string(r) {
				return n.Name
			}
		}
		return ""
	}
	if a, b := role(start, rds.RolePrimary), role(end, rds.RolePrimary); a != b {
		diffs = append(diffs, fmt.Sprintf("the primary is %s, was %s", b, a))
	}
	if start.Database.SyncStandby && !end.Database.SyncStandby {
		diffs = append(diffs, "no synchronous standby, as there was")
	}
	if start.DNS.Answer != end.DNS.Answer {
		diffs = append(diffs, fmt.Sprintf("DNS answers %s, answered %s", end.DNS.Answer, start.DNS.Answer))
	}
	state := map[string]stack.NodeStatus{}
	for _, n := range end.Database.Nodes {
		state[n.Name] = n
	}
	for _, n := range start.Database.Nodes {
		if !n.Running {
			continue
		}
		e := state[n.Name]
		switch {
		case !e.Running:
			diffs = append(diffs, n.Name+" does not run")
		case e.Role != string(rds.RolePrimary) && e.ReplicationState != rds.ReplSync && e.ReplicationState != rds.ReplAsync:
			diffs = append(diffs, fmt.Sprintf("%s is %s, not streaming", n.Name, e.ReplicationState))
		}
	}
	return diffs
}

// expectFailback: the way back lost nothing, and the stack ended as it
// started. What the way out lost is asynchronous replication's price; the
// report counts it.
func expectFailback(f Facts) []Check {
	fb := f.Report.Failback
	if fb == nil {
		return []Check{{Name: "the primary came home", Detail: "the way back was not measured"}}
	}
	if fb.Error != "" {
		return []Check{{Name: "the primary came home", Detail: fb.Error}}
	}
	checks := []Check{{Name: "the primary came home", Passed: true,
		Detail: fmt.Sprintf("switched over from %s to %s, writes refused for %.2f s (clients: %.2f s without an acknowledged write)",
			fb.Away, fb.Home, deref0(fb.FailbackDowntimeSeconds), deref0(fb.FailbackRTOSeconds))}}
	detail := "no acknowledged write lost on the way back"
	if fb.FailbackWritesLost > 0 {
		detail = fmt.Sprintf("%s acknowledged from the switchover on are missing", plural(fb.FailbackWritesLost, "write", "writes"))
	}
	checks = append(checks, Check{Name: "nothing lost on the way back", Passed: fb.FailbackWritesLost == 0, Detail: detail})
	detail = "primary, synchronous standby, DNS answer and every node as at the start"
	if !fb.EndMatchesStart {
		detail = fmt.Sprint(fb.Differences)
	}
	return append(checks, Check{Name: "the end state matches the start", Passed: fb.EndMatchesStart, Detail: detail})
}

// writeRows adds the two ways' rows to the text report's table.
func (fb *Failback) writeRows(w io.Writer) {
	fmt.Fprintf(w, "  way out\t%s -> %s\tRTO %.2f s, %s lost\n", fb.Home, fb.Away, fb.FailoverRTOSeconds, plural(fb.FailoverWritesLost, "write", "writes"))
	if fb.DiscardedUncounted {
		fmt.Fprintf(w, "  taken back on rejoin\tnot counted\twhat %s had committed after the promotion went with its old data (MariaDB: a new copy)\n", fb.Home)
	} else {
		fmt.Fprintf(w, "  taken back by pg_rewind\t%d\ttransactions %s had committed after the promotion, every client's\n", fb.DiscardedTransactions, fb.Home)
	}
	if fb.RejoinSeconds != nil {
		fmt.Fprintf(w, "  rejoined\t%.2f s\tafter the recovery, %s's nodes streaming from %s\n", *fb.RejoinSeconds, fb.Home, fb.Away)
	}
	if fb.FailbackDowntimeSeconds != nil {
		fmt.Fprintf(w, "  way back\t%s -> %s\tswitchover: writes refused %.2f s (clients %.2f s without an acknowledged write), %s lost\n",
			fb.Away, fb.Home, *fb.FailbackDowntimeSeconds, deref0(fb.FailbackRTOSeconds), plural(fb.FailbackWritesLost, "write", "writes"))
	}
	end := "as at the start"
	if fb.SettledSeconds != nil {
		end = fmt.Sprintf("as at the start, %.2f s after the switchover", *fb.SettledSeconds)
	}
	if !fb.EndMatchesStart {
		end = strings.Join(fb.Differences, "; ")
	}
	if fb.Error != "" {
		end = fb.Error
	}
	fmt.Fprintf(w, "  end state\t%s\t%s\n", yesNo(fb.EndMatchesStart, "matches", "differs"), end)
}

func yesNo(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}
