package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/hastack/hastack/internal/stack"
)

func newEvents(g *globals) *cobra.Command {
	var asJSON, follow bool
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Show the stack's event log: health flips, scaling, DNS changes, promotions, faults",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.load()
			if err != nil {
				return err
			}
			p := g.paths(s)
			seen := 0
			show := func() error {
				events, err := stack.ReadEvents(p)
				if err != nil {
					return fmt.Errorf("reading the event log: %w", err)
				}
				if seen > len(events) { // the log was purged and started anew
					seen = 0
				}
				for _, e := range events[seen:] {
					printEvent(g.stdout, e, asJSON)
				}
				seen = len(events)
				return nil
			}
			if err := show(); err != nil {
				return err
			}
			if !follow {
				return nil
			}
			return followEvents(cmd.Context(), show)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per line")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep printing new events until interrupted")
	return cmd
}

func printEvent(w io.Writer, e stack.Event, asJSON bool) {
	if asJSON {
		b, _ := json.Marshal(e)
		fmt.Fprintln(w, string(b))
		return
	}
	fmt.Fprintf(w, "%s  %-16s %s\n", e.Time.Local().Format("2006-01-02 15:04:05.000"), e.Kind, e.Message)
}

// followEvents re-reads the log every 200 ms until ctx is done.
func followEvents(ctx context.Context, show func() error) error {
	ctx, stop := interruptible(ctx)
	defer stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := show(); err != nil {
				return err
			}
		}
	}
}
