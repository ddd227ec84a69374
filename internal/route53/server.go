package route53

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Config describes the hosted zone a Server answers for.
type Config struct {
	// Zone is the hosted zone apex, e.g. "example.com" (default: Domain
	// without its first label).
	Zone string
	// Domain is the failover record's name, e.g. "app.example.com". It must
	// lie in Zone.
	Domain string
	// TTL of the failover answer in seconds; 0 is served as 0.
	TTL uint32
	// NSAddr is the address of the zone's name server "ns1.<zone>", given
	// as glue; normally the server's own listen address. Invalid: no glue.
	NSAddr netip.Addr
	// Logger receives start and stop messages, never one per query
	// (default: discard).
	Logger *slog.Logger
	// CheckerAddrs are the addresses the health checkers connect from, one
	// per checker, reused in turn when there are more checkers than
	// addresses (default: CheckerAddrs(checkers), 127.0.53.1 upwards, in
	// CheckerPrefix). The controller's health checks read them.
	CheckerAddrs []netip.Addr
}

// Server is the authoritative DNS server for one zone. It is the data plane:
// it serves the answer it was last given by SetAnswer and decides nothing.
type Server struct {
	zone   string // lower case, fully qualified
	domain string // lower case, fully qualified
	nsHost string // "ns1.<zone>"
	ttl    uint32
	logger *slog.Logger

	checkerAddrs []netip.Addr // Config.CheckerAddrs, for the controller

	fastName []byte // domain in wire form for the fast path; nil: no fast path

	ns   []dns.RR // apex NS set
	glue []dns.RR // address of nsHost; nil without NSAddr

	mu      sync.Mutex // serialises SetAnswer
	records atomic.Pointer[records]

	// queries counts replies (Queries); allocated apart, so that counting
	// does not share a cache line with records, which every query reads.
	queries *queryCounters
}

// records is one immutable version of the zone's changing records. The
// handler reads it without locks; SetAnswer replaces it whole.
type records struct {
	answer netip.Addr
	a      []dns.RR    // the failover record (A or AAAA); nil until an answer is set
	fast   *fastAnswer // a, packed for the fast path; nil when a is
	soa    []dns.RR    // apex SOA, as answered to SOA queries
	neg    []dns.RR    // SOA with the negative-caching TTL, for NXDOMAIN and NODATA
	serial uint32
}

// SOA timers, as a new Route53 hosted zone has them. Negative answers carry
// min(soaTTL, soaMinimum) as their TTL (RFC 2308), as Route53 does.
const (
	soaTTL     = 900
	soaRefresh = 7200
	soaRetry   = 900
	soaExpire  = 1209600
	soaMinimum = 86400
	nsTTL      = 172800
)

// NewServer builds a server for cfg. It answers SERVFAIL for Domain until
// SetAnswer is called.
func NewServer(cfg Config) *Server {
	domain := canonical(cfg.Domain)
	zone := cfg.Zone
	if zone == "" {
		if _, parent, ok := strings.Cut(domain, "."); ok && parent != "" {
			zone = parent
		}
	}
	zone = canonical(zone)
	if zone == "" {
		zone = "."
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		zone:   zone,
		domain: domain,
		nsHost: dns.CanonicalName("ns1." + strings.TrimSuffix(zone, ".")),
		ttl:    cfg.TTL,
		logger: logger,

		checkerAddrs: slices.Clone(cfg.CheckerAddrs),
		queries:      new(queryCounters),
	}
	s.fastName = fastName(domain)
	s.ns = []dns.RR{&dns.NS{
		Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: nsTTL},
		Ns:  s.nsHost,
	}}
	if rr := addrRR(s.nsHost, cfg.NSAddr, nsTTL); rr != nil {
		s.glue = []dns.RR{rr}
	}
	s.records.Store(s.newRecords(netip.Addr{}, 1))
	return s
}

// SetAnswer makes a the address served for Domain: an A record for an IPv4
// address, AAAA for IPv6. Each change increments the SOA serial. It is safe
// for concurrent use; queries see either the old or the new answer whole.
func (s *Server) SetAnswer(a netip.Addr) {
	a = a.Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.records.Load()
	if cur.answer == a {
		return
	}
	s.records.Store(s.newRecords(a, cur.serial+1))
}

// Answer is the address now served for Domain; invalid before SetAnswer.
func (s *Server) Answer() netip.Addr { return s.records.Load().answer }

// Serial is the zone's SOA serial now served.
func (s *Server) Serial() uint32 { return s.records.Load().serial }

// Domain is the failover record's name, without the trailing dot.
func (s *Server) Domain() string { return strings.TrimSuffix(s.domain, ".") }

func (s *Server) newRecords(a netip.Addr, serial uint32) *records {
	soa := &dns.SOA{
		Hdr:     dns.RR_Header{Name: s.zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: soaTTL},
		Ns:      s.nsHost,
		Mbox:    dns.CanonicalName("hostmaster." + strings.TrimSuffix(s.zone, ".")),
		Serial:  serial,
		Refresh: soaRefresh,
		Retry:   soaRetry,
		Expire:  soaExpire,
		Minttl:  soaMinimum,
	}
	neg := dns.Copy(soa)
	neg.Header().Ttl = min(soaTTL, soaMinimum)
	r := &records{answer: a, soa: []dns.RR{soa}, neg: []dns.RR{neg}, serial: serial}
	if rr := addrRR(s.domain, a, s.ttl); rr != nil {
		r.a = []dns.RR{rr}
		r.fast = newFastAnswer(rr)
	}
	return r
}

// canonical is name in lower case and fully qualified; "" stays "".
func canonical(name string) string {
	if name == "" {
		return ""
	}
	return dns.CanonicalName(name)
}

// addrRR is an A or AAAA record for a, or nil if a is invalid.
func addrRR(name string, a netip.Addr, ttl uint32) dns.RR {
	switch {
	case a.Is4():
		b := a.As4()
		return &dns.A{
			Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
			A:   net.IP(b[:]),
		}
	case a.Is6():
		b := a.As16()
		return &dns.AAAA{
			Hdr:  dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl},
			AAAA: net.IP(b[:]),
		}
	default:
		return nil
	}
}

// Serve answers queries on the already bound UDP socket pc and TCP listener
// ln (either may be nil, not both) until ctx is done, then shuts both down,
// waits for in-flight queries and returns nil. It returns an error if a
// socket fails while serving. Serve closes pc and ln.
//
// A UDP socket bound to one address is served by the server's own loop,
// with the fast path for the failover record's query; a wildcard one (and
// TCP) by miekg/dns's server, which sets each reply's source address.
func (s *Server) Serve(ctx context.Context, pc net.PacketConn, ln net.Listener) error {
	var runs []*serverRun
	if pc != nil {
		if l := newUDPLoop(s, pc); l != nil {
			runs = append(runs, &serverRun{network: "udp", serve: l.serve, stop: l.stop, done: make(chan struct{})})
		} else {
			runs = append(runs, newMiekgRun("udp", &dns.Server{
				PacketConn:     pc,
				Handler:        dns.HandlerFunc(s.serveUDP),
				UDPSize:        maxUDPSize,
				MsgAcceptFunc:  s.countRejected,
				MsgInvalidFunc: s.countInvalid,
			}))
		}
	}
	if ln != nil {
		runs = append(runs, newMiekgRun("tcp", &dns.Server{
			Listener:       ln,
			Handler:        dns.HandlerFunc(s.serveTCP),
			MsgAcceptFunc:  s.countRejected,
			MsgInvalidFunc: s.countInvalid,
		}))
	}
	if len(runs) == 0 {
		return errors.New("serving DNS: no UDP socket and no TCP listener")
	}

	stopped := make(chan *serverRun, len(runs))
	for _, r := range runs {
		go func() {
			r.err = r.serve()
			close(r.done)
			stopped <- r
		}()
	}
	s.logger.Debug("serving DNS", "zone", s.zone, "domain", s.domain)

	var err error
	select {
	case <-ctx.Done():
	case r := <-stopped:
		err = r.err
		if err == nil {
			err = errors.New("server stopped")
		}
		err = fmt.Errorf("serving DNS over %s: %w", r.network, err)
	}
	for _, r := range runs {
		r.stop()
		<-r.done
	}
	s.logger.Debug("stopped serving DNS", "zone", s.zone)
	return err
}

// serverRun is one server (UDP or TCP) and its lifecycle.
type serverRun struct {
	network string
	serve   func() error  // serves until stop is called or the socket fails
	stop    func()        // makes serve return; may be called before serve
	done    chan struct{} // closed when serve has returned
	err     error         // serve's result, set before done closes
}

// newMiekgRun runs srv, a miekg/dns server.
func newMiekgRun(network string, srv *dns.Server) *serverRun {
	r := &serverRun{network: network, serve: srv.ActivateAndServe, done: make(chan struct{})}
	started := make(chan struct{}) // closed once the server accepts queries
	srv.NotifyStartedFunc = func() { close(started) }
	// A server that has not started yet cannot be shut down, so stop waits
	// for the start first (or for the failure that prevented it).
	r.stop = func() {
		select {
		case <-started:
			// The error is "server not started" only if it already stopped.
			_ = srv.Shutdown()
		case <-r.done:
		}
	}
	return r
}

// acceptQuery is miekg/dns's default filter, but answers NOTIFY with
// NOTIMP too: this server takes no zone transfers.
func acceptQuery(dh dns.Header) dns.MsgAcceptAction {
	const qr, opcodeShift = 1 << 15, 11
	if dh.Bits&qr == 0 && int(dh.Bits>>opcodeShift)&0xF == dns.OpcodeNotify {
		return dns.MsgRejectNotImplemented
	}
	return dns.DefaultMsgAcceptFunc(dh)
}
