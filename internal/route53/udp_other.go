//go:build !linux

package route53

import "net"

// work is one reader on conn: read a query, answer it, repeat.
func (l *udpLoop) work(conn *net.UDPConn) error {
	in := make([]byte, maxUDPSize) // longer queries are cut, as miekg/dns does
	out := make([]byte, 0, maxUDPSize)
	w := &replyBuffer{local: conn.LocalAddr()}
	for {
		n, peer, err := conn.ReadFromUDPAddrPort(in)
		if err != nil {
			if err = l.readFailed(err); err != errRetry {
				return err
			}
			continue
		}
		w.peer = peer
		if reply := l.s.answer(out[:0], in[:n], w); reply != nil {
			_, _ = conn.WriteToUDPAddrPort(reply, peer)
		}
	}
}
