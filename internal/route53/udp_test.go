package route53

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// startUDP serves s on a UDP socket bound to addr until the test ends and
// returns the address to query.
func startUDP(t *testing.T, s *Server, addr string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	local := pc.LocalAddr().(*net.UDPAddr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	if local.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(local.Port))
	}
	return local.String()
}

// rawExchange sends m to addr and returns the reply, or nil if none came
// within wait.
func rawExchange(t *testing.T, addr string, m []byte, wait time.Duration) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(m); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// TestUDPLoopMatchesMiekg sends the same messages, hot queries, others and
// garbage, to the server's own UDP loop (a socket bound to one address) and
// to miekg/dns's UDP server (which serves wildcard sockets): every reply,
// and every silence, must be the same.
func TestUDPLoopMatchesMiekg(t *testing.T) {
	s := NewServer(testConfig())
	s.SetAnswer(netip.MustParseAddr("127.1.1.10"))
	own := startUDP(t, s, "127.0.0.1:0")
	miekg := startUDP(t, s, "0.0.0.0:0")

	msgs := append(fastQueries(t), slowQueries(t)...)
	for i, g := range [][]byte{
		{},
		{0x01},
		[]byte("not a dns message at all"),
		{0x12, 0x35, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3f, 'a', 'b'},
		{0x12, 0x36, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01},
		{0x12, 0x37, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0x12, 0x38, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},
		{0x12, 0x39, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03},
		{0x12, 0x3a, 0x30, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x01},
		append(msgOf(t, dns.TypeA, nil), make([]byte, 1500)...), // cut at 1232 bytes
		packedQuery(t, "example.com.", dns.TypeNS, true),
		packedQuery(t, "example.com.", dns.TypeSOA, false),
		packedQuery(t, "ns1.example.com.", dns.TypeA, false),
		packedQuery(t, "nope.example.com.", dns.TypeA, true),
		packedQuery(t, "example.org.", dns.TypeA, false),
	} {
		msgs = append(msgs, rawQuery{name: "garbage or other " + string(rune('a'+i)), msg: g})
	}
	for _, q := range msgs {
		t.Run(q.name, func(t *testing.T) {
			t.Parallel()
			const wait = 500 * time.Millisecond
			want := rawExchange(t, miekg, q.msg, wait)
			got := rawExchange(t, own, q.msg, wait)
			if !bytes.Equal(got, want) {
				var g, w dns.Msg
				_, _ = g.Unpack(got), w.Unpack(want)
				t.Fatalf("query %x:\nown loop %x\n%v\nmiekg/dns %x\n%v", q.msg, got, &g, want, &w)
			}
		})
	}
}

// TestUDPManyClients keeps many queries from several clients in flight at
// once, hot and other ones mixed, so readers take them in batches: each
// client gets its own replies, each the one to its query.
func TestUDPManyClients(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(listen, func(t *testing.T) {
			if pc, err := net.ListenPacket("udp", listen); err != nil {
				t.Skipf("no %s here: %v", listen, err)
			} else {
				pc.Close()
			}
			s := NewServer(testConfig())
			s.SetAnswer(netip.MustParseAddr("127.1.1.10"))
			addr := startUDP(t, s, listen)

			const clients, inFlight = 4, 64
			errs := make(chan error, clients)
			for c := range clients {
				go func() { errs <- burst(addr, uint16(c), inFlight) }()
			}
			for range clients {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
			// Half the queries are the fast path's, counted per batch.
			half := uint64(clients * inFlight / 2)
			if got, want := counts(s), map[string]uint64{"A/NOERROR": half, "NS/NOERROR": half}; !maps.Equal(got, want) {
				t.Errorf("counts %v, want %v", got, want)
			}
		})
	}
}

// burst sends n queries at once from one socket, ID i asking for A if i is
// even and NS if odd, and checks the n replies.
func burst(addr string, client uint16, n int) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	for i := range n {
		m := new(dns.Msg)
		m.SetQuestion("app.example.com.", dns.TypeA)
		if i%2 == 1 {
			m.SetQuestion("example.com.", dns.TypeNS)
		}
		m.Id = client<<8 | uint16(i)
		b, err := m.Pack()
		if err != nil {
			return err
		}
		if _, err := c.Write(b); err != nil {
			return err
		}
	}
	seen := make(map[uint16]bool)
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(seen) < n {
		k, err := c.Read(buf)
		if err != nil {
			return err
		}
		var r dns.Msg
		if err := r.Unpack(buf[:k]); err != nil {
			return err
		}
		i := int(r.Id & 0xff)
		if r.Id>>8 != client || seen[r.Id] || len(r.Answer) != 1 {
			return errors.New("unexpected reply: " + r.String())
		}
		seen[r.Id] = true
		if want := map[bool]uint16{false: dns.TypeA, true: dns.TypeNS}[i%2 == 1]; r.Answer[0].Header().Rrtype != want {
			return errors.New("reply to the wrong query: " + r.String())
		}
	}
	return nil
}

func TestServeUDPSocketFails(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pc.Close() // reading fails at once
	err = NewServer(testConfig()).Serve(context.Background(), pc, nil)
	if err == nil {
		t.Fatal("Serve on a closed UDP socket returned nil")
	}
	t.Log(err)
}

// TestUDPLoopStopsWhileBusy cancels Serve while queries keep arriving: it
// still returns, and leaves no reader behind (TestMain checks).
func TestUDPLoopStopsWhileBusy(t *testing.T) {
	s := NewServer(testConfig())
	s.SetAnswer(netip.MustParseAddr("127.1.1.10"))
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, pc, nil) }()

	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := msgOf(t, dns.TypeA, nil)
	stopFlood, flooding := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(flooding)
		for i := 0; ; i++ {
			select {
			case <-stopFlood:
				return
			default:
			}
			binary.BigEndian.PutUint16(q, uint16(i))
			_, _ = c.Write(q) // fails once the server is gone (ICMP port unreachable)
		}
	}()
	defer func() { close(stopFlood); <-flooding }()
	// Wait until the server answers amid the flood, then stop it.
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 512)); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return while queries kept arriving")
	}
}
