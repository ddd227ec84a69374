package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

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
	fmt.Fprintln(tw, "REGION\tROLE\tVPC\tLOOPBACK\tLOAD BALANCER\tHEALTHY TARGETS\tSTATE")
	for _, r := range st.Regions {
		state := "running"
		if r.Failed {
			state = "FAILED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", r.Name, r.Role, r.VPC.CIDR, r.VPC.Loopback, r.LoadBalancer.Address, r.LoadBalancer.HealthyTargets, len(r.Instances), state)
	}
	tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tREGION\tAZ\tADDRESS\tSTATE\tHEALTH\tPID")
	for _, r := range st.Regions {
		for _, in := range r.Instances {
			health := in.Health
			if in.Reason != "" {
				health += " (" + in.Reason + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\n", in.ID, r.Name, in.AZ, in.Address, in.State, health, in.PID)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "DATABASE NODE\tREGION\tAZ\tROLE\tADDRESS\tLAG\tSTATE\n")
	for _, n := range st.Database.Nodes {
		state := "running"
		if !n.Running {
			state = "stopped"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d B\t%s\n", n.Name, n.Region, n.AZ, n.Role, n.Address, n.LagBytes, state)
	}
	tw.Flush()
	fmt.Fprintf(w, "writer endpoint %s\n", st.Database.WriterEndpoint)

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
