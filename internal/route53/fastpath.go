package route53

import (
	"encoding/binary"

	"github.com/miekg/dns"
)

// The fast path answers the one query a failover record exists for — the
// record's address type, class IN, with or without a plain EDNS0 OPT record
// — straight from the wire, without unpacking or packing a message. Its
// reply is byte for byte what the full path (respond, then Pack) sends; any
// other message is left to the full path. FuzzFastPath checks both claims.

const (
	headerLen = 12
	optLen    = 11 // root name, type, class, TTL, empty RDATA

	flagQR     = 0x8000
	flagOpcode = 0x7800
	flagAA     = 0x0400
	flagRD     = 0x0100
	flagCD     = 0x0010
	optDO      = 0x8000
)

// fastAnswer is the failover record as packed into replies, built once per
// answer by newRecords.
type fastAnswer struct {
	qtype uint16 // dns.TypeA or dns.TypeAAAA
	rr    []byte // the record, its owner name uncompressed, as Pack writes it
}

// newFastAnswer packs the failover record rr; nil if there is none.
func newFastAnswer(rr dns.RR) *fastAnswer {
	if rr == nil {
		return nil
	}
	buf := make([]byte, 512)
	n, err := dns.PackRR(rr, buf, 0, nil, false)
	if err != nil {
		return nil
	}
	return &fastAnswer{qtype: rr.Header().Rrtype, rr: buf[:n:n]}
}

// fastName is the wire form of domain for the fast path to compare query
// names with, or nil if the fast path cannot compare names the way lookup
// does: only names of lower-case letters, digits, '-' and '_' are taken,
// which unpack to the same string whatever the case they were sent in.
func fastName(domain string) []byte {
	if domain == "" || domain == "." {
		return nil
	}
	for i := 0; i < len(domain); i++ {
		c := domain[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return nil
		}
	}
	buf := make([]byte, 256)
	n, err := dns.PackDomainName(domain, buf, 0, nil, false)
	if err != nil {
		return nil
	}
	return buf[:n:n]
}

// fastReply appends to out the reply to the query msg and returns it, or
// returns nil if msg is not the hot query and needs the full path. The
// question is echoed as sent, so the client's 0x20 case survives.
func (s *Server) fastReply(out, msg []byte) []byte {
	name := s.fastName
	qEnd := headerLen + len(name) + 4 // name, type, class
	if name == nil || len(msg) < qEnd {
		return nil
	}
	fa := s.records.Load().fast
	if fa == nil {
		return nil // no answer yet: SERVFAIL, from the full path
	}
	flags := binary.BigEndian.Uint16(msg[2:])
	if flags&(flagQR|flagOpcode) != 0 ||
		binary.BigEndian.Uint16(msg[4:]) != 1 || // questions
		binary.BigEndian.Uint16(msg[6:]) != 0 || // answers
		binary.BigEndian.Uint16(msg[8:]) != 0 { // authority
		return nil
	}
	if !equalFoldWire(msg[headerLen:], name) ||
		binary.BigEndian.Uint16(msg[qEnd-4:]) != fa.qtype ||
		binary.BigEndian.Uint16(msg[qEnd-2:]) != dns.ClassINET {
		return nil
	}

	var opt []byte
	switch binary.BigEndian.Uint16(msg[10:]) { // additional
	case 0:
		if len(msg) != qEnd {
			return nil
		}
	case 1:
		opt = msg[qEnd:]
		if len(opt) != optLen || opt[0] != 0 || // root owner name
			binary.BigEndian.Uint16(opt[1:]) != dns.TypeOPT ||
			opt[6] != 0 || // EDNS version 0; BADVERS is the full path's
			binary.BigEndian.Uint16(opt[9:]) != 0 { // no options
			return nil
		}
	default:
		return nil
	}

	var h [headerLen]byte
	copy(h[:2], msg[:2]) // ID
	binary.BigEndian.PutUint16(h[2:], flagQR|flagAA|flags&(flagRD|flagCD))
	binary.BigEndian.PutUint16(h[4:], 1)
	binary.BigEndian.PutUint16(h[6:], 1)
	if opt != nil {
		binary.BigEndian.PutUint16(h[10:], 1)
	}
	out = append(out, h[:]...)
	out = append(out, msg[headerLen:qEnd]...)
	out = append(out, fa.rr...)
	if opt != nil {
		do := binary.BigEndian.Uint16(opt[7:]) & optDO
		out = append(out,
			0,                                       // root
			byte(dns.TypeOPT>>8), byte(dns.TypeOPT), // type
			byte(maxUDPSize>>8), byte(maxUDPSize&0xff), // class: our payload size
			0, 0, byte(do>>8), 0, // TTL: extended RCODE 0, version 0, DO echoed
			0, 0, // no options
		)
	}
	return out
}

// fastQtype is the type asked by msg, a query fastReply answered.
func (s *Server) fastQtype(msg []byte) uint16 {
	return binary.BigEndian.Uint16(msg[headerLen+len(s.fastName):])
}

// equalFoldWire reports whether the wire-form name at the start of msg is
// name, which is in lower case, ASCII case-insensitively (RFC 4343). Label
// lengths never fold: they are below 64, no letter.
func equalFoldWire(msg, name []byte) bool {
	if len(msg) < len(name) {
		return false
	}
	for i, c := range name {
		m := msg[i]
		if 'A' <= m && m <= 'Z' {
			m += 'a' - 'A'
		}
		if m != c {
			return false
		}
	}
	return true
}
