package cli

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitPsqlArgs(t *testing.T) {
	for _, tt := range []struct {
		args []string
		opts psqlOpts
		rest []string
		err  string
	}{
		{nil, psqlOpts{}, []string{}, ""},
		{[]string{"-c", "select 1"}, psqlOpts{}, []string{"-c", "select 1"}, ""},
		{[]string{"-f", "s.hcl", "-c", "select 1", "--state-dir", "/st"}, psqlOpts{file: "s.hcl", stateDir: "/st"}, []string{"-c", "select 1"}, ""},
		{[]string{"--file=s.hcl", "--reader", "--region=us-west-2", "-At"}, psqlOpts{file: "s.hcl", reader: true, region: "us-west-2"}, []string{"-At"}, ""},
		{[]string{"--region", "us-west-2", "--", "-f", "q.sql", "--reader"}, psqlOpts{region: "us-west-2"}, []string{"-f", "q.sql", "--reader"}, ""},
		{[]string{"-c", "select 1", "--", "-h"}, psqlOpts{}, []string{"-c", "select 1", "-h"}, ""},
		{[]string{"--help"}, psqlOpts{help: true}, []string{}, ""},
		{[]string{"--region"}, psqlOpts{}, nil, "flag needs an argument: --region"},
		{[]string{"-f", "--"}, psqlOpts{}, nil, "flag needs an argument: -f"},
		{[]string{"--reader=yes"}, psqlOpts{}, nil, "--reader takes no value"},
	} {
		opts, rest, err := splitPsqlArgs(tt.args)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%q: error %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || opts != tt.opts || !reflect.DeepEqual(rest, tt.rest) {
			t.Errorf("%q: %+v %q %v; want %+v %q", tt.args, opts, rest, err, tt.opts, tt.rest)
		}
	}
}

func TestPsqlConnection(t *testing.T) {
	c, err := parseDatabaseURL("postgres://hastack:p%3Aw%5Cd@127.1.11.6:5432/app?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	want := connParams{host: "127.1.11.6", port: "5432", user: "hastack", dbname: "app", password: `p:w\d`, sslmode: "disable"}
	if c != want {
		t.Fatalf("parseDatabaseURL = %+v, want %+v", c, want)
	}
	if got := pgpassLine(c); got != `127.1.11.6:5432:*:hastack:p\:w\\d`+"\n" {
		t.Errorf("pgpass line %q", got)
	}
	env := psqlEnv([]string{"PATH=/bin", "PGPASSWORD=old", "PGHOST=elsewhere", "PAGER=less"}, c, "/tmp/x/pgpass")
	wantEnv := []string{"PATH=/bin", "PAGER=less", "PGHOST=127.1.11.6", "PGPORT=5432", "PGUSER=hastack", "PGDATABASE=app", "PGPASSFILE=/tmp/x/pgpass", "PGSSLMODE=disable"}
	if !reflect.DeepEqual(env, wantEnv) {
		t.Errorf("psql environment %q, want %q", env, wantEnv)
	}
	for _, kv := range env {
		if strings.Contains(kv, c.password) {
			t.Errorf("the password is in the environment: %q", kv)
		}
	}
	for _, bad := range []string{"mysql://u:p@h:1/d", "postgres://h:1/d", "postgres://u:p@h/d", "::"} {
		if _, err := parseDatabaseURL(bad); err == nil {
			t.Errorf("parseDatabaseURL(%q) accepted it", bad)
		}
	}
}

func TestWithoutPassword(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://hastack:s3cr%2Ft@127.1.11.6:5432/app?sslmode=disable": "postgres://hastack@127.1.11.6:5432/app?sslmode=disable",
		"postgres://hastack@127.1.11.6:5432/app":                          "postgres://hastack@127.1.11.6:5432/app",
	} {
		if got := withoutPassword(in); got != want {
			t.Errorf("withoutPassword(%q) = %q, want %q", in, got, want)
		}
	}
}
