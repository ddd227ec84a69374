package network

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"
)

// TablePrefix starts the name of every nftables table hastack creates.
const TablePrefix = "hastack_"

const chainName = "input"

// TCP header flags.
const (
	tcpSYN = 0x02
	tcpACK = 0x10
)

// nftMu serialises batches: google/nftables numbers sets from one global
// counter that its connections do not guard against each other.
var nftMu sync.Mutex

// TableName is the nftables table (family ip) holding a stack's rules:
// TablePrefix and the stack name with anything but letters, digits, '-'
// and '_' replaced by '_'.
func TableName(stack string) string {
	var b strings.Builder
	b.WriteString(TablePrefix)
	for _, r := range stack {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := b.String()
	if len(name) > 200 {
		name = name[:200]
	}
	return name
}

// writeRules replaces the table's rules with the plan's, in one
// transaction: the kernel applies all of it or none of it, and no packet
// sees a half-written rule set.
//
// Every packet between loopback addresses passes the input hook exactly
// once, replies included, after the connection tracker has classified it.
// Dropping there rather than at output is also what a real network does:
// the sender's write succeeds and the packet is lost on the way.
func writeRules(table string, rules []Rule, queueNum uint16) error {
	nftMu.Lock()
	defer nftMu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return step("opening nftables", err)
	}
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: table})
	policy := nftables.ChainPolicyAccept
	ch := c.AddChain(&nftables.Chain{
		Name:     chainName,
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookInput,
		Priority: nftables.ChainPriorityFilter,
		Policy:   &policy,
	})
	c.FlushChain(ch)
	for _, r := range rules {
		exprs, err := ruleExprs(c, t, r, queueNum)
		if err != nil {
			return err
		}
		c.AddRule(&nftables.Rule{
			Table:    t,
			Chain:    ch,
			Exprs:    exprs,
			UserData: userdata.AppendString(nil, userdata.TypeComment, r.Comment),
		})
	}
	if err := c.Flush(); err != nil {
		return step(fmt.Sprintf("writing nftables table %s", table), err)
	}
	return nil
}

// ruleExprs is a rule as nftables expressions, adding the anonymous sets it
// looks addresses up in to the batch.
func ruleExprs(c *nftables.Conn, t *nftables.Table, r Rule, queueNum uint16) ([]expr.Any, error) {
	var exprs []expr.Any
	if r.Port != 0 {
		exprs = append(exprs,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.Port)},
		)
	}
	for _, m := range []struct {
		set    AddrSet
		offset uint32
	}{{r.Dst, 16}, {r.Src, 12}} {
		if m.set.IsAll() {
			continue
		}
		s := &nftables.Set{
			Table:     t,
			Anonymous: true,
			Constant:  true,
			Interval:  true,
			KeyType:   nftables.TypeIPAddr,
		}
		if err := c.AddSet(s, setElements(m.set)); err != nil {
			return nil, fmt.Errorf("building the address set of rule %q: %w", r.Comment, err)
		}
		exprs = append(exprs,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: m.offset, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: s.Name, SetID: s.ID},
		)
	}
	if r.Opening {
		// tcp flags & (syn|ack) == syn
		exprs = append(exprs,
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{tcpSYN | tcpACK}, Xor: []byte{0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{tcpSYN}},
		)
	}
	exprs = append(exprs, &expr.Counter{})
	switch r.Verdict {
	case Drop:
		exprs = append(exprs, &expr.Verdict{Kind: expr.VerdictDrop})
	case Impair:
		exprs = append(exprs, queueTarget(queueNum))
	default:
		return nil, fmt.Errorf("rule %q has no verdict", r.Comment)
	}
	return exprs, nil
}

// queueTarget hands the packet to our netfilter queue. It is the xtables
// NFQUEUE target (revision 3) through nftables' compatibility layer, which
// works on kernels built without nft_queue; with the bypass flag, packets
// pass untouched while no process listens on the queue.
func queueTarget(num uint16) *expr.Target {
	info := make(xt.Unknown, 8) // struct xt_NFQ_info_v3, padded to 8 bytes
	binary.NativeEndian.PutUint16(info[0:], num)
	binary.NativeEndian.PutUint16(info[2:], 1) // queues_total
	binary.NativeEndian.PutUint16(info[4:], nfqFlagBypass)
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &info}
}

// setElements is an interval set's elements: each range's first address,
// and the address after its last flagged as the interval's end.
func setElements(s AddrSet) []nftables.SetElement {
	var out []nftables.SetElement
	for _, sp := range s.spans {
		out = append(out, nftables.SetElement{Key: binaryutil.BigEndian.PutUint32(sp.lo)})
		if sp.hi != math.MaxUint32 {
			out = append(out, nftables.SetElement{Key: binaryutil.BigEndian.PutUint32(sp.hi + 1), IntervalEnd: true})
		}
	}
	return out
}

// Remove deletes the stack's table, if there is one: used by down, and by
// up to clear what a killed hastack left behind.
func Remove(stack string) error {
	return removeTable(TableName(stack))
}

func removeTable(name string) error {
	nftMu.Lock()
	defer nftMu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return step("opening nftables", err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return step("listing nftables tables", err)
	}
	for _, t := range tables {
		if t.Name == name {
			c.DelTable(t)
			if err := c.Flush(); err != nil {
				return step(fmt.Sprintf("deleting nftables table %s", name), err)
			}
		}
	}
	return nil
}

// Leftovers lists every nftables table hastack created (of any stack) that
// still exists, as "family name"; tests check it is empty after them.
func Leftovers() ([]string, error) {
	nftMu.Lock()
	defer nftMu.Unlock()
	c, err := nftables.New()
	if err != nil {
		return nil, step("opening nftables", err)
	}
	tables, err := c.ListTables()
	if err != nil {
		return nil, step("listing nftables tables", err)
	}
	var out []string
	for _, t := range tables {
		if strings.HasPrefix(t.Name, TablePrefix) {
			out = append(out, fmt.Sprintf("%s %s", familyName(t.Family), t.Name))
		}
	}
	return out, nil
}

func familyName(f nftables.TableFamily) string {
	switch f {
	case nftables.TableFamilyIPv4:
		return "ip"
	case nftables.TableFamilyIPv6:
		return "ip6"
	case nftables.TableFamilyINet:
		return "inet"
	}
	return fmt.Sprintf("family%d", f)
}
