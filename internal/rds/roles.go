package rds

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The roles of a cluster, as on RDS: hastack's own superuser
// (superUser, the bootstrap user) for its work, the replication role,
// and the master user (Database.Username) that applications log in as,
// which owns the application database and nothing more.

// appRoleAttrs are the master user's attributes. No CREATEROLE: with it
// a role may grant itself the predefined roles below.
const appRoleAttrs = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"

// serverRoles are the predefined roles that reach the server's OS
// account (run programs, read and write its files); the master user is
// a member of none.
var serverRoles = []string{"pg_execute_server_program", "pg_read_server_files", "pg_write_server_files"}

// migrationUser is a superuser that exists only while the bootstrap user
// of a cluster made by an earlier hastack, which was the master user
// itself, is renamed to superUser.
const migrationUser = "hastack_migration"

// bootstrapOID is the object id of a cluster's bootstrap superuser.
const bootstrapOID = 10

// authFailed reports a login refused for the user or its password.
func authFailed(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000")
}

// setRolePassword creates or alters role with attrs and a SCRAM verifier
// of password computed here, so the password never appears in SQL the
// server could log.
func setRolePassword(ctx context.Context, conn *pgx.Conn, role, attrs, password string) error {
	verifier, err := scramVerifier(password)
	if err != nil {
		return fmt.Errorf("setting the password of %s: %w", role, err)
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role).Scan(&exists); err != nil {
		return fmt.Errorf("looking up role %s: %w", role, err)
	}
	verb := "ALTER"
	if !exists {
		verb = "CREATE"
	}
	sql := fmt.Sprintf("%s ROLE %s WITH %s PASSWORD '%s'", verb, pgx.Identifier{role}.Sanitize(), attrs, verifier)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("setting up role %s: %w", role, err)
	}
	return nil
}

// ensureSuperUser sets hastack's superuser's password and drops the
// role a migration left behind.
func ensureSuperUser(ctx context.Context, conn *pgx.Conn, password string) error {
	if err := setRolePassword(ctx, conn, superUser, "SUPERUSER LOGIN", password); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{migrationUser}.Sanitize()); err != nil {
		return fmt.Errorf("dropping role %s: %w", migrationUser, err)
	}
	return nil
}

// ensureAppRole makes the master user what it must be: a login with the
// master password and no privilege beyond its database. An earlier
// hastack made it a superuser; that is taken away here.
func ensureAppRole(ctx context.Context, conn *pgx.Conn, user, password string) error {
	if err := setRolePassword(ctx, conn, user, appRoleAttrs, password); err != nil {
		return err
	}
	rows, err := conn.Query(ctx, `SELECT r.rolname FROM pg_auth_members m
	JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
	WHERE u.rolname = $1 AND r.rolname = ANY($2)`, user, serverRoles)
	if err != nil {
		return fmt.Errorf("listing the roles of %s: %w", user, err)
	}
	granted, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("listing the roles of %s: %w", user, err)
	}
	for _, r := range granted {
		if _, err := conn.Exec(ctx, fmt.Sprintf("REVOKE %s FROM %s", pgx.Identifier{r}.Sanitize(), pgx.Identifier{user}.Sanitize())); err != nil {
			return fmt.Errorf("revoking %s from %s: %w", r, user, err)
		}
	}
	return nil
}

// ensureAppDatabase creates the application database owned by the
// master user, or gives the existing one to it.
func ensureAppDatabase(ctx context.Context, conn *pgx.Conn, name, owner string) error {
	var current string
	err := conn.QueryRow(ctx, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = $1", name).Scan(&current)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		_, err = conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s OWNER %s", pgx.Identifier{name}.Sanitize(), pgx.Identifier{owner}.Sanitize()))
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
			return ensureAppDatabase(ctx, conn, name, owner)
		}
		if err != nil {
			return fmt.Errorf("creating database %s: %w", name, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("looking up database %s: %w", name, err)
	case current != owner:
		if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s OWNER TO %s", pgx.Identifier{name}.Sanitize(), pgx.Identifier{owner}.Sanitize())); err != nil {
			return fmt.Errorf("giving database %s to %s: %w", name, owner, err)
		}
	}
	return nil
}

// handOverSQL gives the application's objects that the bootstrap user
// owns (an earlier hastack's master user was the bootstrap user) to the
// master user: schemas, tables, views, sequences, functions and types
// outside the system schemas. Sequences owned by a column and
// extensions' objects follow their owners. %s is the master user as a
// string literal.
const handOverSQL = `DO $hastack$
DECLARE
	app text := %s;
	r record;
BEGIN
	FOR r IN SELECT n.nspname FROM pg_namespace n
		WHERE n.nspowner = 10 AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
	LOOP
		EXECUTE format('ALTER SCHEMA %%I OWNER TO %%I', r.nspname, app);
	END LOOP;
	FOR r IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relowner = 10 AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
		AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
		AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
			AND (d.deptype = 'e' OR (d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))))
	LOOP
		EXECUTE format('ALTER %%s %%s OWNER TO %%I',
			CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
			r.name, app);
	END LOOP;
	FOR r IN SELECT p.oid::regprocedure AS name, p.prokind FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE p.proowner = 10 AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
		AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
	LOOP
		EXECUTE format('ALTER %%s %%s OWNER TO %%I', CASE r.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, r.name, app);
	END LOOP;
	FOR r IN SELECT t.oid::regtype AS name, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		WHERE t.typowner = 10 AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%%'
		AND (t.typtype IN ('d', 'e', 'r') OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
		AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
	LOOP
		EXECUTE format('ALTER %%s %%s OWNER TO %%I', CASE r.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, r.name, app);
	END LOOP;
END
$hastack$`

// handOver runs handOverSQL on conn, a superuser session on the
// application database.
func handOver(ctx context.Context, conn *pgx.Conn, user string) error {
	literal := "'" + strings.ReplaceAll(user, "'", "''") + "'"
	if _, err := conn.Exec(ctx, fmt.Sprintf(handOverSQL, literal)); err != nil {
		return fmt.Errorf("giving the application's objects to %s: %w", user, err)
	}
	return nil
}

// legacyBootstrap reports whether conn's user is the cluster's bootstrap
// superuser, as the master user was in clusters of an earlier hastack.
func legacyBootstrap(ctx context.Context, conn *pgx.Conn) (bootstrap, super bool, err error) {
	err = conn.QueryRow(ctx, "SELECT oid = $1, rolsuper FROM pg_roles WHERE rolname = current_user", bootstrapOID).Scan(&bootstrap, &super)
	if err != nil {
		return false, false, fmt.Errorf("looking up the master user: %w", err)
	}
	return bootstrap, super, nil
}
