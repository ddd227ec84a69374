package cli

import (
	"bytes"
	"context"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hastack/hastack/internal/mariadb/mariadbtest"
	"github.com/hastack/hastack/internal/testenv"
)

func TestMySQLConnection(t *testing.T) {
	c, err := parseMySQLURL("mysql://app:p%22w%5Cd@127.1.11.6:3306/appdb")
	if err != nil {
		t.Fatal(err)
	}
	want := connParams{host: "127.1.11.6", port: "3306", user: "app", dbname: "appdb", password: `p"w\d`}
	if c != want {
		t.Fatalf("parseMySQLURL = %+v, want %+v", c, want)
	}
	wantFile := "[client]\nhost=\"127.1.11.6\"\nport=\"3306\"\nuser=\"app\"\npassword=\"p\\\"w\\\\d\"\ndatabase=\"appdb\"\nprotocol=TCP\n"
	if got := mysqlOptionFile(c); got != wantFile {
		t.Errorf("option file\n%s\nwant\n%s", got, wantFile)
	}
	env := mysqlEnv([]string{"PATH=/bin", "MYSQL_PWD=old", "MYSQL_HOST=elsewhere", "PAGER=less"})
	if want := []string{"PATH=/bin", "PAGER=less"}; !reflect.DeepEqual(env, want) {
		t.Errorf("client environment %q, want %q", env, want)
	}
	if _, err := parseMySQLURL("mysql://app:secret@127.1.11.6:3306/appdb?x=1"); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("a URL with parameters: %v", err)
	}
}

// TestSQLOnMariaDB: `hastack sql` on a mysql:// URL runs the mariadb
// client, logged in through its private option file (a password with a
// quote and a backslash included), with the client's own arguments, and
// removes the file once the client exits.
func TestSQLOnMariaDB(t *testing.T) {
	testenv.RequireMariaDB(t)
	bin, err := findMariaDBClient()
	testenv.Require(t, testenv.EnvMariaDB, err)
	raw := mariadbtest.Start(t, netip.MustParseAddrPort("127.0.73.1:3306"))
	db := mariadbtest.Open(t, raw)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const password = `p"w\d 1`
	// SET PASSWORD cannot be prepared: the literal is password, escaped.
	if _, err := db.ExecContext(ctx, `SET PASSWORD = PASSWORD('p"w\\d 1')`); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password)

	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var stdout, stderr bytes.Buffer
	g := &globals{stdout: &stdout, stderr: &stderr}
	if err := runSQLClient(ctx, g, u.String(), []string{"-N", "-e", "SELECT CONCAT(CURRENT_USER(), ' ', 6*7)"}); err != nil {
		t.Fatalf("%s: %v; stderr: %s", filepath.Base(bin), err, stderr.String())
	}
	if got := strings.TrimSpace(stdout.String()); !strings.HasSuffix(got, " 42") || !strings.HasPrefix(got, u.User.Username()+"@") {
		t.Errorf("the client printed %q, want the application user and 42", got)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("left behind in the temporary directory: %v", left)
	}
	if err := runSQLClient(ctx, g, u.String(), []string{"-e", "SELECT nosuchcolumn"}); err == nil {
		t.Error("a failing statement: no error")
	} else if _, ok := err.(exitCode); !ok {
		t.Errorf("a failing statement: %v, want the client's exit status", err)
	}
}
