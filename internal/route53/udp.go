package route53

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// udpLoop serves a UDP socket bound to one address with one reader per
// processor, each looping over read, answer, write on a descriptor of its
// own: no goroutine per query, no lock shared between readers, no allocation
// for the hot query, and no control message per reply, since the socket's
// own address is the replies' source. On Linux a reader takes and answers
// queries in batches (recvmmsg, sendmmsg).
type udpLoop struct {
	s     *Server
	conns []*net.UDPConn // one per reader: the socket Serve was given, then duplicates of it

	stopping atomic.Bool
	stopOnce sync.Once
	errOnce  sync.Once
	err      error // the first reader's failure, set in errOnce
}

// udpReadBuffer is the socket receive buffer asked for (the kernel caps it
// at net.core.rmem_max): room for bursts while the readers are busy.
const udpReadBuffer = 4 << 20

// newUDPLoop returns a loop for pc, or nil if pc is not a UDP socket bound
// to a specific address: a wildcard socket needs each reply's source address
// set per packet, which miekg/dns's server does.
func newUDPLoop(s *Server, pc net.PacketConn) *udpLoop {
	conn, ok := pc.(*net.UDPConn)
	if !ok {
		return nil
	}
	addr, ok := conn.LocalAddr().(*net.UDPAddr)
	if !ok || addr.IP == nil || addr.IP.IsUnspecified() {
		return nil
	}
	// Best effort: a larger buffer only means fewer queries dropped in bursts.
	_ = conn.SetReadBuffer(udpReadBuffer)
	l := &udpLoop{s: s, conns: []*net.UDPConn{conn}}
	for range runtime.GOMAXPROCS(0) - 1 {
		c, err := dupUDP(conn)
		if err != nil {
			break // fewer readers; still correct
		}
		l.conns = append(l.conns, c)
	}
	return l
}

// serve answers queries until stop is called or the socket fails, then
// closes the socket. It returns the failure, or nil after stop.
func (l *udpLoop) serve() error {
	defer func() {
		for _, c := range l.conns {
			c.Close()
		}
	}()
	var wg sync.WaitGroup
	for _, c := range l.conns {
		wg.Go(func() {
			if err := l.work(c); err != nil {
				l.errOnce.Do(func() { l.err = err })
				l.stop()
			}
		})
	}
	wg.Wait()
	return l.err
}

// dupUDP is a second descriptor for the socket of c, with a poller and read
// lock of its own.
func dupUDP(c *net.UDPConn) (*net.UDPConn, error) {
	f, err := c.File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pc, err := net.FilePacketConn(f)
	if err != nil {
		return nil, err
	}
	d, ok := pc.(*net.UDPConn)
	if !ok {
		pc.Close()
		return nil, errors.New("duplicate of a UDP socket is not UDP")
	}
	return d, nil
}

// stop makes every reader return soon; serve returns once they have.
func (l *udpLoop) stop() {
	l.stopOnce.Do(func() {
		l.stopping.Store(true)
		// Wakes the readers, also one waiting to write; one that reads
		// later fails at once.
		for _, c := range l.conns {
			_ = c.SetDeadline(time.Unix(1, 0))
		}
	})
}

// readFailed decides what a reader does after the read error err: nil to
// return quietly (stopping), errRetry to read again, or the failure.
func (l *udpLoop) readFailed(err error) error {
	switch {
	case l.stopping.Load():
		return nil
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, syscall.ENOBUFS), errors.Is(err, syscall.ENOMEM),
		errors.Is(err, syscall.EINTR):
		// Late ICMP errors and a short lack of memory concern one
		// datagram, not the socket.
		return errRetry
	default:
		return err
	}
}

var errRetry = errors.New("retry")

// answer writes into out the reply to the UDP message m and returns it, or
// nil if m gets no reply. w is the reader's writer for the full path, which
// collects its reply; its peer must be set for m.
func (s *Server) answer(out, m []byte, w *replyBuffer) []byte {
	if reply := s.fastReply(out, m); reply != nil {
		s.queries.add(s.fastQtype(m), dns.RcodeSuccess, 1)
		return reply
	}
	return s.answerFull(out, m, w)
}

// answerFull is answer without the fast path.
func (s *Server) answerFull(out, m []byte, w *replyBuffer) []byte {
	w.out, w.written = out, false
	s.serveMessage(w, m)
	if !w.written {
		return nil
	}
	return w.out
}

// serveMessage answers the UDP message m the way miekg/dns's server does
// around its handler: nothing for less than a header or a response,
// FORMERR or NOTIMP for what acceptQuery rejects or what does not unpack,
// the handler for the rest.
func (s *Server) serveMessage(w dns.ResponseWriter, m []byte) {
	if len(m) < headerLen {
		return
	}
	dh := dns.Header{
		Id:      binary.BigEndian.Uint16(m[0:]),
		Bits:    binary.BigEndian.Uint16(m[2:]),
		Qdcount: binary.BigEndian.Uint16(m[4:]),
		Ancount: binary.BigEndian.Uint16(m[6:]),
		Nscount: binary.BigEndian.Uint16(m[8:]),
		Arcount: binary.BigEndian.Uint16(m[10:]),
	}
	req := new(dns.Msg)
	action := acceptQuery(dh)
	switch action {
	case dns.MsgIgnore:
		return
	case dns.MsgAccept:
		if req.Unpack(m) == nil {
			s.serve(w, req, true)
			return
		}
		// Rejected as malformed, with the question if it unpacked.
	default:
		_ = req.Unpack(m[:headerLen]) // the header alone, which cannot fail
	}
	opcode := req.Opcode
	req.SetRcodeFormatError(req)
	req.Zero = false
	if action == dns.MsgRejectNotImplemented {
		req.Opcode = opcode
		req.Rcode = dns.RcodeNotImplemented
	}
	req.Ns, req.Answer, req.Extra = nil, nil, nil
	s.queries.addMsg(req)
	_ = w.WriteMsg(req)
}

// replyBuffer is the dns.ResponseWriter of the full path on UDP: it keeps
// the reply for the reader to send.
type replyBuffer struct {
	local   net.Addr
	peer    netip.AddrPort
	out     []byte // the reply is appended here
	written bool
}

func (w *replyBuffer) LocalAddr() net.Addr  { return w.local }
func (w *replyBuffer) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(w.peer) }
func (w *replyBuffer) Write(b []byte) (int, error) {
	if w.written {
		return 0, errors.New("second reply to one UDP query")
	}
	w.out, w.written = append(w.out, b...), true
	return len(b), nil
}
func (w *replyBuffer) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
func (w *replyBuffer) Close() error        { return nil }
func (w *replyBuffer) TsigStatus() error   { return nil }
func (w *replyBuffer) TsigTimersOnly(bool) {}
func (w *replyBuffer) Hijack()             {}
