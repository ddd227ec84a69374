package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/hastack/hastack/internal/drill"
	"github.com/hastack/hastack/internal/stack"
)

func newDashboard(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "dashboard",
		Short: "Print the URL of the running stack's live dashboard",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, client, err := g.dial()
			if err != nil {
				return err
			}
			st, err := client.Status(cmd.Context())
			if err != nil {
				return err
			}
			if st.Dashboard.URL == "" {
				return fmt.Errorf("stack %s runs without a dashboard (its stack file sets dashboard { listen } to port 0)", s.Name)
			}
			fmt.Fprintln(g.stdout, st.Dashboard.URL)
			return nil
		},
	}
}

// printDashboardURL tells where the dashboard of the stack in p is, once
// it is up; nothing when it is off or cannot be asked.
func printDashboardURL(ctx context.Context, w io.Writer, p stack.Paths) {
	c, err := stack.Dial(p.Dir)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil || st.Dashboard.URL == "" {
		return
	}
	mode := ""
	if st.Dashboard.ReadOnly {
		mode = " (read-only)"
	}
	fmt.Fprintf(w, "dashboard: %s%s\n", st.Dashboard.URL, mode)
}

// tellStack tells the stack about a drill, for its metrics and dashboard;
// a stack that cannot hear it changes nothing about the drill.
func tellStack(ctx context.Context, c *stack.Client, d stack.DrillResult) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = c.ReportDrill(ctx, d)
}

// drillResult is what the stack's metrics keep of a drill's report.
func drillResult(rep *drill.Report) stack.DrillResult {
	d := stack.DrillResult{
		Scenario: rep.Scenario, Passed: rep.Passed, RTOSeconds: rep.RTOSeconds, RPOSeconds: rep.RPOSeconds,
		ErrorRate: rep.ErrorRate, WritesLost: rep.WritesLost, EndedAt: rep.EndedAt,
	}
	if rep.DNSSwitchSeconds != nil {
		d.DNSSwitchSeconds = *rep.DNSSwitchSeconds
	}
	return d
}
