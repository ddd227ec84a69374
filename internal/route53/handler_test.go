package route53

import (
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// discard is a dns.ResponseWriter that keeps the last reply.
type discard struct{ last []byte }

func (d *discard) LocalAddr() net.Addr       { return &net.UDPAddr{} }
func (d *discard) RemoteAddr() net.Addr      { return &net.UDPAddr{} }
func (d *discard) WriteMsg(m *dns.Msg) error { _, err := m.Pack(); return err }
func (d *discard) Write(b []byte) (int, error) {
	d.last = append(d.last[:0], b...)
	return len(b), nil
}
func (d *discard) Close() error        { return nil }
func (d *discard) TsigStatus() error   { return nil }
func (d *discard) TsigTimersOnly(bool) {}
func (d *discard) Hijack()             {}

func packedQuery(tb testing.TB, name string, qtype uint16, edns bool) []byte {
	tb.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns {
		m.SetEdns0(1232, false)
	}
	b, err := m.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzServe feeds any message that unpacks to the handler, including the
// ones miekg/dns would filter out before it: nothing may panic, and every
// reply must pack and unpack.
func FuzzServe(f *testing.F) {
	for _, q := range []struct {
		name  string
		qtype uint16
		edns  bool
	}{
		{"app.example.com.", dns.TypeA, false},
		{"APP.example.com.", dns.TypeAAAA, true},
		{"example.com.", dns.TypeNS, true},
		{"example.com.", dns.TypeANY, false},
		{"nope.example.com.", dns.TypeA, false},
		{"example.org.", dns.TypeA, true},
	} {
		f.Add(packedQuery(f, q.name, q.qtype, q.edns))
	}
	f.Add([]byte{0x12, 0x34, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00})
	s := NewServer(testConfig())
	s.SetAnswer(netip.MustParseAddr("127.1.1.10"))
	f.Fuzz(func(t *testing.T, data []byte) {
		req := new(dns.Msg)
		if err := req.Unpack(data); err != nil {
			return
		}
		w := &discard{}
		s.serve(w, req, true)
		if w.last == nil {
			return
		}
		var reply dns.Msg
		if err := reply.Unpack(w.last); err != nil {
			t.Fatalf("reply does not unpack: %v", err)
		}
		if len(w.last) > maxUDPSize {
			t.Fatalf("UDP reply of %d bytes", len(w.last))
		}
	})
}

func TestServeAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation count only")
	}
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race; make test runs this without it")
	}
	s := NewServer(testConfig())
	s.SetAnswer(netip.MustParseAddr("127.1.1.10"))
	w := &discard{last: make([]byte, 0, 512)}
	reqs := make([]dns.Msg, 200)
	for i := range reqs {
		if err := reqs[i].Unpack(packedQuery(t, "app.example.com.", dns.TypeA, true)); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	allocs := testing.AllocsPerRun(len(reqs)-1, func() {
		s.serve(w, &reqs[i], true)
		i++
	})
	if allocs > 0 {
		t.Errorf("answering an A query allocates %v times, want 0", allocs)
	}
}

// BenchmarkServeA is the handler's share of one A query: unpack (done by
// miekg/dns before the handler), answer, pack.
func BenchmarkServeA(b *testing.B) {
	s := NewServer(testConfig())
	s.SetAnswer(netip.MustParseAddr("127.1.1.10"))
	query := packedQuery(b, "app.example.com.", dns.TypeA, true)
	w := &discard{last: make([]byte, 0, 512)}
	b.ReportAllocs()
	for b.Loop() {
		req := new(dns.Msg)
		if err := req.Unpack(query); err != nil {
			b.Fatal(err)
		}
		s.serve(w, req, true)
	}
}
