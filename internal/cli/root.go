package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hastack/hastack/internal/spec"
	"github.com/hastack/hastack/internal/stack"
)

// Exit codes, a contract for scripts: 0 success, 1 failure, 2 usage error.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// errReported is a failure already told to the user.
var errReported = errors.New("failed")

// usageError marks errors in how hastack was called.
type usageError struct{ error }

// Main runs hastack with args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var ue usageError
	var se *spec.Error
	var code exitCode
	switch {
	case errors.Is(err, errReported):
		return ExitFailure
	case errors.As(err, &code):
		return int(code)
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "hastack: %v\n", err)
		fmt.Fprintln(stderr, "Run 'hastack --help' for usage.")
		return ExitUsage
	case errors.As(err, &se):
		fmt.Fprintln(stderr, err)
		return ExitFailure
	default:
		fmt.Fprintf(stderr, "hastack: %v\n", err)
		return ExitFailure
	}
}

// globals are the flags every command takes.
type globals struct {
	file     string
	stateDir string
	stdout   io.Writer
	stderr   io.Writer
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "hastack",
		Short: "Run a multi-region high-availability stack on one machine, break it, and watch it fail over",
		Long: `hastack runs the classic two-region AWS architecture for real on one machine:
Route53 failover DNS with health checks, a VPC, load balancer and Auto Scaling
group per region, and a PostgreSQL primary. Break parts of it on purpose and
watch it recover.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().StringVarP(&g.file, "file", "f", "stack.hcl", "stack file")
	root.PersistentFlags().StringVar(&g.stateDir, "state-dir", os.Getenv("HASTACK_STATE_DIR"),
		"state directory (default /var/lib/hastack/NAME as root, else ~/.local/state/hastack/NAME; env HASTACK_STATE_DIR)")
	root.AddCommand(
		newValidate(g),
		newApply(g, true),
		newUp(g),
		newApply(g, false),
		newStatus(g),
		newFault(g, "fail"),
		newFault(g, "recover"),
		newDown(g),
		newPromote(g),
		newSwitchover(g),
		newDBURL(g),
		newPsql(g),
		newSQL(g),
		newEvents(g),
		newDrill(g),
		newExport(g),
		newWebapp(g),
		newDashboard(g),
	)
	return root
}

// args wraps a cobra argument check so its failures count as usage errors.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// load reads and validates the stack file.
func (g *globals) load() (*spec.Stack, error) {
	return spec.Load(g.file)
}

// paths resolves the state directory of a loaded stack.
func (g *globals) paths(s *spec.Stack) stack.Paths {
	dir := g.stateDir
	if dir == "" {
		dir = stack.DefaultStateDir(s.Name)
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return stack.Paths{Dir: dir}
}

// dial connects to the running stack of the stack file.
func (g *globals) dial() (*spec.Stack, *stack.Client, error) {
	s, err := g.load()
	if err != nil {
		return nil, nil, err
	}
	c, err := stack.Dial(g.paths(s).Dir)
	if errors.Is(err, stack.ErrNotRunning) {
		return s, nil, fmt.Errorf("stack %s is not running; start it with: hastack up -d -f %s", s.Name, g.file)
	}
	return s, c, err
}
