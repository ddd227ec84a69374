package drill

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText prints the report for a terminal: a verdict, a table of the
// measurements, and the timeline as one row of blocks per region.
func (r *Report) WriteText(w io.Writer) {
	verdict := "PASSED"
	if !r.Passed {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "drill %s: %s   (fault: %s)\n\n", r.Scenario, verdict, r.Fault)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rto := fmt.Sprintf("%.2f s", r.RTOSeconds)
	if !r.Recovered {
		rto = fmt.Sprintf("not recovered (> %.1f s)", r.RTOSeconds)
	}
	rtoNote := r.objectiveNote("rto_seconds", "%.2f s")
	if r.SplitBrain != nil {
		rtoNote = strings.TrimSpace("of the clients that follow DNS (a new connection each request)  " + rtoNote)
	}
	fmt.Fprintf(tw, "  recovery time (RTO)\t%s\t%s\n", rto, rtoNote)
	if r.DNSSwitchSeconds != nil {
		fmt.Fprintf(tw, "  DNS switch\t%.2f s\tnow answers %s\n", *r.DNSSwitchSeconds, r.DNSSwitchedTo)
	}
	if r.PromotionSeconds != nil {
		fmt.Fprintf(tw, "  database promotion\t%.2f s\tafter the fault\n", *r.PromotionSeconds)
	}
	if r.ScaleOutSeconds != nil {
		fmt.Fprintf(tw, "  scale-out to maximum\t%.2f s\tfrom the start of the CPU load\n", *r.ScaleOutSeconds)
	}
	fmt.Fprintf(tw, "  requests\t%d\terrors %d (%.1f%%)%s  %s\n", r.Requests, r.Errors, 100*r.ErrorRate, errorKinds(r.ErrorsByKind), r.objectiveNote("error_rate", "%.3f"))
	if r.LagAtFaultNode != "" {
		fmt.Fprintf(tw, "  %s lag at fault\t%.2f s\t%d bytes behind (%s)\n", r.LagAtFaultRole, r.LagAtFaultSeconds, r.LagAtFaultBytes, r.LagAtFaultNode)
	}
	if r.MaxLagSeconds != nil {
		fmt.Fprintf(tw, "  lag during the fault\t%.2f s\tat most, %s behind (%s)\n", *r.MaxLagSeconds, r.maxLagAmount(), r.LagNode)
	}
	if r.CatchUpSeconds != nil {
		fmt.Fprintf(tw, "  caught up\t%.2f s\tafter the fault was undone\n", *r.CatchUpSeconds)
	}
	if r.LinkDelaySeconds > 0 {
		fmt.Fprintf(tw, "  link delayed\t%s\teach way, between the primary region and the replica's\n", ms(r.LinkDelaySeconds))
	}
	for _, p := range []struct {
		name string
		w    *Window
	}{{"during the fault", r.FaultWindow}, {"until the DNS switch", r.UntilDNSSwitch}} {
		if p.w != nil {
			fmt.Fprintf(tw, "  %s\t%.1f s\t%d requests, errors %d (%.1f%%), p50 %s  p99 %s\n", p.name, p.w.Seconds, p.w.Requests, p.w.Errors, 100*p.w.ErrorRate, ms(p.w.Latency.P50), ms(p.w.Latency.P99))
		}
	}
	if len(r.ServedByAZ) > 0 {
		var zones []string
		for az, n := range r.ServedByAZ {
			zones = append(zones, fmt.Sprintf("%s %d", az, n))
		}
		sort.Strings(zones)
		fmt.Fprintf(tw, "  served during the fault\t%s\tby the AZ of the instance\n", strings.Join(zones, ", "))
	}
	fmt.Fprintf(tw, "  writes acknowledged\t%d\tlost %d, RPO %.2f s  %s\n", r.WritesAcked, r.WritesLost, r.RPOSeconds, r.objectiveNote("rpo_seconds", "%.2f s"))
	if sb := r.SplitBrain; sb != nil && r.DivergentWrites != nil {
		if sb.PromotedSeconds != nil {
			fmt.Fprintf(tw, "  %s promoted\t%.2f s\tafter the fault, in place of %s\n", sb.NewPrimary, *sb.PromotedSeconds, sb.OldPrimary)
		}
		fmt.Fprintf(tw, "  divergent writes\t%d\tacknowledged by the old primary %s after the promotion (fencing %s)\n", *r.DivergentWrites, sb.OldPrimary, sb.Fencing)
		fmt.Fprintf(tw, "  writers overlap\t%.2f s\ttwo primaries acknowledging writes\n", deref0(r.WritersOverlapSeconds))
		fmt.Fprintf(tw, "  writes refused\t%d\tby %s while cut off, to the clients still reaching it\n", sb.WritesRefused, sb.Region)
		if sb.LeaseLostSeconds != nil {
			fmt.Fprintf(tw, "  write lease lost\t%.2f s\tafter the cut: %s stopped writes on its own (lease %.2g s)\n", *sb.LeaseLostSeconds, sb.Region, sb.LeaseSeconds)
		}
	}
	if fb := r.Failback; fb != nil {
		fb.writeRows(tw)
	}
	if r.StaleReads > 0 {
		fmt.Fprintf(tw, "  stale reads\t%d\treads of acknowledged writes the reader had not caught up with\n", r.StaleReads)
	}
	for _, p := range []struct {
		name string
		l    Latency
	}{{"latency before", r.Latency.Before}, {"latency during", r.Latency.During}, {"latency after", r.Latency.After}} {
		if p.l.Requests > 0 {
			fmt.Fprintf(tw, "  %s\tp50 %s\tp95 %s  p99 %s  (%d requests)\n", p.name, ms(p.l.P50), ms(p.l.P95), ms(p.l.P99), p.l.Requests)
		}
	}
	if r.RecoverError != "" {
		fmt.Fprintf(tw, "  fault undone\tNO\t%s\n", r.RecoverError)
	}
	if r.Restored != nil {
		if *r.Restored {
			fmt.Fprintf(tw, "  stack restored after\tyes\t\n")
		} else {
			fmt.Fprintf(tw, "  stack restored after\tNO\t%s (see hastack status)\n", r.NotRestored)
		}
	}
	tw.Flush()
	if len(r.Checks) > 0 {
		fmt.Fprintf(w, "\n  what the scenario expects:\n")
		for _, c := range r.Checks {
			mark := "ok    "
			if !c.Passed {
				mark = "FAILED"
			}
			fmt.Fprintf(w, "    %s %s: %s\n", mark, c.Name, c.Detail)
		}
	}
	if d := r.Damage(); d != "" {
		fmt.Fprintf(w, "\n%s\n", wrap(d, "  ", 100))
	}
	fmt.Fprintf(w, "\n  %s\n", r.Loss())
	r.writeTimeline(w)
}

func (r *Report) objectiveNote(name, format string) string {
	for _, o := range r.Objectives {
		if o.Name == name {
			mark := "met"
			if !o.Met {
				mark = "MISSED"
			}
			return fmt.Sprintf("objective <= "+format+" %s", o.Target, mark)
		}
	}
	return ""
}

func errorKinds(kinds map[string]int) string {
	if len(kinds) == 0 {
		return ""
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	var parts []string
	for _, k := range names {
		parts = append(parts, fmt.Sprintf("%s: %d", k, kinds[k]))
	}
	return ": " + strings.Join(parts, ", ")
}

func ms(seconds float64) string { return fmt.Sprintf("%.1f ms", seconds*1000) }

var blocks = []rune(" ▁▂▃▄▅▆▇█")

// writeTimeline draws served requests per region and errors per bucket as
// rows of blocks, with the fault and DNS switch marked underneath.
func (r *Report) writeTimeline(w io.Writer) {
	if len(r.Timeline) == 0 {
		return
	}
	var regions []string
	peak := 1
	for _, b := range r.Timeline {
		for reg, n := range b.OK {
			if !slices.Contains(regions, reg) {
				regions = append(regions, reg)
			}
			peak = max(peak, n)
		}
		peak = max(peak, b.Errors)
	}
	sort.Strings(regions)
	var step time.Duration
	if len(r.Timeline) > 1 {
		step = r.Timeline[1].At.Sub(r.Timeline[0].At)
	}
	fmt.Fprintf(w, "\n  timeline (one column per %s, %s in all)\n", step, r.EndedAt.Sub(r.StartedAt).Round(100*time.Millisecond))
	row := func(label string, count func(Bucket) int) {
		var sb strings.Builder
		for _, b := range r.Timeline {
			n := count(b)
			i := 0
			if n > 0 {
				i = 1 + n*(len(blocks)-2)/peak
			}
			sb.WriteRune(blocks[min(i, len(blocks)-1)])
		}
		fmt.Fprintf(w, "  %-10s %s\n", label, sb.String())
	}
	for _, reg := range regions {
		row(reg, func(b Bucket) int { return b.OK[reg] })
	}
	row("errors", func(b Bucket) int { return b.Errors })
	// The drill's own moments first: a later one never hides the fault,
	// the DNS switch or the recovery in a shared column.
	marks := []rune(strings.Repeat(" ", len(r.Timeline)))
	ordered := slices.Clone(r.Markers)
	rank := map[string]int{"fault": 0, "dns": 1, "recovered": 2, "recover": 3, "promotion": 4, "operator": 5}
	slices.SortStableFunc(ordered, func(a, b Marker) int { return rank[a.Kind] - rank[b.Kind] })
	for _, m := range ordered {
		i := r.column(m)
		if i < 0 || marks[i] != ' ' {
			continue
		}
		switch m.Kind {
		case "fault":
			marks[i] = 'F'
		case "dns":
			marks[i] = 'D'
		case "recovered":
			marks[i] = 'R'
		case "recover":
			marks[i] = '^'
		case "promotion":
			marks[i] = 'P'
		case "operator":
			marks[i] = 'O'
		}
	}
	fmt.Fprintf(w, "  %-10s %s\n", "", string(marks))
	fmt.Fprintf(w, "  %-10s F fault  O operator acts  P database promoted  D DNS switch  R clients served again  ^ fault recovered\n", "")
}

func (r *Report) column(m Marker) int {
	if len(r.Timeline) < 2 || m.At.Before(r.Timeline[0].At) {
		return -1
	}
	step := r.Timeline[1].At.Sub(r.Timeline[0].At)
	i := int(m.At.Sub(r.Timeline[0].At) / step)
	if i >= len(r.Timeline) {
		return -1
	}
	return i
}

// wrap breaks text into lines of at most width columns, each indented.
func wrap(text, indent string, width int) string {
	var lines []string
	line := indent
	for _, word := range strings.Fields(text) {
		if line != indent && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = indent
		}
		if line != indent {
			line += " "
		}
		line += word
	}
	return strings.Join(append(lines, line), "\n")
}
