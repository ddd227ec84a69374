package route53

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"
)

// testServer is a Server serving on loopback UDP and TCP sockets.
type testServer struct {
	*Server
	udp, tcp string
	stop     func() error // cancels Serve and returns its result
}

func startServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		pc.Close()
		t.Fatal(err)
	}
	srv := NewServer(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, pc, ln) }()
	ts := &testServer{Server: srv, udp: pc.LocalAddr().String(), tcp: ln.Addr().String()}
	var result error
	stopped := false
	ts.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return after cancel")
			}
		}
		return result
	}
	t.Cleanup(func() { _ = ts.stop() })
	return ts
}

func testConfig() Config {
	return Config{Zone: "example.com", Domain: "app.example.com", TTL: 60, NSAddr: netip.MustParseAddr("127.0.0.53")}
}

func query(t *testing.T, addr, network, name string, qtype uint16, edns bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	if edns {
		m.SetEdns0(4096, true)
	}
	return exchange(t, addr, network, m)
}

func exchange(t *testing.T, addr, network string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("%s query %s %s: %v", network, m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype], err)
	}
	if r.Id != m.Id || !r.Response {
		t.Fatalf("reply id %d response %v to query id %d", r.Id, r.Response, m.Id)
	}
	return r
}

func soaOf(t *testing.T, rrs []dns.RR) *dns.SOA {
	t.Helper()
	if len(rrs) != 1 {
		t.Fatalf("want one SOA, got %v", rrs)
	}
	soa, ok := rrs[0].(*dns.SOA)
	if !ok {
		t.Fatalf("want SOA, got %v", rrs[0])
	}
	return soa
}

func TestServerAnswers(t *testing.T) {
	ts := startServer(t, testConfig())
	primary, secondary := netip.MustParseAddr("127.1.1.10"), netip.MustParseAddr("127.2.1.10")
	ts.SetAnswer(primary)

	// apexSOA queries the zone's SOA serial over the wire.
	apexSOA := func() uint32 {
		r := query(t, ts.udp, "udp", "example.com.", dns.TypeSOA, false)
		return soaOf(t, r.Answer).Serial
	}
	serial := apexSOA()

	tests := []struct {
		name      string
		network   string
		qname     string
		qtype     uint16
		edns      bool
		rcode     int
		aa        bool
		answer    string // the answer's data, "" for none
		answerTTL uint32
		negSOA    bool // SOA in authority with the negative TTL
		glue      string
	}{
		{name: "A over UDP", network: "udp", qname: "app.example.com.", qtype: dns.TypeA, aa: true, answer: "127.1.1.10", answerTTL: 60},
		{name: "A over TCP", network: "tcp", qname: "app.example.com.", qtype: dns.TypeA, aa: true, answer: "127.1.1.10", answerTTL: 60},
		{name: "case-insensitive name", network: "udp", qname: "ApP.ExAmPlE.CoM.", qtype: dns.TypeA, aa: true, answer: "127.1.1.10", answerTTL: 60},
		{name: "A with EDNS0", network: "udp", qname: "app.example.com.", qtype: dns.TypeA, edns: true, aa: true, answer: "127.1.1.10", answerTTL: 60},
		{name: "AAAA is NODATA", network: "udp", qname: "app.example.com.", qtype: dns.TypeAAAA, aa: true, negSOA: true},
		{name: "MX is NODATA", network: "tcp", qname: "app.example.com.", qtype: dns.TypeMX, aa: true, negSOA: true},
		{name: "unknown name is NXDOMAIN", network: "udp", qname: "nope.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, negSOA: true},
		{name: "name below the record is NXDOMAIN", network: "udp", qname: "x.app.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, negSOA: true},
		{name: "apex A is NODATA", network: "udp", qname: "example.com.", qtype: dns.TypeA, aa: true, negSOA: true},
		{name: "apex NS with glue", network: "udp", qname: "example.com.", qtype: dns.TypeNS, aa: true, answer: "ns1.example.com.", answerTTL: nsTTL, glue: "127.0.0.53"},
		{name: "apex NS over TCP with EDNS0", network: "tcp", qname: "EXAMPLE.com.", qtype: dns.TypeNS, edns: true, aa: true, answer: "ns1.example.com.", answerTTL: nsTTL, glue: "127.0.0.53"},
		{name: "name server address", network: "udp", qname: "ns1.example.com.", qtype: dns.TypeA, aa: true, answer: "127.0.0.53", answerTTL: nsTTL},
		{name: "out of zone is REFUSED", network: "udp", qname: "example.org.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
		{name: "parent of the zone is REFUSED", network: "udp", qname: "com.", qtype: dns.TypeSOA, rcode: dns.RcodeRefused},
		{name: "suffix without label boundary is REFUSED", network: "udp", qname: "badexample.com.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := ts.udp
			if tt.network == "tcp" {
				addr = ts.tcp
			}
			r := query(t, addr, tt.network, tt.qname, tt.qtype, tt.edns)
			if r.Rcode != tt.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			}
			if r.Authoritative != tt.aa {
				t.Errorf("AA = %v, want %v", r.Authoritative, tt.aa)
			}
			if r.RecursionAvailable {
				t.Error("RA set by an authoritative-only server")
			}
			if len(r.Question) != 1 || r.Question[0].Name != tt.qname {
				t.Errorf("question %v, want %s echoed as sent", r.Question, tt.qname)
			}
			switch {
			case tt.answer == "" && len(r.Answer) != 0:
				t.Errorf("answer %v, want none", r.Answer)
			case tt.answer != "":
				if len(r.Answer) != 1 {
					t.Fatalf("answer %v, want one record", r.Answer)
				}
				var got string
				switch rr := r.Answer[0].(type) {
				case *dns.A:
					got = rr.A.String()
				case *dns.NS:
					got = rr.Ns
				}
				if got != tt.answer || r.Answer[0].Header().Ttl != tt.answerTTL {
					t.Errorf("answer %v, want %s with TTL %d", r.Answer[0], tt.answer, tt.answerTTL)
				}
			}
			if tt.negSOA {
				soa := soaOf(t, r.Ns)
				if soa.Hdr.Name != "example.com." || soa.Serial != serial || soa.Hdr.Ttl != min(soa.Minttl, soaTTL) {
					t.Errorf("authority %v: want the zone's SOA, serial %d, TTL min(SOA TTL, minimum)", soa, serial)
				}
			} else if len(r.Ns) != 0 {
				t.Errorf("authority %v, want none", r.Ns)
			}
			var glue []string
			for _, rr := range r.Extra {
				if a, ok := rr.(*dns.A); ok && a.Hdr.Name == "ns1.example.com." {
					glue = append(glue, a.A.String())
				}
			}
			if (tt.glue == "" && len(glue) != 0) || (tt.glue != "" && (len(glue) != 1 || glue[0] != tt.glue)) {
				t.Errorf("glue %v, want %q", glue, tt.glue)
			}
			opt := r.IsEdns0()
			if tt.edns != (opt != nil) {
				t.Fatalf("reply OPT %v, query had EDNS0: %v", opt, tt.edns)
			}
			if opt != nil && (opt.Version() != 0 || !opt.Do() || opt.UDPSize() != maxUDPSize) {
				t.Errorf("reply OPT %v: want version 0, DO echoed, UDP size %d", opt, maxUDPSize)
			}
		})
	}

	// A new answer is served at once, with a new serial; setting the same
	// answer again changes nothing.
	ts.SetAnswer(secondary)
	ts.SetAnswer(secondary)
	r := query(t, ts.udp, "udp", "app.example.com.", dns.TypeA, false)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "127.2.1.10" {
		t.Fatalf("after SetAnswer: answer %v, want 127.2.1.10", r.Answer)
	}
	if got := apexSOA(); got != serial+1 {
		t.Fatalf("serial after one change = %d, want %d", got, serial+1)
	}
	if ts.Answer() != secondary {
		t.Fatalf("Answer() = %v, want %v", ts.Answer(), secondary)
	}
}

func TestServerNoAnswerYet(t *testing.T) {
	ts := startServer(t, testConfig())
	r := query(t, ts.udp, "udp", "app.example.com.", dns.TypeA, false)
	if r.Rcode != dns.RcodeServerFailure || len(r.Answer) != 0 {
		t.Fatalf("before SetAnswer: %s %v, want SERVFAIL", dns.RcodeToString[r.Rcode], r.Answer)
	}
	// The rest of the zone is served meanwhile.
	if r := query(t, ts.udp, "udp", "example.com.", dns.TypeSOA, false); r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("SOA before SetAnswer: %v", r)
	}
}

func TestServerIPv6Answer(t *testing.T) {
	ts := startServer(t, testConfig())
	ts.SetAnswer(netip.MustParseAddr("::1"))
	r := query(t, ts.udp, "udp", "app.example.com.", dns.TypeAAAA, false)
	if len(r.Answer) != 1 || r.Answer[0].(*dns.AAAA).AAAA.String() != "::1" {
		t.Fatalf("AAAA answer %v, want ::1", r.Answer)
	}
	if r := query(t, ts.udp, "udp", "app.example.com.", dns.TypeA, false); len(r.Answer) != 0 || len(r.Ns) != 1 {
		t.Fatalf("A for an IPv6 answer: %v, want NODATA", r)
	}
}

func TestServerRejects(t *testing.T) {
	ts := startServer(t, testConfig())
	ts.SetAnswer(netip.MustParseAddr("127.1.1.10"))

	t.Run("non-QUERY opcodes are NOTIMP", func(t *testing.T) {
		for _, op := range []int{dns.OpcodeNotify, dns.OpcodeUpdate, dns.OpcodeStatus} {
			m := new(dns.Msg)
			m.SetQuestion("example.com.", dns.TypeSOA)
			m.Opcode = op
			if r := exchange(t, ts.udp, "udp", m); r.Rcode != dns.RcodeNotImplemented {
				t.Errorf("opcode %s: rcode %s, want NOTIMP", dns.OpcodeToString[op], dns.RcodeToString[r.Rcode])
			}
		}
	})
	t.Run("EDNS version 1 is BADVERS", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetQuestion("app.example.com.", dns.TypeA)
		m.SetEdns0(1232, false)
		m.IsEdns0().SetVersion(1)
		r := exchange(t, ts.udp, "udp", m)
		if r.Rcode != dns.RcodeBadVers || len(r.Answer) != 0 || r.IsEdns0() == nil || r.IsEdns0().Version() != 0 {
			t.Fatalf("reply %v, want BADVERS with a version 0 OPT", r)
		}
	})
	t.Run("CHAOS class is REFUSED", func(t *testing.T) {
		m := new(dns.Msg)
		m.SetQuestion("version.bind.", dns.TypeTXT)
		m.Question[0].Qclass = dns.ClassCHAOS
		if r := exchange(t, ts.udp, "udp", m); r.Rcode != dns.RcodeRefused {
			t.Fatalf("rcode %s, want REFUSED", dns.RcodeToString[r.Rcode])
		}
	})
}

func TestServerSurvivesGarbage(t *testing.T) {
	ts := startServer(t, testConfig())
	ts.SetAnswer(netip.MustParseAddr("127.1.1.10"))

	conn, err := net.Dial("udp", ts.udp)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	garbage := [][]byte{
		{},
		{0x01},
		[]byte("not a dns message at all"),
		// A header claiming one question, then nothing.
		{0x12, 0x34, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
		// A header claiming one question with a label running off the end.
		{0x12, 0x35, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3f, 'a', 'b'},
		// A compression pointer to itself.
		{0x12, 0x36, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01},
		// Thousands of questions claimed.
		{0x12, 0x37, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		// A response (QR set) must be ignored, not answered.
		{0x12, 0x38, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
	}
	for _, g := range garbage {
		if _, err := conn.Write(g); err != nil {
			t.Fatalf("sending garbage: %v", err)
		}
	}
	// Garbage over TCP too: a length prefix and too few bytes, then close.
	tc, err := net.Dial("tcp", ts.tcp)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = tc.Write([]byte{0x00, 0x40, 0xde, 0xad})
	tc.Close()

	for _, network := range []string{"udp", "tcp"} {
		addr := map[string]string{"udp": ts.udp, "tcp": ts.tcp}[network]
		r := query(t, addr, network, "app.example.com.", dns.TypeA, false)
		if len(r.Answer) != 1 {
			t.Fatalf("%s query after garbage: %v", network, r)
		}
	}
}

func TestServeStops(t *testing.T) {
	ts := startServer(t, testConfig())
	ts.SetAnswer(netip.MustParseAddr("127.1.1.10"))
	// Hold a TCP connection open: shutting down must not wait for the client.
	idle, err := net.Dial("tcp", ts.tcp)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	query(t, ts.tcp, "tcp", "app.example.com.", dns.TypeA, false)

	if err := ts.stop(); err != nil {
		t.Fatalf("Serve after cancel = %v, want nil", err)
	}
	goleak.VerifyNone(t)
	c := &dns.Client{Net: "tcp", Timeout: time.Second}
	m := new(dns.Msg)
	m.SetQuestion("app.example.com.", dns.TypeA)
	if _, _, err := c.Exchange(m, ts.tcp); err == nil {
		t.Fatal("TCP query succeeded after Serve returned")
	}
}

func TestServeNoSockets(t *testing.T) {
	if err := NewServer(testConfig()).Serve(context.Background(), nil, nil); err == nil {
		t.Fatal("Serve without sockets succeeded")
	}
}

func TestServeCancelledBeforeStart(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := NewServer(testConfig()).Serve(ctx, pc, ln); err != nil {
		t.Fatalf("Serve with a done context = %v, want nil", err)
	}
}

func TestServeSocketFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // Accept fails at once
	err = NewServer(testConfig()).Serve(context.Background(), nil, ln)
	if err == nil {
		t.Fatal("Serve on a closed listener returned nil")
	}
	t.Log(err)
}
