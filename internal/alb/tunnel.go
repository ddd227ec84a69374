package alb

import (
	"bufio"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// tunnel relays a switched protocol (a WebSocket) after a 101 response: it
// writes the response, then copies bytes both ways until both sides have
// closed, either fails, or neither sends anything for the idle timeout. The
// client's connection closes afterwards.
func (c *conn) tunnel(u *upstream, t *target, rs *routeSet) bool {
	p := &c.resp
	p.head = append(p.head, "Connection: Upgrade\r\n\r\n"...)
	idle := rs.idle
	_ = c.nc.SetWriteDeadline(time.Now().Add(idle))
	_, _ = c.bw.Write(p.head)
	if err := c.bw.Flush(); err != nil {
		c.cur.Store(nil)
		t.pool.discard(u)
		return false
	}

	var last atomic.Int64 // when either side last sent something
	last.Store(time.Now().UnixNano())
	done := make(chan error, 1)
	go func() {
		err := pipe(&c.out, c.nc, c.ubr, u.nc, idle, &last)
		closeWrite(c.nc)
		done <- err
	}()
	in := &countWriter{w: u.nc}
	err := pipe(in, u.nc, c.br, c.nc, idle, &last)
	closeWrite(u.nc)
	if err != nil {
		// One side failed: end the other direction too.
		_ = u.nc.Close()
		_ = c.nc.Close()
	}
	if err2 := <-done; err2 != nil {
		_ = u.nc.Close()
		_ = c.nc.Close()
	}
	c.entry.received += in.n
	c.cur.Store(nil)
	t.pool.discard(u)
	return false
}

// pipe copies from src, a buffered reader on the connection rc, to dst on
// the connection wc, until src ends (nil) or fails. A read that waits
// longer than idle fails only if the other direction was idle as well.
func pipe(dst interface{ Write([]byte) (int, error) }, wc net.Conn, src *bufio.Reader, rc net.Conn, idle time.Duration, last *atomic.Int64) error {
	buf := make([]byte, 32<<10)
	for {
		_ = rc.SetReadDeadline(time.Now().Add(idle))
		n, err := src.Read(buf)
		if n > 0 {
			now := time.Now()
			last.Store(now.UnixNano())
			_ = wc.SetWriteDeadline(now.Add(idle))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, last.Load())) < idle {
				continue // the other direction is busy
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// closeWrite half-closes a TCP connection: the peer reads EOF, and can
// still send.
func closeWrite(nc net.Conn) {
	if tc, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
		return
	}
	_ = nc.Close()
}

// countWriter counts what it writes.
type countWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (w *countWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.n += int64(n)
	return n, err
}
