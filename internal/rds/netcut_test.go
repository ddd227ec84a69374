package rds

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/hastack/hastack/internal/testenv"
	"golang.org/x/sys/unix"
)

// requireNetAdmin skips a test that changes the host's packet filter
// unless the process may (root), or fails it under
// HASTACK_REQUIRE_NETADMIN=1.
func requireNetAdmin(t *testing.T) {
	t.Helper()
	testenv.RequireNetAdmin(t)
}

// netCut drops every IPv4 packet between two sets of addresses, in both
// directions, as a network partition between two failure domains would:
// the packet filter judges a packet by its source and destination
// address, so a connection is cut only if it leaves from an address of
// its own domain. Restore lifts it; the nftables table is deleted when
// the test ends in any case.
type netCut struct {
	t     *testing.T
	table *nftables.Table
}

var cuts atomic.Int32

func cutBetween(t *testing.T, a, b []netip.Prefix) *netCut {
	t.Helper()
	conn, err := nftables.New()
	if err != nil {
		t.Fatalf("opening netlink for nftables: %v", err)
	}
	removeStaleCuts(t, conn)
	table := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: fmt.Sprintf("hastack_test_cut_%d_%d", os.Getpid(), cuts.Add(1))})
	policy := nftables.ChainPolicyAccept
	chain := conn.AddChain(&nftables.Chain{
		Name: "output", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &policy,
	})
	for _, from := range a {
		for _, to := range b {
			for _, dir := range [][2]netip.Prefix{{from, to}, {to, from}} {
				exprs := []expr.Any{
					&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
					&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
				}
				exprs = append(exprs, matchPrefix(12, dir[0])...) // source address
				exprs = append(exprs, matchPrefix(16, dir[1])...) // destination address
				exprs = append(exprs, &expr.Verdict{Kind: expr.VerdictDrop})
				conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: exprs})
			}
		}
	}
	if err := conn.Flush(); err != nil {
		t.Fatalf("adding the nftables rules that cut %v from %v: %v", a, b, err)
	}
	c := &netCut{t: t, table: table}
	t.Cleanup(c.Restore)
	return c
}

// removeStaleCuts deletes the tables of test processes that were killed
// before they could delete them.
func removeStaleCuts(t *testing.T, conn *nftables.Conn) {
	t.Helper()
	tables, err := conn.ListTables()
	if err != nil {
		t.Fatalf("listing nftables tables: %v", err)
	}
	for _, table := range tables {
		rest, ok := strings.CutPrefix(table.Name, "hastack_test_cut_")
		if !ok {
			continue
		}
		pid, _, _ := strings.Cut(rest, "_")
		if n, err := strconv.Atoi(pid); err == nil && n != os.Getpid() && !alive(n) {
			conn.DelTable(table)
		}
	}
}

// matchPrefix matches the IPv4 address at offset in the network header
// against p.
func matchPrefix(offset uint32, p netip.Prefix) []expr.Any {
	p = p.Masked()
	addr := p.Addr().As4()
	var m [4]byte
	for i := range p.Bits() {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: m[:], Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr[:]},
	}
}

// hosts is the /32 prefix of each address.
func hosts(addrs ...netip.Addr) []netip.Prefix {
	out := make([]netip.Prefix, len(addrs))
	for i, a := range addrs {
		out[i] = netip.PrefixFrom(a, 32)
	}
	return out
}

// Restore deletes the rules' table; restoring twice does nothing.
func (c *netCut) Restore() {
	if c.table == nil {
		return
	}
	conn, err := nftables.New()
	if err == nil {
		conn.DelTable(c.table)
		err = conn.Flush()
	}
	if err != nil {
		c.t.Errorf("deleting nftables table %s: %v", c.table.Name, err)
	}
	c.table = nil
}
