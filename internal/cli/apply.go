package cli

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hastack/hastack/internal/stack"
)

// newApply builds `plan` (dry run) and `apply`: both send the stack file
// to the running stack, which decides what can change live.
func newApply(g *globals, dryRun bool) *cobra.Command {
	use, short := "apply", "Change a running stack to the stack file: capacity, thresholds, health checks (nothing else restarts)"
	if dryRun {
		use, short = "plan", "Show what apply would change on the running stack"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, client, err := g.dial()
			if err != nil {
				return err
			}
			src, err := os.ReadFile(g.file)
			if err != nil {
				return fmt.Errorf("reading stack file: %w", err)
			}
			changes, err := client.Apply(cmd.Context(), g.file, src, dryRun)
			printChanges(g.stdout, changes)
			if err != nil {
				return err
			}
			switch {
			case len(changes) == 0:
				fmt.Fprintln(g.stdout, "no changes: the running stack matches", g.file)
			case dryRun:
				fmt.Fprintf(g.stdout, "%d changes; hastack apply -f %s makes them\n", len(changes), g.file)
			default:
				fmt.Fprintf(g.stdout, "applied %d changes\n", len(changes))
			}
			return nil
		},
	}
}

func printChanges(w io.Writer, changes []stack.Change) {
	if len(changes) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REGION\tSETTING\tNOW\tNEW\tLIVE")
	for _, c := range changes {
		region := c.Region
		if region == "" {
			region = "-"
		}
		live := "yes"
		if !c.Live {
			live = "no"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", region, c.Path, c.Old, c.New, live)
	}
	tw.Flush()
}
