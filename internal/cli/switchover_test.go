package cli

import (
	"strings"
	"testing"

	"github.com/hastack/hastack/internal/rds"
)

func TestPromotionLines(t *testing.T) {
	base := rds.Promotion{Region: "us-west-2", Node: "db-us-west-2a", OldPrimary: "db-us-east-1a", OldPrimaryStopped: true}
	for _, tt := range []struct {
		name string
		p    func(p *rds.Promotion)
		want []string
	}{
		{"caught up", func(p *rds.Promotion) { p.Lag = &rds.Lag{} }, []string{
			"db-us-west-2a (us-west-2) is the primary now, in place of db-us-east-1a.",
			"lag: none: db-us-west-2a had replayed everything db-us-east-1a wrote; nothing lost",
			"old primary db-us-east-1a: reached and stopped; it returns only as a follower, rewound or copied"}},
		{"forced", func(p *rds.Promotion) { p.Lag, p.Forced = &rds.Lag{Bytes: 63400, Seconds: 5.537}, true }, []string{
			"db-us-west-2a (us-west-2) is the primary now, in place of db-us-east-1a (--force).",
			"lag: 63400 bytes, up to 5.54 s of commits: what db-us-west-2a had not replayed of db-us-east-1a's writes may be lost"}},
		{"MariaDB, behind", func(p *rds.Promotion) { p.Lag = &rds.Lag{Transactions: 12, Seconds: 0.25} }, []string{
			"lag: 12 transactions, up to 0.25 s of commits: what db-us-west-2a had not applied of db-us-east-1a's writes may be lost"}},
		{"old primary cut off", func(p *rds.Promotion) {
			p.LagUnknown, p.OldPrimaryStopped = "primary db-us-east-1a does not answer from us-west-2 (no answer within 500ms)", false
		}, []string{
			"lag: unknown, primary db-us-east-1a does not answer from us-west-2 (no answer within 500ms); whatever it wrote that db-us-west-2a had not replayed is lost",
			"old primary db-us-east-1a: not reached, so not stopped: if it still runs, it may still take writes"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			tt.p(&p)
			got := strings.Join(promotionLines(p), "\n")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestSwitchoverLines(t *testing.T) {
	s := rds.Switchover{Region: "us-west-2", From: "db-us-east-1a", To: "db-us-west-2a", LSN: 0x403CBF0, Timeline: 2,
		WriteDowntimeSeconds: 0.2704, Seconds: 0.705, OldPrimaryFollows: true}
	want := `db-us-west-2a (us-west-2) is the primary now: switched over from db-us-east-1a in 0.70s, nothing acknowledged lost.
write downtime: 0.270s (from the writer endpoints closing to them leading to db-us-west-2a)
db-us-west-2a had replayed all of db-us-east-1a's WAL, to 0/403CBF0, before its promotion (timeline 2)
old primary db-us-east-1a: follows db-us-west-2a as a replica`
	if got := strings.Join(switchoverLines(s), "\n"); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	s.OldPrimaryFollows = false
	if got := switchoverLines(s)[3]; !strings.Contains(got, "not running as a follower yet") {
		t.Errorf("old primary not following: %q", got)
	}
	// MariaDB: no WAL, no timeline; the position is a GTID one.
	s.LSN, s.Timeline, s.Position = 0, 0, "0-1-812"
	if got, want := switchoverLines(s)[2], "db-us-west-2a had applied every transaction of db-us-east-1a, up to 0-1-812, before its promotion"; got != want {
		t.Errorf("MariaDB's line %q, want %q", got, want)
	}
}
