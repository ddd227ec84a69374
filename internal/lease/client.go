package lease

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// client speaks to the witness over HTTP from one source address. Each
// request opens a connection of its own: a renewal proves the path works
// now, and a cut path fails the next request at once rather than leaving
// a kept-alive connection to time out.
type client struct {
	url  string
	http *http.Client
}

// newClient dials from source, giving a connection up after dialTimeout:
// a dial outlives the request that started it, and a partition would keep
// it retrying for minutes.
func newClient(witness string, source netip.Addr, dialTimeout time.Duration) *client {
	d := &net.Dialer{Timeout: dialTimeout}
	if source.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: source.AsSlice()}
	}
	return &client{
		url: "http://" + witness + leasePath,
		http: &http.Client{Transport: &http.Transport{
			DialContext:       d.DialContext,
			DisableKeepAlives: true,
		}},
	}
}

func (c *client) ask(ctx context.Context, req Request) (Answer, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Answer{}, err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return Answer{}, err
	}
	r.Header.Set("Content-Type", "application/json")
	var a Answer
	return a, c.do(r, &a)
}

func (c *client) lease(ctx context.Context) (Lease, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return Lease{}, err
	}
	var l Lease
	return l, c.do(r, &l)
}

func (c *client) do(r *http.Request, v any) error {
	resp, err := c.http.Do(r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxBodySize)
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(body)
		return fmt.Errorf("the witness answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	if err := json.NewDecoder(body).Decode(v); err != nil {
		return fmt.Errorf("reading the witness's answer: %w", err)
	}
	return nil
}
