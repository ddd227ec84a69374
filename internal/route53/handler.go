package route53

import (
	"sync"

	"github.com/miekg/dns"
)

// maxUDPSize is the EDNS payload size this server advertises and reads
// (the DNS flag day 2020 value, safe from IP fragmentation).
const maxUDPSize = 1232

// packBufs holds buffers to pack answers into; every answer of this zone
// fits in one.
var packBufs = sync.Pool{New: func() any { b := make([]byte, 2048); return &b }}

func (s *Server) serveUDP(w dns.ResponseWriter, req *dns.Msg) { s.serve(w, req, true) }
func (s *Server) serveTCP(w dns.ResponseWriter, req *dns.Msg) { s.serve(w, req, false) }

// serve answers one query. It turns req into the response in place, which
// saves allocating a second message per query.
func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg, udp bool) {
	limit := s.respond(req, udp)
	bp := packBufs.Get().(*[]byte)
	defer packBufs.Put(bp)
	out, err := req.PackBuffer(*bp)
	if err == nil && len(out) > limit {
		out, err = truncate(req, *bp, limit)
	}
	if err != nil {
		// Only records this server built are packed; there is nothing
		// sensible to send if that fails.
		return
	}
	s.queries.addMsg(req)
	_, _ = w.Write(out)
}

// respond rewrites the query m into its response and returns the largest
// response size the client accepts.
func (s *Server) respond(m *dns.Msg, udp bool) (limit int) {
	opt, badOPT := requestOPT(m)
	limit = dns.MaxMsgSize
	if udp {
		limit = dns.MinMsgSize
		if opt != nil {
			limit = int(max(dns.MinMsgSize, min(opt.UDPSize(), maxUDPSize)))
		}
	}

	m.Response = true
	m.Authoritative = false
	m.Truncated = false
	m.RecursionAvailable = false
	m.Zero = false
	m.AuthenticatedData = false
	m.Rcode = dns.RcodeSuccess
	m.Answer, m.Ns = nil, nil
	m.Extra = m.Extra[:0]
	if opt != nil {
		// Reuse the query's OPT record as ours: same DO bit, no options.
		version := opt.Version()
		opt.Hdr.Name = "."
		opt.Hdr.Ttl &= 1 << 15 // keep only DO
		opt.Option = nil
		opt.SetUDPSize(maxUDPSize)
		defer func() { m.Extra = append(m.Extra, opt) }()
		if version != 0 {
			m.Rcode = dns.RcodeBadVers
			return limit
		}
	}

	switch {
	case badOPT || len(m.Question) != 1:
		m.Rcode = dns.RcodeFormatError
	case m.Opcode != dns.OpcodeQuery:
		m.Rcode = dns.RcodeNotImplemented
	case m.Question[0].Qclass != dns.ClassINET && m.Question[0].Qclass != dns.ClassANY:
		m.Rcode = dns.RcodeRefused
	default:
		s.lookup(m, m.Question[0])
	}
	return limit
}

// requestOPT finds the query's OPT record; more than one is malformed.
func requestOPT(m *dns.Msg) (opt *dns.OPT, bad bool) {
	for _, rr := range m.Extra {
		if o, ok := rr.(*dns.OPT); ok {
			if opt != nil {
				return opt, true
			}
			opt = o
		}
	}
	return opt, false
}

// lookup fills in the answer to q from the zone.
func (s *Server) lookup(m *dns.Msg, q dns.Question) {
	r := s.records.Load()
	name := q.Name
	isDomain := equalFold(name, s.domain)
	isApex := equalFold(name, s.zone)
	isNSHost := equalFold(name, s.nsHost)
	if !isDomain && !isApex && !isNSHost {
		if !under(name, s.zone) {
			m.Rcode = dns.RcodeRefused
			return
		}
		m.Authoritative = true
		m.Ns = r.neg
		// A name above one of ours exists without records (an empty
		// non-terminal): NODATA, not NXDOMAIN.
		if !under(s.domain, name) && !under(s.nsHost, name) {
			m.Rcode = dns.RcodeNameError
		}
		return
	}

	m.Authoritative = true
	if isDomain && r.a == nil && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY) {
		// No answer has been set yet: say so rather than deny the name.
		m.Authoritative = false
		m.Rcode = dns.RcodeServerFailure
		return
	}
	switch q.Qtype {
	case dns.TypeA, dns.TypeAAAA:
		switch {
		case isDomain && r.a[0].Header().Rrtype == q.Qtype:
			m.Answer = r.a
		case isNSHost && !isDomain && s.glue != nil && s.glue[0].Header().Rrtype == q.Qtype:
			m.Answer = s.glue
		}
	case dns.TypeSOA:
		if isApex {
			m.Answer = r.soa
		}
	case dns.TypeNS:
		if isApex {
			m.Answer = s.ns
			m.Extra = append(m.Extra, s.glue...)
		}
	case dns.TypeANY:
		if isApex {
			m.Answer = append(m.Answer, r.soa[0], s.ns[0])
		}
		if isDomain {
			m.Answer = append(m.Answer, r.a...)
		} else if isNSHost {
			m.Answer = append(m.Answer, s.glue...)
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = r.neg
	}
}

// truncate repacks m to fit limit: compressed if that is enough, else with
// the TC flag and no records, so the client retries over TCP.
func truncate(m *dns.Msg, buf []byte, limit int) ([]byte, error) {
	m.Compress = true
	out, err := m.PackBuffer(buf)
	if err != nil || len(out) <= limit {
		return out, err
	}
	m.Truncated = true
	m.Answer, m.Ns = nil, nil
	if opt := m.IsEdns0(); opt != nil {
		m.Extra = append(m.Extra[:0], opt)
	} else {
		m.Extra = nil
	}
	return m.PackBuffer(buf)
}

// equalFold compares domain names ASCII case-insensitively, as DNS does
// (RFC 4343); other bytes must match exactly.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

// under reports whether name lies strictly below the fully qualified parent.
func under(name, parent string) bool {
	if parent == "" {
		return false
	}
	if parent == "." {
		return name != "." && name != ""
	}
	n := len(name) - len(parent)
	if n < 2 || name[n-1] != '.' || !equalFold(name[n:], parent) {
		return false
	}
	// The dot must separate labels, not be an escaped "\." inside one.
	slashes := 0
	for i := n - 2; i >= 0 && name[i] == '\\'; i-- {
		slashes++
	}
	return slashes%2 == 0
}
