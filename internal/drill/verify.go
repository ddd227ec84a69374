package drill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// presentKeys reads back, from the database the writer endpoint leads to
// now (the new primary after a failover), which keys of acknowledged writes
// are there. VerifyWrites judges the rest.
func (d *driver) presentKeys(ctx context.Context) (map[string]bool, error) {
	var keys []string
	for _, s := range d.load.Samples() {
		if s.Kind == Write && s.OK {
			keys = append(keys, s.Key)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	url, err := d.ctl.DatabaseURL(ctx, false, "")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	// A read may be retried freely: a session the endpoint closes (its
	// node restarting or replaced, a Multi-AZ failover meanwhile) is no
	// answer about the writes.
	retry := time.NewTicker(250 * time.Millisecond)
	defer retry.Stop()
	for {
		present, err := readKeys(ctx, url, keys)
		if err == nil {
			return present, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-retry.C:
		}
	}
}

// verifyTimeout bounds the reading back of the acknowledged writes.
const verifyTimeout = 30 * time.Second

// readKeys is which of keys one session through url finds in the table.
func readKeys(ctx context.Context, url string, keys []string) (map[string]bool, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connecting to the writer endpoint: %w", redactURL(err, url))
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT key FROM hastack_kv WHERE key = ANY($1)`, keys)
	if err != nil {
		return nil, fmt.Errorf("reading the written keys back: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading the written keys back: %w", err)
	}
	present := make(map[string]bool, len(found))
	for _, k := range found {
		present[k] = true
	}
	return present, nil
}

// redactURL keeps a connection error from carrying the URL's password.
func redactURL(err error, url string) error {
	return errors.New(strings.ReplaceAll(err.Error(), url, "the writer endpoint"))
}
