package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newFault builds "fail" and "recover", which share their targets.
func newFault(g *globals, verb string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   verb + " TARGET NAME",
		Short: map[string]string{"fail": "Inject a fault into the running stack", "recover": "Undo a fault"}[verb],
	}
	region := &cobra.Command{
		Use:   "region NAME",
		Short: map[string]string{"fail": "Stop a region's load balancer and instances", "recover": "Start a failed region's load balancer and instances again"}[verb],
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(c *cobra.Command, a []string) error {
			_, client, err := g.dial()
			if err != nil {
				return err
			}
			if verb == "fail" {
				err = client.Fail(c.Context(), "region", a[0])
			} else {
				err = client.Recover(c.Context(), "region", a[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "region %s %s\n", a[0], map[string]string{"fail": "failed: load balancer and instances stopped", "recover": "recovering: load balancer and instances starting"}[verb])
			return nil
		},
	}
	cmd.AddCommand(region)
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(_ *cobra.Command, a []string) error {
		if len(a) == 0 {
			return usageError{fmt.Errorf("%s needs a target: region NAME", verb)}
		}
		return usageError{fmt.Errorf("unknown %s target %q (supported: region)", verb, a[0])}
	}
	return cmd
}
