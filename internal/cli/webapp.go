package cli

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hastack/hastack/internal/webapp"
)

// newWebapp runs the bundled demo app; instances run it when their launch
// template names no command of its own.
func newWebapp(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "webapp",
		Short:  "Run the bundled demo web app (configured by environment variables)",
		Hidden: true,
		Args:   args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return webapp.Run(ctx, os.Getenv, g.stderr)
		},
	}
}
