package rds

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// checkMasterUser fails unless the master user, as applications log in
// through url, is no superuser and cannot reach the server's OS account,
// yet can use its database as its owner.
func checkMasterUser(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var super, createRole, createDB, replication, bypassRLS, ownsDB bool
	err = conn.QueryRow(ctx, `SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls,
		(SELECT datdba = r.oid FROM pg_database WHERE datname = current_database())
		FROM pg_roles r WHERE rolname = current_user`).Scan(&super, &createRole, &createDB, &replication, &bypassRLS, &ownsDB)
	if err != nil {
		t.Fatal(err)
	}
	if super || createRole || createDB || replication || bypassRLS || !ownsDB {
		t.Errorf("master user: superuser %v, createrole %v, createdb %v, replication %v, bypassrls %v, owns its database %v; want only the database",
			super, createRole, createDB, replication, bypassRLS, ownsDB)
	}
	for _, role := range serverRoles {
		var member bool
		if err := conn.QueryRow(ctx, "SELECT pg_has_role(current_user, $1, 'MEMBER')", role).Scan(&member); err != nil || member {
			t.Errorf("master user is a member of %s (%v)", role, err)
		}
	}
	for _, sql := range []string{
		"COPY (SELECT 1) TO PROGRAM 'true'",
		"SELECT pg_read_file('pg_hba.conf')",
		"ALTER ROLE current_user SUPERUSER",
		"GRANT pg_execute_server_program TO current_user",
	} {
		_, err := conn.Exec(ctx, sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" { // insufficient_privilege
			t.Errorf("%s as the master user: %v, want permission denied", sql, err)
		}
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS owned (id int PRIMARY KEY); INSERT INTO owned VALUES (1) ON CONFLICT DO NOTHING"); err != nil {
		t.Errorf("the master user cannot create a table in its database: %v", err)
	}
}

// checkNoTrust fails when a node's pg_hba.conf lets anyone in without a
// password.
func checkNoTrust(t *testing.T, c *Cluster) {
	t.Helper()
	for _, n := range c.nodes {
		hba, err := n.layout.files(c.acct).read(filepath.Join(dataName, "pg_hba.conf"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(hba))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if !strings.HasPrefix(line, "#") && strings.Contains(line, "trust") {
				t.Errorf("pg_hba.conf of %s: %q", n.cfg.Name, line)
			}
		}
	}
}

// checkRoles fails unless applications get a master user that is no
// superuser, hastack works as its own superuser (the bootstrap user),
// whose password only hastack's user can read, and no one logs in
// without a password, not even over the Unix socket.
func checkRoles(t *testing.T, ctx context.Context, c *Cluster) {
	t.Helper()
	checkMasterUser(t, ctx, c.WriterURL(""))
	checkNoTrust(t, c)

	conn, err := c.connect(ctx, c.byName[nodeA], 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var bootstrap string
	if err := conn.QueryRow(ctx, "SELECT rolname FROM pg_roles WHERE oid = 10").Scan(&bootstrap); err != nil || bootstrap != superUser {
		t.Errorf("bootstrap superuser %q (%v), want %s", bootstrap, err, superUser)
	}
	fi, err := os.Stat(adminPasswordPath(c.cfg.StateDir))
	if err != nil || fi.Mode().Perm() != 0o600 || !(account{uid: uint32(os.Geteuid())}).owns(fi) {
		t.Errorf("superuser password file: %v, %v; want mode 0600, owned by hastack's user", fi, err)
	}

	// Not even over the Unix socket does anyone get in without a password.
	n := c.byName[nodeA]
	for _, user := range []string{superUser, c.cfg.Database.Username} {
		cfg, err := n.localConfig(user, "", "postgres")
		if err != nil {
			t.Fatal(err)
		}
		if conn, err := pgx.ConnectConfig(ctx, cfg); err == nil {
			conn.Close(ctx)
			t.Errorf("%s logged in over the socket without a password", user)
		}
	}
}

// legacyPrimary makes the primary's data as an earlier hastack did: the
// master user is the cluster's bootstrap superuser and the socket
// trusts everyone; the application has a table, a sequence, a view, a
// function and a type in it.
func legacyPrimary(t *testing.T, ctx context.Context, c *Cluster) {
	t.Helper()
	n := c.nodes[0]
	user := c.cfg.Database.Username
	if err := prepareDirs(&n.layout, c.acct, n.port); err != nil {
		t.Fatal(err)
	}
	files := n.layout.files(c.acct)
	if err := files.write(".pw", []byte(c.password+"\n")); err != nil {
		t.Fatal(err)
	}
	err := c.runTool(ctx, n, c.tool("initdb"), "-D", n.layout.dataDir, "-U", user, "--pwfile", n.layout.path(".pw"),
		"--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C")
	if err != nil {
		t.Fatal(err)
	}
	if err := writeConfig(n.layout, c.acct, c.serverConf(n, c.snapshot())); err != nil {
		t.Fatal(err)
	}
	legacyHBA := hbaHeader + " at every start; edits are lost.\nlocal all all trust\nhost all all 127.0.0.0/8 scram-sha-256\n"
	if err := files.write(filepath.Join(dataName, "pg_hba.conf"), []byte(legacyHBA)); err != nil {
		t.Fatal(err)
	}
	proc, err := startPostmaster(c.binDir, n.layout, c.acct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer proc.stop(context.WithoutCancel(ctx), n.layout.dataDir)
	var conn *pgx.Conn
	waitFor(t, "the old-style server", eventually, func() bool {
		conn, err = n.localConn(ctx, user, "", "postgres")
		return err == nil
	})
	if _, err := conn.Exec(ctx, "CREATE DATABASE app"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	app, err := n.localConn(ctx, user, "", "app")
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close(ctx)
	if _, err := app.Exec(ctx, `CREATE TABLE kv (k text PRIMARY KEY, v text, id serial);
		INSERT INTO kv (k, v) VALUES ('kept', 'from before');
		CREATE SEQUENCE counter; CREATE VIEW kv_keys AS SELECT k FROM kv;
		CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS 'SELECT 42';
		CREATE TYPE mood AS ENUM ('ok', 'not ok'); CREATE SCHEMA extra; CREATE TABLE extra.t (x int)`); err != nil {
		t.Fatal(err)
	}
	if err := proc.stop(ctx, n.layout.dataDir); err != nil {
		t.Fatal(err)
	}
}

// A cluster made by an earlier hastack, whose master user was its
// superuser, is taken over at start: the master user loses its
// privileges and keeps its data and objects.
func TestOldClusterMasterUserDemoted(t *testing.T) {
	requirePostgres(t)
	dir := stateDir(t)
	c := newCluster(t, testConfig(dir, "127.0.99.13", nil))
	ctx := startCtx(t)
	legacyPrimary(t, ctx, c)
	for round := range 2 { // the take-over, then a start of the result
		if err := c.Start(ctx); err != nil {
			t.Fatalf("start %d: %v", round+1, err)
		}
		url := c.WriterURL("")
		checkMasterUser(t, ctx, url)
		checkNoTrust(t, c)
		if got := queryString(t, ctx, url, "SELECT v FROM kv WHERE k = 'kept'"); got != "from before" {
			t.Errorf("start %d: the application's row reads %q", round+1, got)
		}
		for _, sql := range []string{
			"INSERT INTO kv (k, v) VALUES ('new" + string(rune('0'+round)) + "', 'x')",
			"ALTER TABLE kv ADD COLUMN IF NOT EXISTS extra int",
			"SELECT nextval('counter')", "SELECT count(*) FROM kv_keys", "SELECT answer()",
			"ALTER TYPE mood ADD VALUE IF NOT EXISTS 'fine'", "INSERT INTO extra.t VALUES (1)",
			"CREATE OR REPLACE VIEW kv_keys AS SELECT k FROM kv",
		} {
			if err := tryExec(ctx, url, sql); err != nil {
				t.Errorf("start %d: %s as the master user: %v", round+1, sql, err)
			}
		}
		conn, err := c.connect(ctx, c.nodes[0], 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var bootstrap string
		var leftover bool
		err = conn.QueryRow(ctx, "SELECT (SELECT rolname FROM pg_roles WHERE oid = 10), EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)",
			migrationUser).Scan(&bootstrap, &leftover)
		conn.Close(ctx)
		if err != nil || bootstrap != superUser || leftover {
			t.Errorf("start %d: bootstrap user %q, role %s left %v (%v); want %s and none left", round+1, bootstrap, migrationUser, leftover, err, superUser)
		}
		if err := c.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
