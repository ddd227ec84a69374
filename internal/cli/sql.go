package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/hastack/hastack/internal/dburl"
)

const sqlHelp = `Open the database's own client on the stack's writer endpoint (or a
reader endpoint): psql for PostgreSQL, mariadb for MySQL stacks.

The password never appears on a command line: the client reads it from a
private file (0600) that hastack deletes when the client exits. Every
argument that is not one of hastack's flags goes to the client, in order;
the client's own -f and -h go after "--".

Usage:
  hastack sql [-f STACK_FILE] [--state-dir DIR] [--reader] [--region R] [-- CLIENT_ARGS]

Examples:
  hastack sql
  hastack sql -c 'select 1'          (psql)
  hastack sql -e 'select 1'          (mariadb)
  hastack sql --reader --region us-west-2
`

func newSQL(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "sql [--reader] [--region R] [-- CLIENT_ARGS]",
		Short: "Open the database's client (psql or mariadb) on the writer (or reader) endpoint",
		// hastack's flags are picked out by hand: the rest belong to the client.
		DisableFlagParsing: true,
		RunE:               clientRunE(g, sqlHelp, runSQLClient),
	}
}

// runSQLClient runs the client that speaks raw's engine on it.
func runSQLClient(ctx context.Context, g *globals, raw string, args []string) error {
	if dburl.IsMySQL(raw) {
		conn, err := parseMySQLURL(raw)
		if err != nil {
			return err
		}
		bin, err := findMariaDBClient()
		if err != nil {
			return err
		}
		return runMariaDBClient(ctx, g, bin, conn, args)
	}
	return runPsqlOn(ctx, g, raw, args)
}

// parseMySQLURL splits a mysql:// URL from the control API.
func parseMySQLURL(raw string) (connParams, error) {
	cfg, err := dburl.MySQLConfig(raw, dburl.Timeouts{})
	if err != nil {
		return connParams{}, errors.New("the stack gave a database URL the mariadb client cannot use")
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return connParams{}, errors.New("the stack gave a database URL without a port")
	}
	return connParams{host: host, port: port, user: cfg.User, dbname: cfg.DBName, password: cfg.Passwd}, nil
}

// mysqlOptionFile is a client option file for c: the [client] group,
// each value quoted (a quote or a backslash inside escaped), over TCP.
func mysqlOptionFile(c connParams) string {
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	var b strings.Builder
	b.WriteString("[client]\n")
	for _, kv := range [][2]string{{"host", c.host}, {"port", c.port}, {"user", c.user}, {"password", c.password}, {"database", c.dbname}} {
		fmt.Fprintf(&b, "%s=\"%s\"\n", kv[0], esc.Replace(kv[1]))
	}
	b.WriteString("protocol=TCP\n")
	return b.String()
}

// mysqlEnv is env without the variables that choose a MySQL server or
// password.
func mysqlEnv(env []string) []string {
	drop := map[string]bool{"MYSQL_HOST": true, "MYSQL_TCP_PORT": true, "MYSQL_PWD": true, "MYSQL_UNIX_PORT": true}
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); !drop[k] {
			out = append(out, kv)
		}
	}
	return out
}

// findMariaDBClient finds the mariadb client (or the mysql one) on PATH.
func findMariaDBClient() (string, error) {
	for _, name := range []string{"mariadb", "mysql"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("the mariadb client is not installed; install it with: apt-get install -y mariadb-client")
}

// runMariaDBClient runs the mariadb client on c; its password is in an
// option file only this user can read, deleted once the client exits.
func runMariaDBClient(ctx context.Context, g *globals, bin string, c connParams, args []string) error {
	dir, err := os.MkdirTemp("", "hastack-sql-")
	if err != nil {
		return fmt.Errorf("creating the password file: %w", err)
	}
	defer os.RemoveAll(dir)
	optfile := filepath.Join(dir, "my.cnf")
	f, err := os.OpenFile(optfile, os.O_CREATE|os.O_EXCL|os.O_WRONLY|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("creating the password file: %w", err)
	}
	_, err = f.WriteString(mysqlOptionFile(c))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing the password file: %w", err)
	}
	// --defaults-extra-file must come first.
	cmd := exec.Command(bin, append([]string{"--defaults-extra-file=" + optfile}, args...)...)
	cmd.Env = mysqlEnv(os.Environ())
	return runClient(ctx, g, filepath.Base(bin), cmd)
}
