package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// The netfilter queue protocol (linux/netfilter/nfnetlink_queue.h), which
// golang.org/x/sys/unix does not define.
const (
	nfqnlMsgPacket  = 0
	nfqnlMsgVerdict = 1
	nfqnlMsgConfig  = 2

	nfqaPacketHdr  = 1
	nfqaVerdictHdr = 2
	nfqaPayload    = 10

	nfqaCfgCmd      = 1
	nfqaCfgParams   = 2
	nfqaCfgQueueMax = 3
	nfqaCfgMask     = 4
	nfqaCfgFlags    = 5

	nfqnlCfgCmdBind   = 1
	nfqnlCopyPacket   = 2
	nfqaCfgFlagGSO    = 4
	nfqFlagBypass     = 1 // xt_NFQ_info_v3: accept when no program listens
	nfqCopyRange      = 64
	nfqMaxLen         = 20000 // packets held at once before the kernel drops, like netem's limit
	nfqReadBuffer     = 8 << 20
	nfqPacketTypeBase = unix.NFNL_SUBSYS_QUEUE << 8
)

// queue is one netfilter queue bound by this process: the kernel holds
// each packet a rule sends to it until the process gives its verdict.
type queue struct {
	conn *netlink.Conn
	num  uint16
}

// queuedPacket is a packet waiting for its verdict.
type queuedPacket struct {
	id       uint32
	src, dst uint32
	ipv4     bool
}

// openQueue binds the first free queue number from first on (another
// process, maybe another stack, may hold some).
func openQueue(first uint16, tries int) (*queue, error) {
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, step("opening a netfilter netlink socket", err)
	}
	_ = conn.SetOption(netlink.NoENOBUFS, true)
	if err := conn.SetReadBuffer(nfqReadBuffer); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("sizing the netfilter queue socket: %w", err)
	}
	forceReadBuffer(conn, nfqReadBuffer)
	var last error
	for i := 0; i < tries; i++ {
		num := first + uint16(i)
		q := &queue{conn: conn, num: num}
		// The kernel answers EPERM, not EBUSY, for a number another
		// socket holds: try the next one.
		if last = q.bind(); last == nil {
			return q, nil
		}
	}
	_ = conn.Close()
	if errors.Is(last, os.ErrPermission) && CheckNetAdmin() == nil {
		return nil, fmt.Errorf("binding a netfilter queue: numbers %d to %d are all taken by other processes", first, int(first)+tries-1)
	}
	return nil, step(fmt.Sprintf("binding a netfilter queue (numbers %d to %d)", first, int(first)+tries-1), last)
}

// forceReadBuffer raises the socket's buffer past net.core.rmem_max, which
// root may do; without it bursts of queued packets overflow the socket.
func forceReadBuffer(conn *netlink.Conn, size int) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, size)
	})
}

func (q *queue) bind() error {
	cmd := []byte{nfqnlCfgCmdBind, 0, 0, 0} // command, pad, protocol family (unused)
	params := make([]byte, 5)               // copy range, copy mode (packed)
	binary.BigEndian.PutUint32(params, nfqCopyRange)
	params[4] = nfqnlCopyPacket
	attrs := []netlink.Attribute{
		{Type: nfqaCfgCmd, Data: cmd},
		{Type: nfqaCfgParams, Data: params},
		{Type: nfqaCfgQueueMax, Data: be32(nfqMaxLen)},
		// GSO: hand over big loopback packets whole instead of segmenting them.
		{Type: nfqaCfgFlags, Data: be32(nfqaCfgFlagGSO)},
		{Type: nfqaCfgMask, Data: be32(nfqaCfgFlagGSO)},
	}
	_, err := q.conn.Execute(q.message(nfqnlMsgConfig, netlink.Request|netlink.Acknowledge, attrs))
	return err
}

func (q *queue) message(typ uint16, flags netlink.HeaderFlags, attrs []netlink.Attribute) netlink.Message {
	data, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		panic(err) // only fixed, well-formed attributes are marshalled
	}
	hdr := []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, byte(q.num >> 8), byte(q.num)}
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(nfqPacketTypeBase | typ), Flags: flags},
		Data:   append(hdr, data...),
	}
}

// receive waits for the next packets the kernel queued.
func (q *queue) receive() ([]queuedPacket, error) {
	msgs, err := q.conn.Receive()
	if err != nil {
		return nil, err
	}
	out := make([]queuedPacket, 0, len(msgs))
	for _, m := range msgs {
		if m.Header.Type != netlink.HeaderType(nfqPacketTypeBase|nfqnlMsgPacket) || len(m.Data) < 4 {
			continue
		}
		p, ok := parsePacket(m.Data[4:])
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}

func parsePacket(b []byte) (queuedPacket, bool) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return queuedPacket{}, false
	}
	var p queuedPacket
	var haveID bool
	for ad.Next() {
		switch ad.Type() {
		case nfqaPacketHdr:
			if d := ad.Bytes(); len(d) >= 4 {
				p.id, haveID = binary.BigEndian.Uint32(d), true
			}
		case nfqaPayload:
			if src, dst, err := ipv4Addrs(ad.Bytes()); err == nil {
				p.src, p.dst, p.ipv4 = src, dst, true
			}
		}
	}
	return p, haveID && ad.Err() == nil
}

// verdict lets the packet go on (accept) or drops it.
func (q *queue) verdict(id uint32, accept bool) error {
	v := make([]byte, 8)
	if accept {
		binary.BigEndian.PutUint32(v, 1) // NF_ACCEPT; NF_DROP is 0
	}
	binary.BigEndian.PutUint32(v[4:], id)
	_, err := q.conn.Send(q.message(nfqnlMsgVerdict, netlink.Request, []netlink.Attribute{{Type: nfqaVerdictHdr, Data: v}}))
	return err
}

// close unbinds the queue; the kernel drops what it still held and, thanks
// to the rules' bypass flag, lets later packets through untouched.
func (q *queue) close() error { return q.conn.Close() }

func be32(v uint32) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, v)
	return b
}

// step names the step that failed, except that a refusal by the kernel is
// ErrNoNetAdmin alone: one sentence naming the missing capability.
func step(what string, err error) error {
	if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM) {
		return ErrNoNetAdmin
	}
	return fmt.Errorf("%s: %w", what, err)
}
