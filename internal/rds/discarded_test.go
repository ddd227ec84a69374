package rds

import "testing"

func TestParseDivergence(t *testing.T) {
	cases := []struct {
		out      string
		at       LSN
		timeline int
		ok       bool
	}{
		{"pg_rewind: servers diverged at WAL location 0/3000148 on timeline 1\npg_rewind: rewinding from last common checkpoint at 0/2000060 on timeline 1\npg_rewind: Done!\n", 0x3000148, 1, true},
		{"pg_rewind: servers diverged at WAL location 1/A0 on timeline 12\n", 1<<32 | 0xA0, 12, true},
		{"pg_rewind: source and target cluster are on the same timeline\npg_rewind: no rewind required\n", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tc := range cases {
		at, tli, ok := parseDivergence(tc.out)
		if at != tc.at || tli != tc.timeline || ok != tc.ok {
			t.Errorf("parseDivergence(%q) = %v, %d, %v; want %v, %d, %v", tc.out, at, tli, ok, tc.at, tc.timeline, tc.ok)
		}
	}
}

func TestCountCommits(t *testing.T) {
	out := `rmgr: Transaction len (rec/tot):     34/    34, tx:        735, lsn: 0/030001C8, prev 0/03000190, desc: COMMIT 2026-12-02 02:50:01.123456 UTC
rmgr: Transaction len (rec/tot):     34/    34, tx:        736, lsn: 0/03000200, prev 0/030001C8, desc: ABORT 2026-12-02 02:50:01.223456 UTC
rmgr: Transaction len (rec/tot):    258/   258, tx:        737, lsn: 0/03000240, prev 0/03000200, desc: COMMIT 2026-12-02 02:50:01.323456 UTC; inval msgs: catcache 7
pg_waldump: error: error in WAL record at 0/3000240: invalid record length at 0/3000348: expected at least 24, got 0
`
	if got := countCommits(out); got != 2 {
		t.Errorf("countCommits = %d, want 2 (an abort is no commit)", got)
	}
	if !endOfWAL(out) {
		t.Error("endOfWAL did not see pg_waldump stop at the end of the WAL")
	}
}
