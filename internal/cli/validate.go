package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newValidate(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the stack file and report every error with file:line:col",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.load()
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s: stack %s is valid (%d regions, domain %s)\n", g.file, s.Name, len(s.Regions), s.DNS.Domain)
			return nil
		},
	}
}
