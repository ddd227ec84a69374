package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/hastack/hastack/internal/network"
	"github.com/hastack/hastack/internal/stack"
)

func newDown(g *globals) *cobra.Command {
	var purge bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop everything the stack runs; data is kept unless --purge is given",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.load()
			if err != nil {
				return err
			}
			p := g.paths(s)
			client, err := stack.Dial(p.Dir)
			stopped := false
			if err == nil {
				ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
				defer cancel()
				err = client.Down(ctx)
				stopped = err == nil
			}
			switch {
			case stopped:
				fmt.Fprintf(g.stdout, "stack %s stopped\n", s.Name)
			case errors.Is(err, stack.ErrNotRunning):
				fmt.Fprintf(g.stdout, "stack %s is not running\n", s.Name)
				// A stack killed with SIGKILL leaves its packet filter
				// rules behind; without the capability there can be none.
				if err := network.Remove(s.Name); err != nil && !errors.Is(err, network.ErrNoNetAdmin) {
					return fmt.Errorf("removing the network rules stack %s left behind: %w", s.Name, err)
				}
			default:
				return err
			}
			if !purge {
				if _, err := os.Stat(p.Dir); err == nil {
					fmt.Fprintf(g.stdout, "data kept in %s (hastack down --purge deletes it)\n", p.Dir)
				}
				return nil
			}
			if _, err := os.Stat(p.Lock()); err != nil {
				return fmt.Errorf("%s does not look like a hastack state directory (no hastack.lock); not deleting it", p.Dir)
			}
			if err := os.RemoveAll(p.Dir); err != nil {
				return fmt.Errorf("deleting %s: %w", p.Dir, err)
			}
			fmt.Fprintf(g.stdout, "deleted %s\n", p.Dir)
			return nil
		},
	}
	cmd.Flags().BoolVar(&purge, "purge", false, "also delete the stack's data, secrets and logs")
	return cmd
}
