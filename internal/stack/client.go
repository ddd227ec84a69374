package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/hastack/hastack/internal/rds"
)

// Client talks to a running stack's control socket.
type Client struct {
	paths Paths
	http  *http.Client
}

// ErrNotRunning says no stack runs in the state directory.
var ErrNotRunning = errors.New("stack is not running")

// Dial connects to the stack whose state lives in dir. A state directory
// another user could tamper with is refused, as up refuses it.
func Dial(dir string) (*Client, error) {
	p := Paths{Dir: dir}
	if err := checkOwnDir(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotRunning
	} else if err != nil {
		return nil, err
	}
	if !p.Running() {
		return nil, ErrNotRunning
	}
	sock := p.Socket()
	return &Client{paths: p, http: &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}}, nil
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://stack"+path, rd)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("talking to the stack: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e apiError
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("the stack answered %s", resp.Status)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// Status fetches the stack's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
	return s, err
}

// Fail injects a fault of kind on name with its defaults (a region
// fault isolates the region); Inject takes every setting.
func (c *Client) Fail(ctx context.Context, kind, name string) error {
	return c.Inject(ctx, Fault{Kind: kind, Name: name})
}

// Recover undoes the fault of kind on name; Undo takes a partition's or
// a network fault's second domain.
func (c *Client) Recover(ctx context.Context, kind, name string) error {
	return c.Undo(ctx, Fault{Kind: kind, Name: name})
}

// Inject injects a fault and returns once it is in place.
func (c *Client) Inject(ctx context.Context, f Fault) error {
	return c.do(ctx, http.MethodPost, "/v1/fail", f, nil)
}

// Undo undoes a fault in place: the one of f's kind on f.Name (and
// f.Other, for a partition or a network fault between two domains).
func (c *Client) Undo(ctx context.Context, f Fault) error {
	return c.do(ctx, http.MethodPost, "/v1/recover", f, nil)
}

// Down asks the stack to stop and waits until it has released its lock.
func (c *Client) Down(ctx context.Context) error {
	if err := c.do(ctx, http.MethodPost, "/v1/down", nil, nil); err != nil {
		// A stack that is exiting on its own (killed, its last threads
		// still closing its files) may take the connection and drop it:
		// once its lock is released, there is nothing left to stop.
		if c.stoppedWithin(ctx, goneWait) {
			return ErrNotRunning
		}
		return err
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for c.paths.Running() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("the stack did not stop in time: %w", ctx.Err())
		case <-tick.C:
		}
	}
	return nil
}

// Events fetches the stack's whole event log.
func (c *Client) Events(ctx context.Context) ([]Event, error) {
	var events []Event
	err := c.do(ctx, http.MethodGet, "/v1/events", nil, &events)
	return events, err
}

// DatabaseURL fetches a postgres:// URL with credentials for the writer
// endpoint, or the reader endpoint of region ("" for the primary region).
func (c *Client) DatabaseURL(ctx context.Context, reader bool, region string) (string, error) {
	var u dbURL
	q := url.Values{}
	if reader {
		q.Set("reader", "true")
	}
	if region != "" {
		q.Set("region", region)
	}
	err := c.do(ctx, http.MethodGet, "/v1/db-url?"+q.Encode(), nil, &u)
	return u.URL, err
}

// Apply sends a stack file to the running stack; with dryRun it only
// reports what would change. Changes come back even when refused.
func (c *Client) Apply(ctx context.Context, filename string, source []byte, dryRun bool) ([]Change, error) {
	body, _ := json.Marshal(applyRequest{Filename: filename, Source: string(source), DryRun: dryRun})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://stack/v1/apply", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("talking to the stack: %w", err)
	}
	defer resp.Body.Close()
	var out applyResponse
	if resp.StatusCode == http.StatusBadRequest {
		var e apiError
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return nil, errors.New(e.Error)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("the stack answered %s", resp.Status)
	}
	if out.Error != "" {
		return out.Changes, errors.New(out.Error)
	}
	return out.Changes, nil
}

// Promote promotes region's database replica to primary.
func (c *Client) Promote(ctx context.Context, region string) error {
	return c.do(ctx, http.MethodPost, "/v1/promote", Fault{Kind: "promote", Name: region}, nil)
}

// PromoteRegion promotes region's database replica to primary, a
// lagging one only with force, and reports its lag and whether the old
// primary was reached.
func (c *Client) PromoteRegion(ctx context.Context, region string, force bool) (rds.Promotion, error) {
	var p rds.Promotion
	err := c.do(ctx, http.MethodPost, "/v1/promote", RegionRequest{Name: region, Force: force}, &p)
	return p, err
}

// Switchover moves the database primary to region with no acknowledged
// write lost and reports the write downtime.
func (c *Client) Switchover(ctx context.Context, region string) (rds.Switchover, error) {
	var s rds.Switchover
	err := c.do(ctx, http.MethodPost, "/v1/switchover", RegionRequest{Name: region}, &s)
	return s, err
}

// goneWait bounds how long Down waits for a stack that dropped its
// request to release its lock.
const goneWait = 3 * time.Second

// stoppedWithin reports whether the stack's lock is released within d.
func (c *Client) stoppedWithin(ctx context.Context, d time.Duration) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for c.paths.Running() {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}
