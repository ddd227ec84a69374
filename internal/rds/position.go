package rds

import (
	"fmt"
	"strings"

	"github.com/hastack/hastack/internal/mariadb"
)

// Position is where a server's history stands, in its engine's terms: a
// WAL location for PostgreSQL, a GTID position (the last transaction of
// every replication domain) for MariaDB. Engines make positions; the
// decider only compares them, and GTID positions are ordered only
// partly (two servers may each hold what the other lacks), so there is
// no "less than": Covers and Past instead. The zero value is an unknown
// position, which covers nothing and which nothing covers.
type Position struct {
	kind posKind
	lsn  LSN
	gtid mariadb.GTIDSet
}

type posKind uint8

const (
	posUnknown posKind = iota
	posLSN
	posGTID
)

// gtidPrefix marks a GTID position in its text form; an LSN has none, so
// state files written before positions had engines still read.
const gtidPrefix = "gtid:"

// LSNPos is the position of a PostgreSQL server at WAL location l.
func LSNPos(l LSN) Position { return Position{kind: posLSN, lsn: l} }

// GTIDPos is the position of a MariaDB server that holds s. The empty
// set is a known position: a new server that has written nothing.
func GTIDPos(s mariadb.GTIDSet) Position { return Position{kind: posGTID, gtid: s} }

// IsZero reports an unknown position.
func (p Position) IsZero() bool { return p.kind == posUnknown }

// Covers reports whether a server at p holds everything a server at q
// holds: for WAL, a location at least as far; for GTIDs, every domain
// at least as far. Positions of different engines, or unknown ones,
// cover nothing.
func (p Position) Covers(q Position) bool {
	if p.kind != q.kind {
		return false
	}
	switch p.kind {
	case posLSN:
		return p.lsn >= q.lsn
	case posGTID:
		return mariadb.Behind(q.gtid, p.gtid) == 0
	}
	return false
}

// Past reports whether p covers q and holds more.
func (p Position) Past(q Position) bool {
	return p.Covers(q) && !q.Covers(p)
}

// Behind measures how far a server at p has to go to hold what q holds,
// in the engine's unit: bytes of WAL, or transactions. It is 0 when p
// covers q, and -1 with unit "" when the two cannot be compared.
func (p Position) Behind(q Position) (n int64, unit string) {
	if p.kind != q.kind || p.kind == posUnknown {
		return -1, ""
	}
	if p.kind == posLSN {
		if p.lsn >= q.lsn {
			return 0, "bytes"
		}
		return int64(q.lsn - p.lsn), "bytes"
	}
	return mariadb.Behind(q.gtid, p.gtid), "transactions"
}

// String is the engine's own notation: "0/3000148", or "0-1-100,1-2-5"
// ("" for an unknown position).
func (p Position) String() string {
	switch p.kind {
	case posLSN:
		return p.lsn.String()
	case posGTID:
		return p.gtid.String()
	}
	return ""
}

// MarshalText implements encoding.TextMarshaler: an LSN as PostgreSQL
// writes it, a GTID position after "gtid:" (so that an empty one is
// still told from an unknown one), an unknown position as "".
func (p Position) MarshalText() ([]byte, error) {
	if p.kind == posGTID {
		return []byte(gtidPrefix + p.gtid.String()), nil
	}
	return []byte(p.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Position) UnmarshalText(b []byte) error {
	s := string(b)
	switch {
	case s == "":
		*p = Position{}
	case strings.HasPrefix(s, gtidPrefix):
		set, err := mariadb.ParseGTIDSet(strings.TrimPrefix(s, gtidPrefix))
		if err != nil {
			return fmt.Errorf("invalid position %q: %w", s, err)
		}
		*p = GTIDPos(set)
	default:
		l, err := parseLSN(s)
		if err != nil {
			return fmt.Errorf("invalid position %q: not an LSN (X/Y) or gtid:…", s)
		}
		*p = LSNPos(l)
	}
	return nil
}
