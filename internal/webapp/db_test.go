package webapp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestUnavailableAndCause: both engines answer 503 when the database
// cannot serve now and 500 when it refused the request, with the same
// short reasons.
func TestUnavailableAndCause(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	pg := &db{database: &postgres{}, password: "s3cret"}
	my := &db{database: &mysqlDB{}, password: "s3cret"}
	tests := []struct {
		name        string
		d           *db
		err         error
		unavailable bool
		cause       string
	}{
		{"postgres: refused connection", pg, refused, true, "dial: connection refused"},
		{"mysql: refused connection", my, refused, true, "dial: connection refused"},
		{"postgres: timed out", pg, context.DeadlineExceeded, true, "timed out"},
		{"mysql: timed out", my, fmt.Errorf("query: %w", context.DeadlineExceeded), true, "timed out"},
		{"mysql: broken connection", my, mysql.ErrInvalidConn, true, "connection failed"},
		{"postgres: read-only", pg, &pgconn.PgError{Code: "25006", Message: "read-only transaction"}, true, "read-only transaction"},
		{"mysql: read-only", my, &mysql.MySQLError{Number: 1290, Message: "running with --read-only"}, true, "running with --read-only"},
		{"postgres: shutting down", pg, &pgconn.PgError{Code: "57P01", Message: "terminating"}, true, "terminating"},
		{"mysql: shutting down", my, &mysql.MySQLError{Number: 1053, Message: "shutdown in progress"}, true, "shutdown in progress"},
		{"postgres: refused statement", pg, &pgconn.PgError{Code: "42601", Message: "syntax error"}, false, "syntax error"},
		{"mysql: refused statement", my, &mysql.MySQLError{Number: 1064, Message: "syntax error"}, false, "syntax error"},
		{"mysql: access denied", my, &mysql.MySQLError{Number: 1045, Message: "Access denied for s3cret"}, false, "Access denied for xxxxx"},
		{"mysql: other", my, errors.New("odd"), true, "connection failed"},
	}
	for _, tt := range tests {
		if got := tt.d.unavailable(tt.err); got != tt.unavailable {
			t.Errorf("%s: unavailable = %v, want %v", tt.name, got, tt.unavailable)
		}
		if got := tt.d.cause(tt.err); got != tt.cause {
			t.Errorf("%s: cause = %q, want %q", tt.name, got, tt.cause)
		}
	}
}
