package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hastack/hastack/internal/rds"
)

// exitCode is a failure already told to the user by a program hastack
// ran: hastack exits with its code, saying nothing more.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

const psqlHelp = `Open psql on the stack's writer endpoint (or a reader endpoint).

The password never appears on a command line: psql reads it from a private
file (0600) that hastack deletes when psql exits. Every argument that is not
one of hastack's flags goes to psql, in order; psql's own -f, -h and -d
go after "--".

Usage:
  hastack psql [-f STACK_FILE] [--state-dir DIR] [--reader] [--region R] [-- PSQL_ARGS]

Examples:
  hastack psql
  hastack psql -c 'select 1'
  hastack psql --reader --region us-west-2 -- -At -f report.sql
`

func newPsql(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "psql [--reader] [--region R] [-- PSQL_ARGS]",
		Short: "Open psql on the writer (or reader) endpoint; the password never reaches a command line",
		// hastack's flags are picked out by hand: the rest belong to psql.
		DisableFlagParsing: true,
		RunE:               clientRunE(g, psqlHelp, runPsqlOn),
	}
}

// clientRunE runs a database client command (psql, sql): hastack's
// flags are picked out of the arguments, the stack is asked for the
// database URL, and run is given it with the client's arguments.
func clientRunE(g *globals, help string, run func(ctx context.Context, g *globals, raw string, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, a []string) error {
		opts, rest, err := splitPsqlArgs(a)
		if err != nil {
			return usageError{err}
		}
		if opts.help {
			fmt.Fprint(g.stdout, help)
			return nil
		}
		if opts.file != "" {
			g.file = opts.file
		}
		if opts.stateDir != "" {
			g.stateDir = opts.stateDir
		}
		_, client, err := g.dial()
		if err != nil {
			return err
		}
		raw, err := client.DatabaseURL(cmd.Context(), opts.reader, opts.region)
		if err != nil {
			return err
		}
		return run(cmd.Context(), g, raw, rest)
	}
}

// runPsqlOn runs psql on the postgres:// URL raw.
func runPsqlOn(ctx context.Context, g *globals, raw string, args []string) error {
	conn, err := parseDatabaseURL(raw)
	if err != nil {
		return err
	}
	bin, err := findPsql()
	if err != nil {
		return err
	}
	return runPsql(ctx, g, bin, conn, args)
}

// psqlOpts are hastack's own flags of `hastack psql`.
type psqlOpts struct {
	file, stateDir, region string
	reader, help           bool
}

// splitPsqlArgs picks hastack's flags out of args; everything else, and
// everything after "--", is psql's, in order.
func splitPsqlArgs(args []string) (psqlOpts, []string, error) {
	var o psqlOpts
	rest := []string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		name, value, hasValue := strings.Cut(a, "=")
		if !strings.HasPrefix(a, "--") {
			name, hasValue = a, false
		}
		var target *string
		switch name {
		case "-f", "--file":
			target = &o.file
		case "--state-dir":
			target = &o.stateDir
		case "--region":
			target = &o.region
		case "--reader":
			if hasValue {
				return o, nil, fmt.Errorf("--reader takes no value")
			}
			o.reader = true
			continue
		case "-h", "--help":
			o.help = true
			continue
		default:
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			if i+1 >= len(args) || args[i+1] == "--" {
				return o, nil, fmt.Errorf("flag needs an argument: %s", name)
			}
			i++
			value = args[i]
		}
		*target = value
	}
	return o, rest, nil
}

// connParams are what psql needs to connect, the password apart.
type connParams struct {
	host, port, user, dbname, password, sslmode string
}

// parseDatabaseURL splits a postgres:// URL from the control API.
func parseDatabaseURL(raw string) (connParams, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.User == nil {
		return connParams{}, fmt.Errorf("the stack gave a database URL psql cannot use")
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return connParams{}, fmt.Errorf("the stack gave a database URL without a port")
	}
	pw, _ := u.User.Password()
	return connParams{host: host, port: port, user: u.User.Username(), dbname: strings.TrimPrefix(u.Path, "/"),
		password: pw, sslmode: u.Query().Get("sslmode")}, nil
}

// pgpassLine is a password file line for c (see libpq's "The Password
// File"), any database on that server: ':' and '\' are escaped.
func pgpassLine(c connParams) string {
	esc := strings.NewReplacer(`\`, `\\`, `:`, `\:`)
	return strings.Join([]string{esc.Replace(c.host), esc.Replace(c.port), "*", esc.Replace(c.user), esc.Replace(c.password)}, ":") + "\n"
}

// psqlEnv is env without the variables that choose a server or a
// password, plus those that choose c's.
func psqlEnv(env []string, c connParams, passfile string) []string {
	drop := map[string]bool{"PGHOST": true, "PGHOSTADDR": true, "PGPORT": true, "PGUSER": true, "PGDATABASE": true,
		"PGPASSWORD": true, "PGPASSFILE": true, "PGSERVICE": true, "PGSERVICEFILE": true, "PGSSLMODE": true}
	out := make([]string, 0, len(env)+6)
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			out = append(out, kv)
		}
	}
	out = append(out, "PGHOST="+c.host, "PGPORT="+c.port, "PGUSER="+c.user, "PGDATABASE="+c.dbname, "PGPASSFILE="+passfile)
	if c.sslmode != "" {
		out = append(out, "PGSSLMODE="+c.sslmode)
	}
	return out
}

// findPsql finds the psql client: on PATH, else beside the PostgreSQL
// server hastack runs.
func findPsql() (string, error) {
	if p, err := exec.LookPath("psql"); err == nil {
		return p, nil
	}
	if dir, err := rds.FindBinaries(); err == nil {
		if p := filepath.Join(dir, "psql"); isExecutable(p) {
			return p, nil
		}
	}
	return "", errors.New("psql is not installed; install it with: apt-get install -y postgresql-client")
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// runPsql runs psql on c with the terminal passed through and returns its
// exit status. The password is in a file only this user can read, deleted
// once psql exits.
func runPsql(ctx context.Context, g *globals, bin string, c connParams, args []string) error {
	dir, err := os.MkdirTemp("", "hastack-psql-")
	if err != nil {
		return fmt.Errorf("creating the password file: %w", err)
	}
	defer os.RemoveAll(dir)
	passfile := filepath.Join(dir, "pgpass")
	f, err := os.OpenFile(passfile, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("creating the password file: %w", err)
	}
	_, err = f.WriteString(pgpassLine(c))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing the password file: %w", err)
	}

	cmd := exec.Command(bin, args...)
	cmd.Env = psqlEnv(os.Environ(), c, passfile)
	return runClient(ctx, g, "psql", cmd)
}

// runClient runs a database client with the terminal passed through and
// returns its exit status. hastack outlives a Ctrl-C meant for the
// client, as a shell does for its foreground job, so that the caller
// always deletes the client's password file.
func runClient(ctx context.Context, g *globals, name string, cmd *exec.Cmd) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, g.stdout, g.stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for {
		select {
		case err := <-exited:
			var ee *exec.ExitError
			switch {
			case err == nil:
				return nil
			case errors.As(err, &ee):
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					return exitCode(128 + int(ws.Signal()))
				}
				return exitCode(ee.ExitCode())
			default:
				return fmt.Errorf("running %s: %w", name, err)
			}
		case s := <-sigs:
			// The terminal sends Ctrl-C and Ctrl-\ to the client itself;
			// a request to stop hastack is passed on.
			if s == syscall.SIGTERM || s == syscall.SIGHUP {
				_ = cmd.Process.Signal(s)
			}
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			ctx = context.Background()
		}
	}
}
