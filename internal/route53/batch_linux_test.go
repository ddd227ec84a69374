//go:build linux

package route53

import (
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// BenchmarkBatchAnswer is a reader's work on a full batch of hot queries
// between recvmmsg and sendmmsg: the fast path's replies and their count.
func BenchmarkBatchAnswer(b *testing.B) {
	s := NewServer(testConfig())
	s.SetAnswer(netip.MustParseAddr("127.1.1.10"))
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	conn := pc.(*net.UDPConn)
	br, err := newBatchReader(&udpLoop{s: s, conns: []*net.UDPConn{conn}}, conn)
	if err != nil {
		b.Fatal(err)
	}
	q := msgOf(b, dns.TypeA, withEDNS(false))
	for i := range udpBatch {
		br.recv[i].len = uint32(copy(br.in[i], q))
	}
	br.n = udpBatch
	b.ReportAllocs()
	for b.Loop() {
		br.answer()
		if len(br.pending) != udpBatch {
			b.Fatal("not every query answered")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*udpBatch), "ns/query")
}
