package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hastack/hastack/internal/drill"
	"github.com/hastack/hastack/internal/stack"
)

// drillFlags are the knobs shared by drills and probes.
type drillFlags struct {
	asJSON  bool
	report  string
	load    drill.LoadConfig
	opts    drill.Options
	resolve string
	dur     time.Duration
	loss    percent
}

func (f *drillFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.asJSON, "json", false, "print the report as one JSON object")
	fl.StringVar(&f.report, "report", "", "also write a self-contained HTML report with the timeline to this file")
	fl.Float64Var(&f.load.Rate, "rate", 40, "requests per second across all clients")
	fl.IntVar(&f.load.Clients, "clients", 8, "clients in parallel")
	fl.Float64Var(&f.load.WriteRatio, "write-ratio", 0.3, "share of requests that write (0..1)")
	fl.DurationVar(&f.opts.Sustain, "sustain", 2*time.Second, "successes must run this long to count as recovered")
}

func newDrill(g *globals) *cobra.Command {
	f := &drillFlags{}
	var names []string
	for _, s := range drill.Scenarios {
		line := "  " + s.Name
		if len(s.Takes) > 0 {
			line = fmt.Sprintf("  %-26s --%s", s.Name, strings.Join(s.Takes, " --"))
		}
		names = append(names, line)
	}
	cmd := &cobra.Command{
		Use:   "drill SCENARIO",
		Short: "Run a failure scenario under load and measure RTO, errors, latency and lost writes",
		Long: "Run a failure scenario against the running stack under realistic load and report how long\n" +
			"users were down, how much data was lost, and whether the stack file's objectives were met.\n\n" +
			"Scenarios, with the options each takes beyond the common ones:\n" + strings.Join(names, "\n"),
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			sc, err := drill.Find(a[0])
			if err != nil {
				return usageError{err}
			}
			f.opts.Loss = float64(f.loss)
			if err := f.opts.Check(sc); err != nil {
				return usageError{err}
			}
			s, client, err := g.dial()
			if err != nil {
				return err
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			f.opts.Load = f.load
			f.opts.Objectives, f.opts.Stack = s.Objectives, s
			f.opts.Progress = progressPrinter(g.stderr)
			tellStack(ctx, client, stack.DrillResult{Scenario: sc.Name, Running: true})
			rep, err := drill.Run(ctx, client, sc, f.opts)
			endProgress(g.stderr)
			if err != nil {
				tellStack(ctx, client, stack.DrillResult{Scenario: sc.Name, EndedAt: time.Now()})
				return err
			}
			tellStack(ctx, client, drillResult(rep))
			return f.output(g, rep)
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.DurationVar(&f.opts.Warmup, "warmup", 3*time.Second, "steady load before the fault")
	fl.DurationVar(&f.opts.Timeout, "timeout", 0, "longest wait for recovery after the fault (default: derived from the stack file's timings)")
	fl.DurationVar(&f.opts.Settle, "settle", 2*time.Second, "load kept after recovery")
	// Zero takes the drill's default, which the help shows.
	fl.StringVar(&f.opts.Mode, drill.OptMode, "", "region scenarios: isolate cuts the region off while it keeps running, crash kills every process of it at once")
	fl.DurationVar(&f.opts.Duration, drill.OptDuration, 0, "timed scenarios (replication-partition, gray-failure): how long the fault is held")
	fl.DurationVar(&f.opts.Delay, drill.OptDelay, 0, "gray-failure: delay each way between the primary region and the internet")
	fl.Var(&f.loss, drill.OptLoss, "gray-failure: share of packets dropped between the primary region and the internet, e.g. 30%")
	fl.DurationVar(&f.opts.LinkDelay, drill.OptLinkDelay, 0, "region scenarios: delay each way added to the link between the primary region and the replica's, from before the warm-up")
	for name, def := range map[string]string{drill.OptMode: "isolate", drill.OptDuration: "10s", drill.OptDelay: "200ms", drill.OptLoss: "30%"} {
		fl.Lookup(name).DefValue = def
	}
	cmd.AddCommand(newProbe(g))
	return cmd
}

func newProbe(g *globals) *cobra.Command {
	f := &drillFlags{}
	cmd := &cobra.Command{
		Use:   "probe --url URL",
		Short: "Only load and measure any endpoint (for example the AWS deployment while someone fails it over)",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.load.URL == "" {
				return usageError{fmt.Errorf("probe needs --url, e.g. --url http://app.example.com")}
			}
			if f.resolve != "" {
				f.load.Resolver = drill.NewResolver(f.resolve)
			}
			ctx, stop := interruptible(cmd.Context())
			defer stop()
			rep, err := drill.Probe(ctx, drill.ProbeOptions{Load: f.load, Duration: f.dur, Sustain: f.opts.Sustain, Progress: progressPrinter(g.stderr)})
			endProgress(g.stderr)
			if err != nil {
				return err
			}
			return f.output(g, rep)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&f.load.URL, "url", "", "endpoint to load, e.g. http://app.example.com")
	cmd.Flags().StringVar(&f.resolve, "resolver", "", "DNS server (host:port) to resolve the URL's host with, caching answers for their TTL")
	cmd.Flags().DurationVar(&f.dur, "duration", time.Minute, "how long to probe")
	cmd.Flags().Lookup("write-ratio").DefValue = "0"
	f.load.WriteRatio = 0
	return cmd
}

// output prints the report and turns a failed drill into exit code 1.
func (f *drillFlags) output(g *globals, rep *drill.Report) error {
	if f.report != "" {
		if err := writeReport(f.report, rep); err != nil {
			return err
		}
	}
	if f.asJSON {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.WriteText(g.stdout)
		if f.report != "" {
			fmt.Fprintf(g.stdout, "\nreport: %s\n", f.report)
		}
	}
	if !rep.Passed {
		return fmt.Errorf("drill %s did not pass: %s", rep.Scenario, failureReason(rep))
	}
	return nil
}

func failureReason(rep *drill.Report) string {
	if rep.RecoverError != "" {
		return "undoing the fault failed: " + rep.RecoverError
	}
	if !rep.Recovered {
		return "clients were not served again before the timeout"
	}
	var missed []string
	for _, c := range rep.Checks {
		if !c.Passed {
			missed = append(missed, fmt.Sprintf("expected: %s; seen: %s", c.Name, c.Detail))
		}
	}
	for _, o := range rep.Objectives {
		if !o.Met {
			missed = append(missed, fmt.Sprintf("objective missed: %s %.3f exceeds %.3f", o.Name, o.Actual, o.Target))
		}
	}
	return strings.Join(missed, "; ")
}

func writeReport(path string, rep *drill.Report) error {
	var sb strings.Builder
	if err := rep.WriteHTML(&sb); err != nil {
		return fmt.Errorf("rendering the report: %w", err)
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

// progressPrinter shows one line that updates in place on a terminal, and
// a line per phase elsewhere (CI logs).
func progressPrinter(w io.Writer) func(drill.Progress) {
	tty := isTerminal(w)
	last := ""
	var lastAt time.Duration
	return func(p drill.Progress) {
		lag := ""
		if p.Lag.Node != "" {
			lag = fmt.Sprintf("  %s %.2fs behind", p.Lag.Node, p.Lag.Seconds)
		}
		if tty {
			fmt.Fprintf(w, "\r  %-8s %6.1fs  %5d requests  %4d errors  served by %-12s%s\033[K", p.Phase, p.Elapsed.Seconds(), p.Requests, p.Errors, p.Region, lag)
			return
		}
		// A line per phase, and one every 2 s while a lag is measured.
		if p.Phase != last || (lag != "" && p.Elapsed-lastAt >= 2*time.Second) {
			fmt.Fprintf(w, "  %6.1fs  %s (%d requests, %d errors so far)%s\n", p.Elapsed.Seconds(), p.Phase, p.Requests, p.Errors, lag)
			last, lastAt = p.Phase, p.Elapsed
		}
	}
}

func endProgress(w io.Writer) {
	if isTerminal(w) {
		fmt.Fprint(w, "\r\033[K")
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
