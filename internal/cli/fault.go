package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// faultTarget is one thing `fail` and `recover` act on.
type faultTarget struct {
	kind    string // as the control API names it
	arg     string // the argument's name, "" for none
	fail    string // what `fail` does
	recover string // what `recover` does, "" if it cannot be recovered
}

var faultTargets = []faultTarget{
	{kind: "region", arg: "NAME", fail: "Stop a region's load balancer and instances", recover: "Start a failed region's load balancer and instances again"},
	{kind: "instance", arg: "ID", fail: "Kill an instance's processes (SIGKILL); its group replaces it"},
	{kind: "az", arg: "NAME", fail: "Kill an AZ's instances and database nodes and keep launches out of it", recover: "Let launches into a failed AZ again (the group rebalances); its database nodes rejoin"},
	{kind: "db-primary", fail: "Kill the database primary's postmaster (kill -9); with multi_az the standby takes over", recover: "Bring the killed primary back as a follower of the current primary"},
}

// newFault builds "fail" and "recover", which share their targets.
func newFault(g *globals, verb string) *cobra.Command {
	var kinds []string
	cmd := &cobra.Command{Use: verb + " TARGET [NAME]"}
	for _, ft := range faultTargets {
		help := ft.fail
		if verb == "recover" {
			if ft.recover == "" {
				continue
			}
			help = ft.recover
		}
		kinds = append(kinds, ft.kind)
		sub := &cobra.Command{
			Use:   strings.TrimSpace(ft.kind + " " + ft.arg),
			Short: help,
			Args:  args(cobra.ExactArgs(map[bool]int{true: 1, false: 0}[ft.arg != ""])),
			RunE: func(c *cobra.Command, a []string) error {
				_, client, err := g.dial()
				if err != nil {
					return err
				}
				name := ""
				if len(a) > 0 {
					name = a[0]
				}
				if verb == "fail" {
					err = client.Fail(c.Context(), ft.kind, name)
				} else {
					err = client.Recover(c.Context(), ft.kind, name)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "%s %s: %s\n", verb, strings.TrimSpace(ft.kind+" "+name), map[string]string{"fail": "the fault is in place", "recover": "recovering"}[verb])
				return nil
			},
		}
		cmd.AddCommand(sub)
	}
	cmd.Short = map[string]string{"fail": "Inject a fault into the running stack", "recover": "Undo a fault"}[verb] + " (" + strings.Join(kinds, ", ") + ")"
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(_ *cobra.Command, a []string) error {
		if len(a) == 0 {
			return usageError{fmt.Errorf("%s needs a target: %s", verb, strings.Join(kinds, ", "))}
		}
		return usageError{fmt.Errorf("unknown %s target %q (supported: %s)", verb, a[0], strings.Join(kinds, ", "))}
	}
	return cmd
}
