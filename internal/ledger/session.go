package ledger

import (
	"context"

	"github.com/hastack/hastack/internal/dburl"
)

// session is one connection to the database, PostgreSQL's or MySQL's: all
// the ledger needs of an engine. The run loop, pacing and accounting know
// nothing else of it.
type session interface {
	// createTable creates the ledger's table if it is missing.
	createTable(ctx context.Context, table string) error
	// insert writes one row, committed on its own: a nil error means the
	// commit returned.
	insert(ctx context.Context, table, run string, seq int64, writer int) error
	// outcome tells what an error from insert means for its row.
	outcome(err error) Outcome
	// broken reports whether an error leaves the session unusable.
	broken(err error) bool
	// seqs returns the sequence numbers of run's rows; a missing table
	// has none.
	seqs(ctx context.Context, table, run string) (map[int64]bool, error)
	close()
}

// checkURL tells whether url is one the ledger can write to.
func checkURL(url string) error {
	if dburl.IsMySQL(url) {
		_, err := dburl.MySQLConfig(url, dburl.Timeouts{})
		return err
	}
	return checkPostgresURL(url)
}

// connect opens a session to url, the engine chosen by its scheme.
func (l *Ledger) connect(ctx context.Context, url string) (session, error) {
	if dburl.IsMySQL(url) {
		return connectMySQL(ctx, url, l.cfg.Timeout)
	}
	return connectPostgres(ctx, url, l.cfg.Timeout)
}
