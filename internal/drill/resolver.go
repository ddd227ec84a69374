package drill

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Resolver is a stub resolver with a cache: it asks one DNS server and
// keeps each answer for its TTL, as the resolver of a real client does.
// That cache is why clients keep going to a dead region for up to a TTL
// after DNS has failed over.
type Resolver struct {
	Server string // host:port of the DNS server
	client *dns.Client

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	addr    netip.Addr
	expires time.Time
}

// NewResolver asks server (host:port) over UDP.
func NewResolver(server string) *Resolver {
	return &Resolver{Server: server, client: &dns.Client{Net: "udp", Timeout: time.Second}, cache: map[string]cached{}}
}

// Lookup returns name's A record, from the cache while its TTL lasts.
func (r *Resolver) Lookup(ctx context.Context, name string) (netip.Addr, error) {
	now := time.Now()
	r.mu.Lock()
	c, ok := r.cache[name]
	r.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.addr, nil
	}
	addr, ttl, err := r.Query(ctx, name)
	if err != nil {
		return netip.Addr{}, err
	}
	r.mu.Lock()
	r.cache[name] = cached{addr: addr, expires: now.Add(time.Duration(ttl) * time.Second)}
	r.mu.Unlock()
	return addr, nil
}

// Query asks the server, bypassing the cache.
func (r *Resolver) Query(ctx context.Context, name string) (netip.Addr, uint32, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	in, _, err := r.client.ExchangeContext(ctx, m, r.Server)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("resolving %s: %w", name, err)
	}
	for _, rr := range in.Answer {
		if a, ok := rr.(*dns.A); ok {
			addr, _ := netip.AddrFromSlice(a.A.To4())
			return addr, a.Hdr.Ttl, nil
		}
	}
	return netip.Addr{}, 0, fmt.Errorf("resolving %s: no A record (%s)", name, dns.RcodeToString[in.Rcode])
}
