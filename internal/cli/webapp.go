package cli

import (
	"os"

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
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			return webapp.Run(ctx, os.Getenv, g.stderr)
		},
	}
}
