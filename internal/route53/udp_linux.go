//go:build linux

package route53

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// udpBatch is how many datagrams a reader takes with one recvmmsg and
// answers with one sendmmsg.
const udpBatch = 32

// mmsghdr is struct mmsghdr of recvmmsg(2): a message and its length.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// batchReader is one reader's buffers and the messages describing them, set
// up once: reading and answering a batch allocates nothing on the fast path.
type batchReader struct {
	l    *udpLoop
	raw  syscall.RawConn
	in   [udpBatch][]byte
	out  [udpBatch][]byte
	peer [udpBatch]unix.RawSockaddrInet6 // large enough for IPv4 too
	iovs [2 * udpBatch]unix.Iovec        // in, then out
	recv [udpBatch]mmsghdr
	send [udpBatch]mmsghdr

	n       int           // messages in recv after a read
	pending []mmsghdr     // replies in send not yet sent
	errno   syscall.Errno // of the last recvmmsg
	readFn  func(fd uintptr) bool
	writeFn func(fd uintptr) bool
	w       replyBuffer
}

func newBatchReader(l *udpLoop, conn *net.UDPConn) (*batchReader, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	b := &batchReader{l: l, raw: raw, w: replyBuffer{local: conn.LocalAddr()}}
	in := make([]byte, udpBatch*maxUDPSize)
	out := make([]byte, udpBatch*maxUDPSize)
	for i := range udpBatch {
		b.in[i] = in[i*maxUDPSize : (i+1)*maxUDPSize : (i+1)*maxUDPSize]
		b.out[i] = out[i*maxUDPSize : (i+1)*maxUDPSize : (i+1)*maxUDPSize]
		iov := &b.iovs[i]
		iov.Base = &b.in[i][0]
		iov.SetLen(maxUDPSize) // longer queries are cut, as miekg/dns does
		h := &b.recv[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&b.peer[i]))
		h.Iov = iov
		h.SetIovlen(1)
		b.send[i].hdr.Iov = &b.iovs[udpBatch+i]
		b.send[i].hdr.SetIovlen(1)
	}
	b.readFn, b.writeFn = b.read, b.write
	return b, nil
}

// work is one reader on conn: take a batch of queries, answer them all,
// send the replies at once, repeat.
func (l *udpLoop) work(conn *net.UDPConn) error {
	b, err := newBatchReader(l, conn)
	if err != nil {
		return err
	}
	for {
		b.errno = 0
		err := b.raw.Read(b.readFn)
		if err == nil && b.errno != 0 {
			err = b.errno
		}
		if err != nil {
			if err = l.readFailed(err); err != errRetry {
				return err
			}
			continue
		}
		b.answer()
		for len(b.pending) > 0 {
			if err := b.raw.Write(b.writeFn); err != nil {
				break // closed: the next read says why
			}
		}
	}
}

// read is one recvmmsg on the socket fd, for RawConn.Read: false to wait
// until the socket is readable.
func (b *batchReader) read(fd uintptr) bool {
	for i := range b.recv {
		b.recv[i].hdr.Namelen = unix.SizeofSockaddrInet6
	}
	n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.recv[0])), udpBatch, 0, 0, 0)
	if errno == unix.EAGAIN {
		return false
	}
	b.n, b.errno = int(n), errno
	if errno != 0 {
		b.n = 0
	}
	return true
}

// answer puts the replies to the batch read into send, as pending.
func (b *batchReader) answer() {
	s := b.l.s
	k := 0
	var fast [numQtypes]uint64 // the fast path's answers, counted once per batch
	for i := range b.n {
		m := b.in[i][:b.recv[i].len]
		reply := s.fastReply(b.out[i][:0], m)
		if reply != nil {
			fast[qtypeIndex(s.fastQtype(m))]++
		} else {
			b.w.peer = b.peerAddr(i)
			if reply = s.answerFull(b.out[i][:0], m, &b.w); reply == nil {
				continue
			}
		}
		h := &b.send[k].hdr
		h.Name = b.recv[i].hdr.Name
		h.Namelen = b.recv[i].hdr.Namelen
		h.Iov.Base = &reply[0]
		h.Iov.SetLen(len(reply))
		k++
	}
	for t, n := range fast {
		if n > 0 {
			s.queries.n[t][rcNoError].Add(n)
		}
	}
	b.pending = b.send[:k]
}

// write is one sendmmsg of the pending replies, for RawConn.Write: false to
// wait until the socket is writable. A reply the socket refuses is dropped,
// as a lost datagram.
func (b *batchReader) write(fd uintptr) bool {
	n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.pending[0])), uintptr(len(b.pending)), 0, 0, 0)
	switch {
	case errno == unix.EAGAIN:
		return false
	case errno != 0:
		b.pending = b.pending[1:]
	default:
		b.pending = b.pending[n:]
	}
	return true
}

// peerAddr is the source address of message i.
func (b *batchReader) peerAddr(i int) netip.AddrPort {
	sa := &b.peer[i]
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port)
	}
	return netip.AddrPort{}
}
