package cli

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hastack/hastack/internal/stack"
)

// faultTarget is one thing `fail` and `recover` act on.
type faultTarget struct {
	kind    string   // as the control API names it
	args    []string // the arguments' names
	domains bool     // the arguments name failure domains
	fail    string   // what `fail` does
	recover string   // what `recover` does, "" if it cannot be recovered
	// flags adds the target's flags for verb to cmd, filling f.
	flags func(cmd *cobra.Command, verb string, f *faultFlags)
}

// faultFlags are the settings the flags of fail and recover give.
type faultFlags struct {
	mode          string
	oneWay        bool
	to            string
	delay, jitter time.Duration
	loss          percent
}

var faultTargets = []faultTarget{
	{kind: stack.FaultRegion, args: []string{"NAME"},
		fail:    "Fail a region: --mode isolate (default) cuts it off from every address outside it while everything inside keeps running; --mode crash kills every process of it at once",
		recover: "Undo a region failure of either mode: reachable again, or started again",
		flags: func(cmd *cobra.Command, verb string, f *faultFlags) {
			if verb == "fail" {
				cmd.Flags().StringVar(&f.mode, "mode", stack.ModeIsolate, "isolate: drop every packet between the region and the rest, everything inside keeps running; crash: SIGKILL every process of the region in the same instant, as a power loss")
			}
		}},
	{kind: stack.FaultInstance, args: []string{"ID"}, fail: "Kill an instance's processes (SIGKILL); its group replaces it"},
	{kind: stack.FaultAZ, args: []string{"NAME"},
		fail:    "Kill an AZ's instances and database nodes and keep launches out of it",
		recover: "Let launches into a failed AZ again (the group rebalances); its database nodes rejoin"},
	{kind: stack.FaultDBPrimary,
		fail:    "Kill the database primary's postmaster (kill -9); with multi_az the standby takes over",
		recover: "Bring the killed primary back as a follower of the current primary"},
	{kind: stack.FaultPartition, args: []string{"A", "B"}, domains: true,
		fail:    "Drop every packet between two failure domains (a region, an AZ, internet, dns, witness); --one-way drops only A to B",
		recover: "Undo exactly the partition between A and B",
		flags: func(cmd *cobra.Command, verb string, f *faultFlags) {
			if verb == "fail" {
				cmd.Flags().BoolVar(&f.oneWay, "one-way", false, "drop only the packets from A to B")
			}
		}},
	{kind: stack.FaultNetwork, args: []string{"TARGET"}, domains: true,
		fail:    "Delay, jitter and drop the packets in and out of a failure domain, or only those between it and --to (a gray failure)",
		recover: "Undo the network fault on TARGET (and --to)",
		flags: func(cmd *cobra.Command, verb string, f *faultFlags) {
			cmd.Flags().StringVar(&f.to, "to", "", "only the traffic between TARGET and this failure domain (default: everything outside TARGET)")
			if verb == "fail" {
				cmd.Flags().DurationVar(&f.delay, "delay", 0, "added to each packet, each way, e.g. 200ms")
				cmd.Flags().DurationVar(&f.jitter, "jitter", 0, "each packet's delay varies by up to this, e.g. 50ms")
				cmd.Flags().Var(&f.loss, "loss", "share of packets dropped, 0% to 100%, e.g. 20%")
			}
		}},
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
		flags := &faultFlags{}
		sub := &cobra.Command{
			Use:   strings.TrimSpace(ft.kind + " " + strings.Join(ft.args, " ")),
			Short: help,
			Args:  args(cobra.ExactArgs(len(ft.args))),
			RunE: func(c *cobra.Command, a []string) error {
				f, err := flags.fault(verb, ft.kind, a)
				if err != nil {
					return usageError{err}
				}
				if ft.domains {
					s, err := g.load()
					if err != nil {
						return err
					}
					for _, name := range append(a, f.Other) {
						if name == "" {
							continue
						}
						if problem := stack.UnknownDomain(s, name); problem != "" {
							return usageError{fmt.Errorf("%s", problem)}
						}
					}
				}
				_, client, err := g.dial()
				if err != nil {
					return err
				}
				if verb == "fail" {
					err = client.Inject(c.Context(), f)
				} else {
					err = client.Undo(c.Context(), f)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "%s %s: %s\n", verb, f, map[string]string{"fail": "the fault is in place", "recover": "recovering"}[verb])
				return nil
			},
		}
		if ft.flags != nil {
			ft.flags(sub, verb, flags)
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

// fault is the fault the arguments and flags name, or a sentence saying
// what is wrong with them.
func (fl *faultFlags) fault(verb, kind string, a []string) (stack.Fault, error) {
	f := stack.Fault{Kind: kind, Mode: fl.mode, OneWay: fl.oneWay, Other: fl.to,
		Delay: fl.delay, Jitter: fl.jitter, Loss: float64(fl.loss)}
	if len(a) > 0 {
		f.Name = a[0]
	}
	if len(a) > 1 {
		f.Other = a[1]
	}
	switch {
	case f.Mode != "" && f.Mode != stack.ModeIsolate && f.Mode != stack.ModeCrash:
		return f, fmt.Errorf("--mode %q is not one of %s, %s", f.Mode, stack.ModeIsolate, stack.ModeCrash)
	case f.Delay < 0:
		return f, fmt.Errorf("--delay %s is negative; give a delay such as 200ms", f.Delay)
	case f.Jitter < 0:
		return f, fmt.Errorf("--jitter %s is negative; give a jitter such as 50ms", f.Jitter)
	case kind == stack.FaultPartition && f.Name == f.Other:
		return f, fmt.Errorf("a partition needs two different failure domains, not %s twice", f.Name)
	case kind == stack.FaultNetwork && f.Name == f.Other:
		return f, fmt.Errorf("--to %s is TARGET itself; name another failure domain", f.Other)
	case verb == "fail" && kind == stack.FaultNetwork && f.Delay == 0 && f.Jitter == 0 && f.Loss == 0:
		return f, fmt.Errorf("fail network needs --delay, --jitter or --loss, e.g. --delay 200ms --loss 20%%")
	}
	return f, nil
}

// percent is a flag value from 0 to 100, written with or without "%".
type percent float64

func (p *percent) String() string { return strconv.FormatFloat(float64(*p), 'g', -1, 64) + "%" }

func (p *percent) Type() string { return "percent" }

func (p *percent) Set(s string) error {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || math.IsNaN(v) {
		return fmt.Errorf("not a percentage such as 20%%")
	}
	if v < 0 || v > 100 {
		return fmt.Errorf("must be between 0%% and 100%%")
	}
	*p = percent(v)
	return nil
}
