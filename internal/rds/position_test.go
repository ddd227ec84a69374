package rds

import (
	"encoding/json"
	"testing"

	"github.com/hastack/hastack/internal/mariadb"
)

func gtids(t testing.TB, s string) Position {
	t.Helper()
	set, err := mariadb.ParseGTIDSet(s)
	if err != nil {
		t.Fatal(err)
	}
	return GTIDPos(set)
}

func TestPositionOrder(t *testing.T) {
	tests := []struct {
		name         string
		p, q         Position
		covers, past bool
		behind       int64
		unit         string
	}{
		{"same LSN", LSNPos(100), LSNPos(100), true, false, 0, "bytes"},
		{"LSN ahead", LSNPos(150), LSNPos(100), true, true, 0, "bytes"},
		{"LSN behind", LSNPos(100), LSNPos(150), false, false, 50, "bytes"},
		{"same GTIDs", gtids(t, "0-1-10"), gtids(t, "0-1-10"), true, false, 0, "transactions"},
		{"GTIDs ahead", gtids(t, "0-1-12"), gtids(t, "0-1-10"), true, true, 0, "transactions"},
		{"GTIDs behind", gtids(t, "0-1-7"), gtids(t, "0-1-10"), false, false, 3, "transactions"},
		// Sequence numbers run on across servers within a domain.
		{"GTIDs ahead, written by another server", gtids(t, "0-2-12"), gtids(t, "0-1-10"), true, true, 0, "transactions"},
		// Each holds a domain the other lacks: neither covers the other.
		{"GTIDs apart", gtids(t, "0-1-10,1-2-3"), gtids(t, "0-1-12"), false, false, 2, "transactions"},
		{"a new server has written nothing", gtids(t, ""), gtids(t, "0-1-1"), false, false, 1, "transactions"},
		{"nothing written covers nothing written", gtids(t, ""), gtids(t, ""), true, false, 0, "transactions"},
		{"engines apart", LSNPos(100), gtids(t, "0-1-1"), false, false, -1, ""},
		{"unknown", Position{}, Position{}, false, false, -1, ""},
		{"unknown covers nothing", Position{}, LSNPos(0), false, false, -1, ""},
		{"nothing covers unknown", LSNPos(100), Position{}, false, false, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Covers(tt.q); got != tt.covers {
				t.Errorf("%v.Covers(%v) = %v", tt.p, tt.q, got)
			}
			if got := tt.p.Past(tt.q); got != tt.past {
				t.Errorf("%v.Past(%v) = %v", tt.p, tt.q, got)
			}
			if n, unit := tt.p.Behind(tt.q); n != tt.behind || unit != tt.unit {
				t.Errorf("%v.Behind(%v) = %d %s, want %d %s", tt.p, tt.q, n, unit, tt.behind, tt.unit)
			}
		})
	}
}

func TestPositionText(t *testing.T) {
	tests := []struct {
		p    Position
		text string
	}{
		{LSNPos(0x3000148), "0/3000148"},
		{LSNPos(0), "0/0"},
		{gtids(t, "0-1-100,1-2-5"), "gtid:0-1-100,1-2-5"},
		{gtids(t, ""), "gtid:"},
		{Position{}, ""},
	}
	for _, tt := range tests {
		b, err := tt.p.MarshalText()
		if err != nil || string(b) != tt.text {
			t.Errorf("MarshalText(%v) = %q, %v; want %q", tt.p, b, err, tt.text)
		}
		var back Position
		if err := back.UnmarshalText(b); err != nil {
			t.Fatalf("UnmarshalText(%q): %v", b, err)
		}
		if back.IsZero() != tt.p.IsZero() || back.String() != tt.p.String() || back.Covers(tt.p) == tt.p.IsZero() {
			t.Errorf("%q read back as %v, want %v", b, back, tt.p)
		}
	}
	for _, bad := range []string{"3000148", "gtid:0-1", "x/y", "gtid:a-b-c"} {
		var p Position
		if err := p.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) = %v, want an error", bad, p)
		}
	}
}

// A state file written while positions were bare LSNs still reads.
func TestPositionReadsOldStateFiles(t *testing.T) {
	var doc struct {
		From Position `json:"from_lsn"`
	}
	if err := json.Unmarshal([]byte(`{"from_lsn":"0/3000148"}`), &doc); err != nil {
		t.Fatal(err)
	}
	if !doc.From.Covers(LSNPos(0x3000148)) || !LSNPos(0x3000148).Covers(doc.From) {
		t.Fatalf("read %v, want 0/3000148", doc.From)
	}
}

func FuzzPositionText(f *testing.F) {
	for _, s := range []string{"0/3000148", "gtid:0-1-100,1-2-5", "gtid:", "", "FFFFFFFF/FFFFFFFF"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var p Position
		if p.UnmarshalText([]byte(s)) != nil {
			return
		}
		b, err := p.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Position
		if err := back.UnmarshalText(b); err != nil {
			t.Fatalf("%q read as %v, written as %q, which does not read: %v", s, p, b, err)
		}
		if back.IsZero() != p.IsZero() || (!p.IsZero() && !(back.Covers(p) && p.Covers(back))) {
			t.Fatalf("%q read as %v, written as %q, read back as %v", s, p, b, back)
		}
	})
}
