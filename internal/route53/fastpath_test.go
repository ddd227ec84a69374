package route53

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// fastServers are servers in each state the fast path knows: an IPv4
// answer, an IPv6 answer, no answer yet.
func fastServers() []*Server {
	v4 := NewServer(testConfig())
	v4.SetAnswer(netip.MustParseAddr("127.1.1.10"))
	v6 := NewServer(testConfig())
	v6.SetAnswer(netip.MustParseAddr("2001:db8::10"))
	return []*Server{v4, v6, NewServer(testConfig())}
}

// checkFastPath fails t if the fast path answers m differently from the full
// path, and reports whether it answered.
func checkFastPath(t *testing.T, s *Server, m []byte) bool {
	t.Helper()
	full := s.answerFull(nil, m, &replyBuffer{})
	if full != nil {
		if len(full) > maxUDPSize {
			t.Fatalf("UDP reply of %d bytes", len(full))
		}
		if err := new(dns.Msg).Unpack(full); err != nil {
			t.Fatalf("reply %x does not unpack: %v", full, err)
		}
	}
	fast := s.fastReply(nil, m)
	if fast == nil {
		return false
	}
	if !bytes.Equal(fast, full) {
		var f, g dns.Msg
		_, _ = f.Unpack(fast), g.Unpack(full)
		t.Fatalf("query %x:\nfast path %x\n%v\nfull path %x\n%v", m, fast, &f, full, &g)
	}
	return true
}

// FuzzFastPath checks the fast path against the full one: for any message,
// it either declines or sends exactly the reply the full path sends. It
// also runs the full UDP path on every message, which must not panic.
func FuzzFastPath(f *testing.F) {
	for _, m := range fastQueries(f) {
		f.Add(m.msg)
	}
	for _, m := range slowQueries(f) {
		f.Add(m.msg)
	}
	servers := fastServers()
	f.Fuzz(func(t *testing.T, m []byte) {
		for _, s := range servers {
			checkFastPath(t, s, m)
		}
	})
}

type rawQuery struct {
	name string
	msg  []byte
}

// msgOf packs a query for app.example.com with edit applied.
func msgOf(tb testing.TB, qtype uint16, edit func(*dns.Msg)) []byte {
	tb.Helper()
	m := new(dns.Msg)
	m.SetQuestion("app.example.com.", qtype)
	m.Id = 0xbeef
	if edit != nil {
		edit(m)
	}
	b, err := m.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func withEDNS(do bool) func(*dns.Msg) {
	return func(m *dns.Msg) { m.SetEdns0(4096, do) }
}

// fastQueries are the queries the fast path must answer itself (at a server
// with an IPv4 answer).
func fastQueries(tb testing.TB) []rawQuery {
	return []rawQuery{
		{"A", msgOf(tb, dns.TypeA, nil)},
		{"A without RD", msgOf(tb, dns.TypeA, func(m *dns.Msg) { m.RecursionDesired = false })},
		{"A in mixed case", msgOf(tb, dns.TypeA, func(m *dns.Msg) { m.Question[0].Name = "aPp.EXAMPLE.cOm." })},
		{"A with EDNS0", msgOf(tb, dns.TypeA, withEDNS(false))},
		{"A with EDNS0 and DO", msgOf(tb, dns.TypeA, withEDNS(true))},
		{"A with EDNS0, small payload size", msgOf(tb, dns.TypeA, func(m *dns.Msg) { m.SetEdns0(100, false) })},
		{"A with CD, AD, Z, TC, AA, RA and an RCODE", msgOf(tb, dns.TypeA, func(m *dns.Msg) {
			m.CheckingDisabled, m.AuthenticatedData, m.Zero = true, true, true
			m.Truncated, m.Authoritative, m.RecursionAvailable = true, true, true
			m.Rcode = dns.RcodeRefused
		})},
		{"A with an extended RCODE and OPT flags", msgOf(tb, dns.TypeA, func(m *dns.Msg) {
			m.SetEdns0(1232, true)
			m.IsEdns0().Hdr.Ttl |= 0x7f_00_7f_ff // extended RCODE, Z flags; version stays 0
		})},
	}
}

// slowQueries are messages the fast path must leave to the full path.
func slowQueries(tb testing.TB) []rawQuery {
	withOpt := func(edit func(*dns.OPT)) func(*dns.Msg) {
		return func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			edit(m.IsEdns0())
		}
	}
	a := msgOf(tb, dns.TypeA, nil)
	header := func(edit func(h []byte)) []byte {
		m := bytes.Clone(a)
		edit(m)
		return m
	}
	return []rawQuery{
		{"AAAA", msgOf(tb, dns.TypeAAAA, nil)},
		{"MX", msgOf(tb, dns.TypeMX, nil)},
		{"ANY", msgOf(tb, dns.TypeANY, nil)},
		{"class ANY", msgOf(tb, dns.TypeA, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassANY })},
		{"class CHAOS", msgOf(tb, dns.TypeA, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS })},
		{"other name", msgOf(tb, dns.TypeA, func(m *dns.Msg) { m.Question[0].Name = "apq.example.com." })},
		{"longer name", msgOf(tb, dns.TypeA, func(m *dns.Msg) { m.Question[0].Name = "app.example.com.x." })},
		{"name below", msgOf(tb, dns.TypeA, func(m *dns.Msg) { m.Question[0].Name = "x.app.example.com." })},
		{"apex", msgOf(tb, dns.TypeA, func(m *dns.Msg) { m.Question[0].Name = "example.com." })},
		{"escaped dot in a label", msgOf(tb, dns.TypeA, func(m *dns.Msg) { m.Question[0].Name = `app\.example.com.` })},
		{"EDNS version 1", msgOf(tb, dns.TypeA, withOpt(func(o *dns.OPT) { o.SetVersion(1) }))},
		{"EDNS option", msgOf(tb, dns.TypeA, withOpt(func(o *dns.OPT) {
			o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0123456789abcdef"})
		}))},
		{"OPT with a name", msgOf(tb, dns.TypeA, withOpt(func(o *dns.OPT) { o.Hdr.Name = "x." }))},
		{"two OPT records", msgOf(tb, dns.TypeA, func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			m.Extra = append(m.Extra, dns.Copy(m.Extra[0]))
		})},
		{"an A record in additional", msgOf(tb, dns.TypeA, func(m *dns.Msg) {
			m.Extra = append(m.Extra, &dns.A{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeA, Class: dns.ClassINET}, A: []byte{1, 2, 3, 4}})
		})},
		{"an answer", msgOf(tb, dns.TypeA, func(m *dns.Msg) {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeA, Class: dns.ClassINET}, A: []byte{1, 2, 3, 4}})
		})},
		{"trailing bytes", append(bytes.Clone(a), 0)},
		{"cut short", a[:len(a)-1]},
		{"a response", header(func(h []byte) { h[2] |= 0x80 })},
		{"opcode NOTIFY", header(func(h []byte) { h[2] |= dns.OpcodeNotify << 3 })},
		{"opcode UPDATE", header(func(h []byte) { h[2] |= dns.OpcodeUpdate << 3 })},
		{"no question", header(func(h []byte) { h[5] = 0 })},
		{"two questions", header(func(h []byte) { h[5] = 2 })},
		{"a question of two", append(header(func(h []byte) { h[5] = 2 }), a[headerLen:]...)},
		{"compression pointer as name", append(bytes.Clone(a[:headerLen]), 0xc0, headerLen, 0, 1, 0, 1)},
		{"header only", a[:headerLen]},
		{"short", a[:5]},
	}
}

func TestFastPathAnswers(t *testing.T) {
	s := fastServers()[0]
	for _, q := range fastQueries(t) {
		t.Run(q.name, func(t *testing.T) {
			if !checkFastPath(t, s, q.msg) {
				t.Fatal("left to the full path")
			}
		})
	}
	// The IPv6 answer is AAAA's.
	if !checkFastPath(t, fastServers()[1], msgOf(t, dns.TypeAAAA, withEDNS(true))) {
		t.Error("AAAA for an IPv6 answer left to the full path")
	}
}

func TestFastPathDeclines(t *testing.T) {
	s := fastServers()[0]
	for _, q := range slowQueries(t) {
		t.Run(q.name, func(t *testing.T) {
			if checkFastPath(t, s, q.msg) {
				t.Fatal("answered by the fast path")
			}
		})
	}
	t.Run("no answer yet", func(t *testing.T) {
		if checkFastPath(t, fastServers()[2], msgOf(t, dns.TypeA, nil)) {
			t.Fatal("answered by the fast path before SetAnswer")
		}
	})
	t.Run("A for an IPv6 answer", func(t *testing.T) {
		if checkFastPath(t, fastServers()[1], msgOf(t, dns.TypeA, nil)) {
			t.Fatal("answered by the fast path")
		}
	})
	t.Run("domain the fast path cannot compare", func(t *testing.T) {
		s := NewServer(Config{Zone: "example.com", Domain: `a\.b.example.com`})
		s.SetAnswer(netip.MustParseAddr("127.1.1.10"))
		m := new(dns.Msg)
		m.SetQuestion(`a\.b.example.com.`, dns.TypeA)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if checkFastPath(t, s, b) {
			t.Fatal("answered by the fast path")
		}
	})
}

// TestFastPathFollowsSetAnswer checks that each new answer is served at
// once, with the record's TTL; an IPv6 answer leaves A queries NODATA.
func TestFastPathFollowsSetAnswer(t *testing.T) {
	s := NewServer(testConfig())
	q := msgOf(t, dns.TypeA, nil)
	for _, a := range []string{"127.1.1.10", "127.2.1.10", "::1", "127.1.1.10"} {
		s.SetAnswer(netip.MustParseAddr(a))
		var r dns.Msg
		if err := r.Unpack(s.answer(nil, q, &replyBuffer{})); err != nil {
			t.Fatalf("after SetAnswer(%s): %v", a, err)
		}
		var got []string
		for _, rr := range r.Answer {
			if rr, ok := rr.(*dns.A); ok && rr.Hdr.Ttl == 60 {
				got = append(got, rr.A.String())
			}
		}
		want := []string{a}
		if netip.MustParseAddr(a).Is6() {
			want = nil
		}
		if len(got) != len(r.Answer) || !slices.Equal(got, want) {
			t.Fatalf("after SetAnswer(%s): answer %v, want A %v with TTL 60", a, r.Answer, want)
		}
	}
}

func TestFastReplyAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race; make test runs this without it")
	}
	s := fastServers()[0]
	q := msgOf(t, dns.TypeA, withEDNS(true))
	out := make([]byte, 0, maxUDPSize)
	if allocs := testing.AllocsPerRun(100, func() { s.fastReply(out, q) }); allocs > 0 {
		t.Errorf("the fast path allocates %v times per query, want 0", allocs)
	}
}

// BenchmarkFastReply is the fast path's share of one A query.
func BenchmarkFastReply(b *testing.B) {
	s := fastServers()[0]
	q := msgOf(b, dns.TypeA, withEDNS(true))
	out := make([]byte, 0, maxUDPSize)
	b.ReportAllocs()
	for b.Loop() {
		if s.fastReply(out, q) == nil {
			b.Fatal("no reply")
		}
	}
}
