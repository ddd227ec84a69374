package webapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	// maxKeyBytes bounds keys as S3 does; PostgreSQL's index would refuse
	// keys of about 2.7 kB with an error, not a clear answer.
	maxKeyBytes   = 1024
	maxValueBytes = 64 << 10 // also the bound on any request body
	kvTimeout     = 5 * time.Second

	createTableSQL = `CREATE TABLE IF NOT EXISTS hastack_kv (
	key        text PRIMARY KEY,
	value      text NOT NULL,
	region     text NOT NULL,
	instance   text NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
)`
	upsertSQL = `INSERT INTO hastack_kv (key, value, region, instance, updated_at)
VALUES ($1, $2, $3, $4, now())
ON CONFLICT (key) DO UPDATE SET
	value = EXCLUDED.value, region = EXCLUDED.region,
	instance = EXCLUDED.instance, updated_at = EXCLUDED.updated_at`
	selectSQL = `SELECT value FROM hastack_kv WHERE key = $1`
)

// PostgreSQL error codes the handlers tell apart.
const (
	codeUniqueViolation = "23505"
	codeDuplicateTable  = "42P07"
	// codeDuplicateObject: the table's row type was created by a racing
	// CREATE TABLE IF NOT EXISTS a moment earlier.
	codeDuplicateObject = "42710"
	codeUndefinedTable  = "42P01"
	codeReadOnlyTx      = "25006"
)

// badKey says what is wrong with a key, or "" when it is fine.
func badKey(key string) string {
	switch {
	case len(key) > maxKeyBytes:
		return fmt.Sprintf("key longer than %d bytes", maxKeyBytes)
	case !isText(key):
		return "key must be UTF-8 text without NUL bytes"
	}
	return ""
}

// putKV stores the request body under the key through the writer.
func (a *app) putKV(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if msg := badKey(key); msg != "" {
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxValueBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, fmt.Sprintf("value larger than %d bytes", maxValueBytes), http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(w, "reading the value failed", http.StatusBadRequest)
		return
	case !isText(string(body)):
		http.Error(w, "value must be UTF-8 text without NUL bytes", http.StatusBadRequest)
		return
	case a.writer == nil:
		http.Error(w, "no database configured", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), kvTimeout)
	defer cancel()
	err = a.writer.do(ctx, func(c *pgx.Conn) error { return a.upsert(ctx, c, key, string(body)) })
	if err != nil {
		a.dbFailure(w, a.writer, "writing key "+key, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(struct {
		Key      string `json:"key"`
		Region   string `json:"region"`
		Instance string `json:"instance"`
	}{key, a.region, a.instance})
}

// getKV returns the key's value read through the reader.
func (a *app) getKV(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if msg := badKey(key); msg != "" {
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	if a.reader == nil {
		http.Error(w, "no database configured", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), kvTimeout)
	defer cancel()
	var value string
	err := a.reader.do(ctx, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, selectSQL, key).Scan(&value)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows) || hasCode(err, codeUndefinedTable):
		http.Error(w, "no such key", http.StatusNotFound)
	case err != nil:
		a.dbFailure(w, a.reader, "reading key "+key, err)
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		io.WriteString(w, value)
	}
}

// upsert writes the key, creating the table on first need. A table that
// vanished since (a new database) is created again.
func (a *app) upsert(ctx context.Context, c *pgx.Conn, key, value string) error {
	for attempt := 0; ; attempt++ {
		if err := a.ensureTable(ctx, c); err != nil {
			return err
		}
		_, err := c.Exec(ctx, upsertSQL, key, value, a.region, a.instance)
		if hasCode(err, codeUndefinedTable) && attempt == 0 {
			a.tableReady.Store(false)
			continue
		}
		return err
	}
}

// ensureTable creates hastack_kv if needed. Instances starting together
// race on CREATE TABLE IF NOT EXISTS, which can then fail with a unique or
// duplicate-table violation; trying again sees the winner's table.
func (a *app) ensureTable(ctx context.Context, c *pgx.Conn) error {
	if a.tableReady.Load() {
		return nil
	}
	for attempt := 0; ; attempt++ {
		_, err := c.Exec(ctx, createTableSQL)
		if err == nil {
			a.tableReady.Store(true)
			return nil
		}
		if attempt < 3 && hasCode(err, codeUniqueViolation, codeDuplicateTable, codeDuplicateObject) {
			continue
		}
		return fmt.Errorf("creating table hastack_kv: %w", err)
	}
}

// dbFailure answers and logs a failed database operation: 503 when the
// database cannot be reached or cannot take writes, 500 otherwise.
func (a *app) dbFailure(w http.ResponseWriter, d *db, step string, err error) {
	status, msg := http.StatusServiceUnavailable, "database unavailable"
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && !unavailable(pgErr) {
		status, msg = http.StatusInternalServerError, "database error"
	}
	a.log.Error(step+" failed", "status", status, "err", d.redact(err))
	http.Error(w, msg+": "+d.redactString(cause(err)), status)
}

// unavailable reports whether a server error means the server cannot
// serve now: connection exceptions (08), operator intervention such as
// shutdown or startup (57), or a read-only server (after a failover).
func unavailable(e *pgconn.PgError) bool {
	return strings.HasPrefix(e.Code, "08") || strings.HasPrefix(e.Code, "57") || e.Code == codeReadOnlyTx
}

func hasCode(err error, codes ...string) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	for _, c := range codes {
		if pgErr.Code == c {
			return true
		}
	}
	return false
}

func isText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
