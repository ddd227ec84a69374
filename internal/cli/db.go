package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newPromote(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "promote REGION",
		Short: "Promote REGION's database replica to primary, fencing the old primary (the seed's manual failover)",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			_, client, err := g.dial()
			if err != nil {
				return err
			}
			if err := client.Promote(cmd.Context(), a[0]); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "the replica in %s is the primary now; the old primary is fenced\n", a[0])
			return nil
		},
	}
}

func newDBURL(g *globals) *cobra.Command {
	var reader bool
	var region string
	cmd := &cobra.Command{
		Use:   "db-url",
		Short: `Print a postgres:// URL with credentials for the writer (or reader) endpoint: psql "$(hastack db-url)"`,
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, client, err := g.dial()
			if err != nil {
				return err
			}
			u, err := client.DatabaseURL(cmd.Context(), reader, region)
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, u)
			return nil
		},
	}
	cmd.Flags().BoolVar(&reader, "reader", false, "the reader endpoint instead of the writer")
	cmd.Flags().StringVar(&region, "region", "", "whose endpoint (default: the primary region's)")
	return cmd
}
