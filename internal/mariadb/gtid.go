package mariadb

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// GTID is one MariaDB global transaction ID, domain-server-sequence.
type GTID struct {
	Domain, Server uint32
	Seq            uint64
}

func (g GTID) String() string { return fmt.Sprintf("%d-%d-%d", g.Domain, g.Server, g.Seq) }

// GTIDSet is a GTID position or state as MariaDB prints it, "0-1-100,1-2-5":
// one GTID per domain (gtid_binlog_pos, gtid_slave_pos, Gtid_IO_Pos) or per
// domain and server (gtid_binlog_state). It is kept sorted by domain, then
// server, with no two entries for the same pair.
type GTIDSet []GTID

// ParseGTIDSet reads a comma-separated list of GTIDs; "" is the empty set.
// Of two entries for the same domain and server the higher sequence counts.
func ParseGTIDSet(s string) (GTIDSet, error) {
	var set GTIDSet
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		g, err := parseGTID(part)
		if err != nil {
			return nil, err
		}
		set = append(set, g)
	}
	slices.SortFunc(set, func(a, b GTID) int {
		return cmp.Or(cmp.Compare(a.Domain, b.Domain), cmp.Compare(a.Server, b.Server), cmp.Compare(b.Seq, a.Seq))
	})
	return slices.CompactFunc(set, func(a, b GTID) bool { return a.Domain == b.Domain && a.Server == b.Server }), nil
}

func parseGTID(s string) (GTID, error) {
	fields := strings.Split(s, "-")
	if len(fields) != 3 {
		return GTID{}, fmt.Errorf("GTID %q is not domain-server-sequence", s)
	}
	domain, err1 := strconv.ParseUint(fields[0], 10, 32)
	server, err2 := strconv.ParseUint(fields[1], 10, 32)
	seq, err3 := strconv.ParseUint(fields[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return GTID{}, fmt.Errorf("GTID %q is not three unsigned numbers", s)
	}
	return GTID{Domain: uint32(domain), Server: uint32(server), Seq: seq}, nil
}

func (s GTIDSet) String() string {
	parts := make([]string, len(s))
	for i, g := range s {
		parts[i] = g.String()
	}
	return strings.Join(parts, ",")
}

// domainSeqs gives each domain's highest sequence number: how far the
// set has come in it, whichever server wrote the last transaction.
func (s GTIDSet) domainSeqs() map[uint32]uint64 {
	out := make(map[uint32]uint64, len(s))
	for _, g := range s {
		out[g.Domain] = max(out[g.Domain], g.Seq)
	}
	return out
}

// Diverged reports whether a server that is to follow newPrimary (an old
// primary coming back, say) holds a transaction newPrimary lacks, so that
// following would keep data the cluster never acknowledged or break on
// it: it must be re-cloned instead. Both sets should be gtid_binlog_state,
// the last GTID of every domain and server: a server's own sequence
// numbers in a domain only grow (gtid_strict_mode), and newPrimary logged
// everything it applied (log_slave_updates), so old's transactions are all
// in newPrimary exactly when, for every domain and server, newPrimary has
// come at least as far. Given positions instead of states, or a
// newPrimary whose binary log began at a clone, it can only err towards
// a needless clone, never towards keeping a diverged server.
func Diverged(old, newPrimary GTIDSet) bool {
	for _, g := range old {
		i, found := slices.BinarySearchFunc(newPrimary, g, func(a, b GTID) int {
			return cmp.Or(cmp.Compare(a.Domain, b.Domain), cmp.Compare(a.Server, b.Server))
		})
		if !found || newPrimary[i].Seq < g.Seq {
			return true
		}
	}
	return false
}

// Behind counts the transactions a server at pos has yet to apply to
// reach target, summed over the domains, from GTID sequence numbers
// (which run on across servers within a domain).
func Behind(target, pos GTIDSet) int64 {
	have := pos.domainSeqs()
	var n int64
	for domain, seq := range target.domainSeqs() {
		if seq > have[domain] {
			n += int64(seq - have[domain])
		}
	}
	return n
}

// Lag measures how far replica is behind primary: in bytes of the
// primary's binary log not yet applied, in transactions (from GTID
// sequence numbers per domain) and in seconds (Seconds_Behind_Master).
// Bytes are -1 when they cannot be told: the replica applies an older
// binary log file than the primary writes (the sizes in between are
// unknown) or follows another server (every server names its files
// alike). Seconds are -1 when MariaDB does
// not know them (the replica's threads are not running). With no
// transaction missing, bytes and seconds are 0, whatever the replica last
// reported.
func Lag(primary Position, replica ReplicaStatus) (bytes, transactions int64, seconds float64) {
	bytes = -1
	if replica.PrimaryID == primary.ServerID && replica.RelayMasterLogFile != "" && replica.RelayMasterLogFile == primary.File {
		bytes = max(0, primary.Offset-replica.ExecMasterLogPos)
	}
	transactions = Behind(primary.BinlogPos, replica.SlavePos)
	seconds = replica.SecondsBehindMaster
	if transactions == 0 {
		bytes, seconds = 0, 0
	}
	return bytes, transactions, seconds
}
