package route53

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// countQuery is a message and the count its reply adds: "TYPE/RCODE", or ""
// for a message that gets no reply.
type countQuery struct {
	name string
	msg  []byte
	want string
}

// countQueries are messages of every type and rcode the server counts.
func countQueries(t *testing.T) []countQuery {
	a := msgOf(t, dns.TypeA, nil)
	header := func(edit func(h []byte)) []byte {
		m := bytes.Clone(a)
		edit(m)
		return m
	}
	return []countQuery{
		{"A, fast path", a, "A/NOERROR"},
		{"A with EDNS0, fast path", msgOf(t, dns.TypeA, withEDNS(true)), "A/NOERROR"},
		{"AAAA of the IPv4 record", msgOf(t, dns.TypeAAAA, nil), "AAAA/NOERROR"},
		{"NS of the apex", packedQuery(t, "example.com.", dns.TypeNS, true), "NS/NOERROR"},
		{"SOA of the apex", packedQuery(t, "example.com.", dns.TypeSOA, false), "SOA/NOERROR"},
		{"TXT of the record", msgOf(t, dns.TypeTXT, nil), "TXT/NOERROR"},
		{"MX", msgOf(t, dns.TypeMX, nil), "other/NOERROR"},
		{"a name that does not exist", packedQuery(t, "nope.example.com.", dns.TypeA, true), "A/NXDOMAIN"},
		{"outside the zone", packedQuery(t, "example.org.", dns.TypeSOA, false), "SOA/REFUSED"},
		{"EDNS version 1", msgOf(t, dns.TypeA, func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) }), "A/BADVERS"},
		{"two OPT records", msgOf(t, dns.TypeNS, func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			m.Extra = append(m.Extra, dns.Copy(m.Extra[0]))
		}), "NS/FORMERR"},
		{"opcode NOTIFY", header(func(h []byte) { h[2] |= dns.OpcodeNotify << 3 }), "other/NOTIMP"},
		{"opcode UPDATE", header(func(h []byte) { h[2] |= dns.OpcodeUpdate << 3 }), "other/NOTIMP"},
		{"two questions announced", header(func(h []byte) { h[5] = 2 }), "other/FORMERR"},
		{"an additional record cut short", append(header(func(h []byte) { h[11] = 1 }), 0, 0, byte(dns.TypeOPT)), "A/FORMERR"},
		{"a response", header(func(h []byte) { h[2] |= 0x80 }), ""},
		{"shorter than a header", a[:5], ""},
	}
}

// counts is s.Queries as "TYPE/RCODE" to count.
func counts(s *Server) map[string]uint64 {
	out := map[string]uint64{}
	for _, q := range s.Queries() {
		if q.Count == 0 {
			continue
		}
		out[q.Type+"/"+q.Rcode] = q.Count
	}
	return out
}

// TestQueriesCounted sends every kind of message over each way the server
// serves it — its own UDP loop (with the fast path), miekg/dns's UDP
// server (a wildcard socket) and TCP — and checks each reply is counted
// once by its question's type and its rcode, and a message without reply
// not at all.
func TestQueriesCounted(t *testing.T) {
	queries := countQueries(t)
	for _, q := range queries[:2] {
		if !checkFastPath(t, fastServers()[0], q.msg) {
			t.Fatalf("%s: not answered by the fast path", q.name)
		}
	}
	const wait = 500 * time.Millisecond
	for _, tr := range []struct {
		name     string
		start    func(*Server) string
		exchange func(t *testing.T, addr string, m []byte, wait time.Duration) []byte
	}{
		{"own UDP loop", func(s *Server) string { return startUDP(t, s, "127.0.0.1:0") }, rawExchange},
		{"miekg/dns UDP", func(s *Server) string { return startUDP(t, s, "0.0.0.0:0") }, rawExchange},
		{"TCP", func(s *Server) string { return startTCP(t, s) }, rawExchangeTCP},
	} {
		t.Run(tr.name, func(t *testing.T) {
			s := NewServer(testConfig())
			s.SetAnswer(netip.MustParseAddr("127.1.1.10"))
			addr := tr.start(s)
			want := map[string]uint64{}
			for _, q := range queries {
				reply := tr.exchange(t, addr, q.msg, wait)
				if (reply != nil) != (q.want != "") {
					t.Fatalf("%s: reply %x, want one: %v", q.name, reply, q.want != "")
				}
				if q.want != "" {
					want[q.want]++
				}
				if got := counts(s); !maps.Equal(got, want) {
					t.Fatalf("after %s: counts %v, want %v", q.name, got, want)
				}
			}
		})
	}
}

// TestQueriesCountedServfail counts the answer before any SetAnswer.
func TestQueriesCountedServfail(t *testing.T) {
	s := NewServer(testConfig())
	addr := startUDP(t, s, "127.0.0.1:0")
	if rawExchange(t, addr, msgOf(t, dns.TypeA, nil), 5*time.Second) == nil {
		t.Fatal("no reply")
	}
	if got, want := counts(s), map[string]uint64{"A/SERVFAIL": 1}; !maps.Equal(got, want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
}

// TestQueriesCountedFastPath counts the fast path's answers outside the
// batched Linux loop (the loop of other systems calls answer).
func TestQueriesCountedFastPath(t *testing.T) {
	for _, tt := range []struct {
		answer string
		qtype  uint16
		want   string
	}{
		{"127.1.1.10", dns.TypeA, "A/NOERROR"},
		{"2001:db8::10", dns.TypeAAAA, "AAAA/NOERROR"},
	} {
		s := NewServer(testConfig())
		s.SetAnswer(netip.MustParseAddr(tt.answer))
		q := msgOf(t, tt.qtype, withEDNS(false))
		if s.fastReply(nil, q) == nil {
			t.Fatalf("%s: not answered by the fast path", tt.want)
		}
		for range 3 {
			if s.answer(nil, q, &replyBuffer{}) == nil {
				t.Fatalf("%s: no reply", tt.want)
			}
		}
		if got, want := counts(s), map[string]uint64{tt.want: 3}; !maps.Equal(got, want) {
			t.Errorf("counts %v, want %v", got, want)
		}
	}
}

func TestQtypeAndRcodeIndex(t *testing.T) {
	for _, tt := range []struct {
		qtype uint16
		want  string
	}{
		{dns.TypeA, "A"}, {dns.TypeAAAA, "AAAA"}, {dns.TypeNS, "NS"}, {dns.TypeSOA, "SOA"},
		{dns.TypeTXT, "TXT"}, {dns.TypeMX, "other"}, {dns.TypeANY, "other"}, {dns.TypeNone, "other"},
	} {
		if got := qtypeNames[qtypeIndex(tt.qtype)]; got != tt.want {
			t.Errorf("type %d counts as %s, want %s", tt.qtype, got, tt.want)
		}
	}
	names := map[int]string{0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 16: "BADVERS"}
	for r := range 24 {
		want, ok := names[r]
		if !ok {
			want = "other"
		}
		if got := rcodeNames[rcodeIndex(r)]; got != want {
			t.Errorf("rcode %d counts as %s, want %s", r, got, want)
		}
	}
}

// startTCP serves s over TCP on a loopback port until the test ends and
// returns the address.
func startTCP(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, nil, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// rawExchangeTCP sends m with its length over a new TCP connection to
// addr and returns the reply, or nil if none came within wait.
func rawExchangeTCP(t *testing.T, addr string, m []byte, wait time.Duration) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(m))), m...)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	var n [2]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.EOF) {
			return nil
		}
		t.Fatal(err)
	}
	reply := make([]byte, binary.BigEndian.Uint16(n[:]))
	if _, err := io.ReadFull(c, reply); err != nil {
		t.Fatal(err)
	}
	return reply
}
