package drill

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hastack/hastack/internal/dburl"
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
	dbURL, err := d.ctl.DatabaseURL(ctx, false, "")
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
		present, err := readKeys(ctx, dbURL, keys)
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
	eng, err := newEngineReader(url)
	if err != nil {
		return nil, fmt.Errorf("reading the database URL: %w", err)
	}
	host, port, err := endpointOf(url)
	if err != nil {
		return nil, err
	}
	c, err := eng.connect(ctx, host, port)
	if err != nil {
		return nil, fmt.Errorf("connecting to the writer endpoint: %w", redactURL(err, url))
	}
	defer c.close()
	present, err := presentKeysIn(ctx, eng, c, keys)
	if err != nil {
		return nil, fmt.Errorf("reading the written keys back: %w", err)
	}
	return present, nil
}

// endpointOf is the host and port a database URL leads to.
func endpointOf(rawURL string) (string, uint16, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", 0, errors.New("the database URL is malformed")
	}
	port := u.Port()
	if port == "" {
		port = map[bool]string{true: "3306", false: "5432"}[dburl.IsMySQL(rawURL)]
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("the database URL's port %q is not a number", port)
	}
	return u.Hostname(), uint16(p), nil
}

// redactURL keeps a connection error from carrying the URL's password.
func redactURL(err error, url string) error {
	return errors.New(strings.ReplaceAll(err.Error(), url, "the writer endpoint"))
}
