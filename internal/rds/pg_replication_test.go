package rds

import "testing"

func TestSyncNames(t *testing.T) {
	cases := []struct {
		sync Sync
		want string
	}{
		{Sync{}, ""},
		{Sync{Standby: "db-us-east-1b"}, `"db_us_east_1b"`},
		{Sync{CrossRegion: "db-us-west-2a"}, `"db_us_west_2a"`},
		// Both: a commit waits for each.
		{Sync{Standby: "db-us-east-1b", CrossRegion: "db-us-west-2a"}, `FIRST 2 ("db_us_east_1b", "db_us_west_2a")`},
	}
	for _, tc := range cases {
		if got := syncNames(tc.sync); got != tc.want {
			t.Errorf("syncNames(%+v) = %q, want %q", tc.sync, got, tc.want)
		}
	}
}

func TestCannotFollowReason(t *testing.T) {
	tests := []struct {
		line     string
		want     bool
		needCopy bool
	}{
		{"FATAL:  could not start WAL streaming: ERROR:  requested starting point 0/5000000 on timeline 1 is not in this server's history", true, false},
		{"LOG:  new timeline 2 forked off current database system timeline 1 before current recovery point 0/30001A0", true, false},
		{"FATAL:  could not receive data from WAL stream: ERROR:  requested WAL segment 000000010000000000000003 has already been removed", true, true},
		{"FATAL:  database system identifier differs between the primary and standby", true, true},
		{"FATAL:  highest timeline 1 of the primary is behind recovery timeline 2", true, true},
		// What a network cut makes a follower log: it gets over it by itself.
		{`FATAL:  could not connect to the primary server: connection to server at "127.0.97.5", port 5432 failed: timeout expired`, false, false},
		{"FATAL:  terminating walreceiver due to timeout", false, false},
		{"FATAL:  could not receive data from WAL stream: server closed the connection unexpectedly", false, false},
		{"LOG:  started streaming WAL from primary at 0/3000000 on timeline 1", false, false},
	}
	for _, tt := range tests {
		reason, needCopy := cannotFollowReason(tt.line)
		if (reason != "") != tt.want || needCopy != tt.needCopy {
			t.Errorf("cannotFollowReason(%q) = %q, %v; want a reason %v, copy %v", tt.line, reason, needCopy, tt.want, tt.needCopy)
		}
	}
}
