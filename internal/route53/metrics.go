package route53

import (
	"sync/atomic"

	"github.com/miekg/dns"
)

// The server counts every reply it sends by the type of its question and
// its rcode, in a fixed table of atomic counters: no map, lock or
// allocation per query. The Linux UDP loop adds its fast path's answers
// once per batch, so the hot query writes no shared memory of its own.

// Query types counted apart; every other type, and a message without
// exactly one question, counts as "other".
const (
	qtA = iota
	qtAAAA
	qtNS
	qtSOA
	qtTXT
	qtOther
	numQtypes
)

var qtypeNames = [numQtypes]string{"A", "AAAA", "NS", "SOA", "TXT", "other"}

// qtypeIndex is the row of the query type t.
func qtypeIndex(t uint16) int {
	switch t {
	case dns.TypeA:
		return qtA
	case dns.TypeAAAA:
		return qtAAAA
	case dns.TypeNS:
		return qtNS
	case dns.TypeSOA:
		return qtSOA
	case dns.TypeTXT:
		return qtTXT
	default:
		return qtOther
	}
}

// Rcodes counted apart: every rcode this server sends, and "other" should
// one ever be added without being listed here.
const (
	rcNoError = iota
	rcFormErr
	rcServFail
	rcNXDomain
	rcNotImp
	rcRefused
	rcBadVers
	rcOther
	numRcodes
)

var rcodeNames = [numRcodes]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS", "other"}

// rcodeIndex is the column of the (extended) rcode r.
func rcodeIndex(r int) int {
	switch r {
	case dns.RcodeSuccess:
		return rcNoError
	case dns.RcodeFormatError:
		return rcFormErr
	case dns.RcodeServerFailure:
		return rcServFail
	case dns.RcodeNameError:
		return rcNXDomain
	case dns.RcodeNotImplemented:
		return rcNotImp
	case dns.RcodeRefused:
		return rcRefused
	case dns.RcodeBadVers:
		return rcBadVers
	default:
		return rcOther
	}
}

// queryCounters counts replies by question type and rcode.
type queryCounters struct {
	n [numQtypes][numRcodes]atomic.Uint64
}

func (c *queryCounters) add(qtype uint16, rcode int, n uint64) {
	c.n[qtypeIndex(qtype)][rcodeIndex(rcode)].Add(n)
}

// addMsg counts the reply m, whose question is the query's.
func (c *queryCounters) addMsg(m *dns.Msg) {
	qtype := uint16(dns.TypeNone) // counts as other
	if len(m.Question) == 1 {
		qtype = m.Question[0].Qtype
	}
	c.add(qtype, m.Rcode, 1)
}

// QueryCount is how many replies the server sent to queries of one type
// with one rcode.
type QueryCount struct {
	Type  string // A, AAAA, NS, SOA, TXT or other
	Rcode string // NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, BADVERS
	Count uint64
}

// Queries counts the replies sent since the server was built, over UDP
// and TCP, by the type of their question and their rcode. Only non-zero
// counts are listed, in a fixed order. Messages that get no reply (responses,
// fragments shorter than a header) are not counted.
func (s *Server) Queries() []QueryCount {
	var out []QueryCount
	for t := range numQtypes {
		for r := range numRcodes {
			if n := s.queries.n[t][r].Load(); n > 0 {
				out = append(out, QueryCount{Type: qtypeNames[t], Rcode: rcodeNames[r], Count: n})
			}
		}
	}
	return out
}

// countRejected counts the reply miekg/dns's server sends on its own,
// without the handler, to a message it rejects: FORMERR or NOTIMP.
func (s *Server) countRejected(dh dns.Header) dns.MsgAcceptAction {
	action := acceptQuery(dh)
	switch action {
	case dns.MsgReject:
		s.queries.add(dns.TypeNone, dns.RcodeFormatError, 1)
	case dns.MsgRejectNotImplemented:
		s.queries.add(dns.TypeNone, dns.RcodeNotImplemented, 1)
	}
	return action
}

// countInvalid counts the FORMERR reply miekg/dns's server sends to a
// message whose header parsed but whose body did not (one shorter than a
// header gets no reply), with the question if that much unpacked, as the
// server's own UDP loop does.
func (s *Server) countInvalid(m []byte, _ error) {
	if len(m) < headerLen {
		return
	}
	req := new(dns.Msg)
	_ = req.Unpack(m) // fails; keeps what unpacked
	qtype := uint16(dns.TypeNone)
	if len(req.Question) > 0 { // the reply echoes the first question
		qtype = req.Question[0].Qtype
	}
	s.queries.add(qtype, dns.RcodeFormatError, 1)
}
