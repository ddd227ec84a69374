package rds

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
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

// netCut drops the packets that processes of uid send to ap over TCP,
// as a network partition between them and ap would (TCP acknowledgements
// included, so the other direction stalls too). Restore lifts it; the
// nftables table is deleted when the test ends in any case.
type netCut struct {
	t     *testing.T
	table *nftables.Table
}

func cutFrom(t *testing.T, uid uint32, ap netip.AddrPort) *netCut {
	t.Helper()
	conn, err := nftables.New()
	if err != nil {
		t.Fatalf("opening netlink for nftables: %v", err)
	}
	table := conn.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: fmt.Sprintf("hastack_test_cut_%d", os.Getpid())})
	policy := nftables.ChainPolicyAccept
	chain := conn.AddChain(&nftables.Chain{
		Name: "output", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityFilter, Policy: &policy,
	})
	uidBytes := binary.NativeEndian.AppendUint32(nil, uid)
	addr := ap.Addr().As4()
	port := binary.BigEndian.AppendUint16(nil, ap.Port())
	conn.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeySKUID, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: uidBytes},
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.NFPROTO_IPV4}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr[:]},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: port},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}})
	if err := conn.Flush(); err != nil {
		t.Fatalf("adding the nftables rule that cuts uid %d from %s: %v", uid, ap, err)
	}
	c := &netCut{t: t, table: table}
	t.Cleanup(c.Restore)
	return c
}

// Restore deletes the rule's table; restoring twice does nothing.
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
