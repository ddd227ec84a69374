package cli

import (
	"fmt"
	"net/url"

	"github.com/spf13/cobra"
)

func newPromote(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "promote REGION",
		Short: "Promote REGION's database replica to primary (the seed's manual failover), unless it does not answer or is behind",
		Long: `Promote REGION's database replica to primary: the seed's manual cross-region failover.

It is refused, before anything is done to the old primary, when the replica
does not answer a new session, and, while the old primary still answers, when
the replica has not replayed everything it wrote (--force promotes it anyway).
The output says how far behind it was (bytes, and seconds of commits) or that
the old primary could not be reached to tell, and whether the old primary was
stopped.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			_, client, err := g.dial()
			if err != nil {
				return err
			}
			p, err := client.PromoteRegion(cmd.Context(), a[0], force)
			if err != nil {
				return err
			}
			for _, line := range promotionLines(p) {
				fmt.Fprintln(g.stdout, line)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "promote a replica that is behind a primary that still answers, losing what it has not replayed")
	return cmd
}

func newDBURL(g *globals) *cobra.Command {
	var reader, password bool
	var region string
	cmd := &cobra.Command{
		Use:   "db-url",
		Short: "Print a postgres:// URL for the writer (or reader) endpoint, with the password only if asked (to connect, use hastack psql)",
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
			if !password {
				u = withoutPassword(u)
			}
			fmt.Fprintln(g.stdout, u)
			return nil
		},
	}
	cmd.Flags().BoolVar(&reader, "reader", false, "the reader endpoint instead of the writer")
	cmd.Flags().StringVar(&region, "region", "", "whose endpoint (default: the primary region's)")
	cmd.Flags().BoolVar(&password, "password", false, "include the password (it then shows in the output; keep it off command lines)")
	return cmd
}

// withoutPassword is a URL with its password removed, the user kept.
func withoutPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	u.User = url.User(u.User.Username())
	return u.String()
}
