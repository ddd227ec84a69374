package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hastack/hastack/internal/stack"
)

func newStatus(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the running stack: DNS answer, regions, instances, database",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, client, err := g.dial()
			if err != nil {
				return err
			}
			st, err := client.Status(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				st.Events = nil
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(g.stdout, st)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func printStatus(w io.Writer, st stack.Status) {
	state := "starting"
	if st.Ready {
		state = "ready"
	}
	fmt.Fprintf(w, "stack %s  %s  up %.0fs  pid %d  state %s\n\n", st.Name, state, st.Uptime, st.PID, st.StateDir)

	fmt.Fprintf(w, "DNS %s on %s: %s A %s (TTL %ds)\n", st.DNS.Zone, st.DNS.Address, st.DNS.Name, st.DNS.Answer, st.DNS.TTL)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  RECORD\tFAILOVER\tTARGET\tHEALTH CHECK\tCHECKERS\tREASON")
	for _, r := range st.DNS.Records {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d/%d\t%s\n", r.SetID, r.Failover, r.Address, healthWord(r.Healthy), r.CheckersHealthy, r.Checkers, r.Reason)
	}
	tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tROLE\tVPC\tLOOPBACK\tLOAD BALANCER\tHEALTHY\tCAPACITY (MIN/DESIRED/MAX)\tCPU\tALARMS\tSTATE")
	for _, r := range st.Regions {
		state := "running"
		switch {
		case r.Fault == stack.ModeIsolate:
			state = "ISOLATED (running, unreachable from outside)"
		case r.Failed:
			state = "FAILED"
			if r.Fault != "" {
				state += " (" + r.Fault + ")"
			}
		case len(r.FailedAZs) > 0:
			state = "AZ FAILED: " + strings.Join(r.FailedAZs, ",")
		}
		capacity, cpu, alarms := "-", "-", "-"
		if a := r.AutoScaling; a != nil {
			capacity = fmt.Sprintf("%d/%d/%d", a.Min, a.Desired, a.Max)
			cpu = fmt.Sprintf("%.0f%%", a.CPUPercent)
			var parts []string
			for _, al := range a.Alarms {
				parts = append(parts, al.Name+"="+al.State)
			}
			alarms = strings.Join(parts, " ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Name, r.Role, r.VPC.CIDR, r.VPC.Loopback, r.LoadBalancer.Address,
			r.LoadBalancer.HealthyTargets, capacity, cpu, alarms, state)
	}
	tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tREGION\tAZ\tADDRESS\tSTATE\tHEALTH\tCPU\tPID")
	for _, r := range st.Regions {
		for _, in := range r.Instances {
			if in.State == "terminated" {
				continue
			}
			health := in.Health
			if in.Reason != "" {
				health += " (" + in.Reason + ")"
			}
			state := in.State
			if in.Draining {
				state += " (draining)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.0f%%\t%d\n", in.ID, r.Name, in.AZ, in.Address, state, health, in.CPUPercent, in.PID)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "DATABASE NODE\tREGION\tAZ\tROLE\tADDRESS\tREPLICATION\tLAG\tSTATE\n")
	for _, n := range st.Database.Nodes {
		state := "running"
		switch {
		case n.Role == "spare" && !n.Running:
			state = "no server: made if the primary moves to its region"
		case !n.Running:
			state = "stopped"
		}
		if n.Fenced {
			state += ", fenced"
		}
		switch {
		case n.CrashLoop:
			state += fmt.Sprintf(", crash loop (%d restarts, last: %s)", n.Restarts, n.LastExit)
		case n.Restarts > 0:
			state += fmt.Sprintf(", restarted %d×", n.Restarts)
		}
		lag := "-"
		if n.Role != "primary" && n.Running {
			lag = fmt.Sprintf("%d B, %.3f s", n.LagBytes, n.LagSeconds)
			if st.Database.Engine == "mysql" {
				lag = fmt.Sprintf("%d tx, %d B, %.3f s", n.LagTransactions, n.LagBytes, n.LagSeconds)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Region, n.AZ, n.Role, n.Address, n.ReplicationState, lag, state)
	}
	tw.Flush()
	sync := "a synchronous standby holds every commit"
	if !st.Database.SyncStandby {
		sync = "NO synchronous standby: commits are acknowledged by the primary alone"
	}
	fmt.Fprintf(w, "writer endpoint %s; %s\n", st.Database.WriterEndpoint, sync)
	for _, e := range st.Database.Endpoints {
		fmt.Fprintf(w, "  %-10s writer %s  reader %s\n", e.Region, e.Writer, e.Reader)
	}
	if l := st.Database.Lease; l != nil {
		holder := "no region holds it: no primary takes writes"
		if l.Holder != "" {
			holder = fmt.Sprintf("held by %s (epoch %d, %.1f s left)", l.Holder, l.Epoch, l.ExpiresInSecs)
		}
		var regions []string
		for _, r := range l.Regions {
			word := "takes writes"
			if !r.Held {
				word = "no writes"
			}
			regions = append(regions, fmt.Sprintf("%s %s", r.Region, word))
		}
		fmt.Fprintf(w, "fencing: %s write lease from the witness on %s, %s; %s\n", time.Duration(l.LeaseSeconds*float64(time.Second)), l.Witness, holder, strings.Join(regions, ", "))
	}

	printNetwork(w, st)

	if len(st.Events) > 0 {
		fmt.Fprintln(w, "\nRECENT EVENTS")
		events := st.Events
		if len(events) > 8 {
			events = events[len(events)-8:]
		}
		for _, e := range events {
			fmt.Fprintf(w, "  %s  %-14s %s\n", e.Time.Local().Format("15:04:05.000"), e.Kind, strings.TrimSpace(e.Message))
		}
	}
}

func healthWord(ok bool) string {
	if ok {
		return "healthy"
	}
	return "UNHEALTHY"
}

// printNetwork shows whether the network is enforced, how far apart the
// regions are, and the faults in place.
func printNetwork(w io.Writer, st stack.Status) {
	n := st.Network
	fmt.Fprintln(w)
	switch {
	case n.Enforced:
		var dist []string
		for _, d := range n.InterRegion {
			dist = append(dist, fmt.Sprintf("%s <-> %s %.0f ms", d.A, d.B, d.RTTSeconds*1000))
		}
		what := "no delay between regions"
		if len(dist) > 0 {
			what = "round trip " + strings.Join(dist, ", ")
		}
		fmt.Fprintf(w, "network: security groups enforced (nftables table %s); %s\n", n.Table, what)
	case n.Reason != "":
		fmt.Fprintf(w, "network: NOT enforced: %s\n", n.Reason)
	}
	if len(st.Faults) == 0 {
		fmt.Fprintln(w, "faults: none")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FAULT\tTARGET\tSINCE\tDETAILS")
	for _, f := range st.Faults {
		target := f.Target
		if f.Other != "" {
			target += " / " + f.Other
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Kind, target, f.Since.Local().Format("15:04:05"), f.Details)
	}
	tw.Flush()
}
