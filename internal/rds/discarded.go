package rds

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// divergedRE matches pg_rewind's report of where the two histories part.
var divergedRE = regexp.MustCompile(`servers diverged at WAL location ([0-9A-Fa-f]+/[0-9A-Fa-f]+) on timeline (\d+)`)

// parseDivergence reads, from pg_rewind's output, the WAL position and
// timeline at which the rewound node's history left the primary's; ok is
// false when pg_rewind found nothing to take back ("no rewind required").
func parseDivergence(out string) (at LSN, timeline int, ok bool) {
	m := divergedRE.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, false
	}
	at, err := parseLSN(m[1])
	if err != nil {
		return 0, 0, false
	}
	timeline, err = strconv.Atoi(m[2])
	if err != nil {
		return 0, 0, false
	}
	return at, timeline, true
}

// countCommits counts the commit records in pg_waldump's output: each is
// a transaction some client was told had committed.
func countCommits(waldump string) int {
	n := 0
	for line := range strings.Lines(waldump) {
		if strings.HasPrefix(line, "rmgr: Transaction") && strings.Contains(line, "desc: COMMIT") {
			n++
		}
	}
	return n
}

// discardedCommits counts the transactions that node n's data dir (its
// own copy, before the rewound one is swapped in) committed after its
// history left the primary's at (at, timeline): the writes pg_rewind
// takes back, which were acknowledged and are now gone. pg_waldump reads
// to the end of the WAL, where it stops with an error by design; only an
// output with no record at all and an error is a failure.
func (c *Cluster) discardedCommits(ctx context.Context, n *node, dir string, at LSN, timeline int) (int, error) {
	text, err := c.runToolRaw(ctx, n, c.tool("pg_waldump"),
		"--path", n.layout.path(dir+"/pg_wal"),
		"--timeline", strconv.Itoa(timeline),
		"--start", at.String(),
		"--rmgr", "Transaction",
	)
	if err != nil && !strings.Contains(text, "rmgr: ") && !endOfWAL(text) {
		return 0, fmt.Errorf("reading the WAL pg_rewind takes back (pg_waldump): %w: %s", err, lastLines(text, 3))
	}
	return countCommits(text), nil
}

// endOfWAL reports pg_waldump stopping where the WAL ends, which it does
// with an error even when it read everything there was.
func endOfWAL(out string) bool {
	return strings.Contains(out, "invalid record length") || strings.Contains(out, "could not find a valid record") ||
		strings.Contains(out, "invalid magic number") || strings.Contains(out, "record with incorrect prev-link")
}

// transactions is "1 transaction" or "n transactions".
func transactions(n int) string {
	if n == 1 {
		return "1 transaction"
	}
	return strconv.Itoa(n) + " transactions"
}
