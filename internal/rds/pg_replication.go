package rds

import (
	"fmt"
	"strings"
)

// What the PostgreSQL engine makes of the cluster state and of its
// servers' reports: the synchronous standby setting, and the log lines
// that say a follower cannot catch up.

// syncNames is the primary's synchronous_standby_names for s: its
// standby and its cross-region replica, each of which a commit waits for.
func syncNames(s Sync) string {
	var names []string
	for _, n := range []string{s.Standby, s.CrossRegion} {
		if n != "" {
			names = append(names, `"`+slotName(n)+`"`)
		}
	}
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return fmt.Sprintf("FIRST %d (%s)", len(names), strings.Join(names, ", "))
}

// cannotFollowReason tells from a line of a follower's server log whether the
// server reports that replaying the primary's WAL cannot bring it up to
// date, why, and whether only a new copy helps (rather than pg_rewind).
// Everything else a follower logs while it cannot reach its primary
// (timeouts, refused connections) is a condition it gets over by itself.
func cannotFollowReason(line string) (reason string, needCopy bool) {
	for _, m := range []struct {
		text, reason string
		copy         bool
	}{
		{"is not in this server's history", "its WAL has diverged from the primary's timeline", false},
		{"forked off current database system timeline", "its WAL has diverged from the primary's timeline", false},
		{"is behind recovery timeline", "it is on a later timeline than the primary", true},
		{"has already been removed", "the primary no longer has the WAL it needs", true},
		{"database system identifier differs", "its data belongs to another cluster than the primary's", true},
	} {
		if strings.Contains(line, m.text) {
			return "its server reports that " + m.reason, m.copy
		}
	}
	return "", false
}
