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
)

const (
	// maxKeyBytes bounds keys as S3 does; PostgreSQL's index would refuse
	// keys of about 2.7 kB with an error, not a clear answer.
	maxKeyBytes   = 1024
	maxValueBytes = 64 << 10 // also the bound on any request body
	kvTimeout     = 5 * time.Second
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
	err = a.writer.put(ctx, kvRow{key: key, value: string(body), region: a.region, instance: a.instance})
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
	value, found, err := a.reader.get(ctx, key)
	switch {
	case err != nil:
		a.dbFailure(w, a.reader, "reading key "+key, err)
	case !found:
		http.Error(w, "no such key", http.StatusNotFound)
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		io.WriteString(w, value)
	}
}

// dbFailure answers and logs a failed database operation: 503 when the
// database cannot be reached or cannot take writes, 500 otherwise.
func (a *app) dbFailure(w http.ResponseWriter, d *db, step string, err error) {
	status, msg := http.StatusServiceUnavailable, "database unavailable"
	if !d.unavailable(err) {
		status, msg = http.StatusInternalServerError, "database error"
	}
	a.log.Error(step+" failed", "status", status, "err", d.redact(err))
	http.Error(w, msg+": "+d.cause(err), status)
}

func isText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
