package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hastack/hastack/internal/rds"
)

func newSwitchover(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "switchover REGION",
		Short: "Move the database primary to REGION with nothing lost (planned); the old primary follows it",
		Long: `Move the database primary to REGION as a planned operation, with no
acknowledged write lost: writes stop (the writer endpoints hold new clients and
the primary shuts down), REGION's replica replays everything the primary wrote
and is promoted, the writer endpoints lead to it, and the old primary runs on as
its follower. If the replica does not catch up, the old primary takes the
writes back. The output gives the write downtime.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			_, client, err := g.dial()
			if err != nil {
				return err
			}
			s, err := client.Switchover(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			for _, line := range switchoverLines(s) {
				fmt.Fprintln(g.stdout, line)
			}
			return nil
		},
	}
}

// promotionLines tells what a promotion measured and did.
func promotionLines(p rds.Promotion) []string {
	head := fmt.Sprintf("%s (%s) is the primary now, in place of %s", p.Node, p.Region, p.OldPrimary)
	if p.Forced {
		head += " (--force)"
	}
	var lag string
	switch {
	case p.Lag == nil:
		lag = fmt.Sprintf("lag: unknown, %s; whatever it wrote that %s had not replayed is lost", p.LagUnknown, p.Node)
	case p.Lag.Bytes == 0 && p.Lag.Transactions == 0:
		lag = fmt.Sprintf("lag: none: %s had replayed everything %s wrote; nothing lost", p.Node, p.OldPrimary)
	case p.Lag.Transactions > 0:
		lag = fmt.Sprintf("lag: %d transactions, up to %.2f s of commits: what %s had not applied of %s's writes may be lost", p.Lag.Transactions, p.Lag.Seconds, p.Node, p.OldPrimary)
	default:
		lag = fmt.Sprintf("lag: %d bytes, up to %.2f s of commits: what %s had not replayed of %s's writes may be lost", p.Lag.Bytes, p.Lag.Seconds, p.Node, p.OldPrimary)
	}
	old := fmt.Sprintf("old primary %s: reached and stopped; it returns only as a follower, rewound or copied", p.OldPrimary)
	if !p.OldPrimaryStopped {
		old = fmt.Sprintf("old primary %s: not reached, so not stopped: if it still runs, it may still take writes (status: stale_primary) until it rejoins as a follower", p.OldPrimary)
	}
	return []string{head + ".", lag, old}
}

// caughtUpLine says how far the new primary had replayed the old one's
// history: its WAL on PostgreSQL, its transactions (GTIDs) on MariaDB.
func caughtUpLine(s rds.Switchover) string {
	if s.Timeline == 0 {
		return fmt.Sprintf("%s had applied every transaction of %s, up to %s, before its promotion", s.To, s.From, s.Position)
	}
	return fmt.Sprintf("%s had replayed all of %s's WAL, to %s, before its promotion (timeline %d)", s.To, s.From, s.LSN, s.Timeline)
}

// switchoverLines tells what a switchover did and what it cost.
func switchoverLines(s rds.Switchover) []string {
	follows := fmt.Sprintf("old primary %s: follows %s as a replica", s.From, s.To)
	if !s.OldPrimaryFollows {
		follows = fmt.Sprintf("old primary %s: not running as a follower yet; hastack keeps trying", s.From)
	}
	return []string{
		fmt.Sprintf("%s (%s) is the primary now: switched over from %s in %.2fs, nothing acknowledged lost.", s.To, s.Region, s.From, s.Seconds),
		fmt.Sprintf("write downtime: %.3fs (from the writer endpoints closing to them leading to %s)", s.WriteDowntimeSeconds, s.To),
		caughtUpLine(s),
		follows,
	}
}
