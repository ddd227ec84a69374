package mariadb

import (
	"slices"
	"strings"
	"testing"
)

func mustSet(t testing.TB, s string) GTIDSet {
	t.Helper()
	set, err := ParseGTIDSet(s)
	if err != nil {
		t.Fatalf("ParseGTIDSet(%q): %v", s, err)
	}
	return set
}

func TestParseGTIDSet(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"", "", false},
		{"0-1-100", "0-1-100", false},
		{"1-2-5,0-1-100", "0-1-100,1-2-5", false},
		{"0-1-100,\n1-2-5", "0-1-100,1-2-5", false},
		{" 0-2-7 , 0-1-9 ", "0-1-9,0-2-7", false},
		{"0-1-5,0-1-9", "0-1-9", false},
		{"0-1-18446744073709551615", "0-1-18446744073709551615", false},
		{"0-1", "", true},
		{"0-1-2-3", "", true},
		{"a-1-2", "", true},
		{"0--1-2", "", true},
		{"4294967296-1-1", "", true},
		{"0-1-+2", "", true},
	}
	for _, tt := range tests {
		got, err := ParseGTIDSet(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseGTIDSet(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && got.String() != tt.want {
			t.Errorf("ParseGTIDSet(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDiverged(t *testing.T) {
	tests := []struct {
		name, old, newPrimary string
		want                  bool
	}{
		{"both empty", "", "", false},
		{"old empty", "", "0-2-5", false},
		{"same", "0-1-100", "0-1-100", false},
		{"new primary went on", "0-1-100", "0-1-100,0-2-120", false},
		{"old wrote one more before it died", "0-1-101", "0-1-100,0-2-120", true},
		{"old wrote at a sequence the new primary reused", "0-1-101", "0-1-100,0-2-101", true},
		{"old has a domain the new primary lacks", "0-1-100,1-1-3", "0-1-100,0-2-150", true},
		{"old was a replica of a third server first", "0-3-50,0-1-100", "0-3-50,0-1-100,0-2-101", false},
		{"new primary lacks what old had from a third server", "0-3-51,0-1-100", "0-3-50,0-1-100", true},
		{"a position, not a state: old's server missing", "0-1-100", "0-2-120", true},
		{"several domains, all there", "0-1-10,1-1-20", "0-1-10,0-2-15,1-1-20", false},
	}
	for _, tt := range tests {
		if got := Diverged(mustSet(t, tt.old), mustSet(t, tt.newPrimary)); got != tt.want {
			t.Errorf("%s: Diverged(%s, %s) = %v, want %v", tt.name, tt.old, tt.newPrimary, got, tt.want)
		}
	}
}

func TestBehind(t *testing.T) {
	tests := []struct {
		target, pos string
		want        int64
	}{
		{"", "", 0},
		{"0-1-100", "0-1-100", 0},
		{"0-1-100", "0-1-90", 10},
		{"0-2-105", "0-1-100", 5},
		{"0-1-100", "", 100},
		{"0-1-100,1-1-7", "0-1-98,1-1-2", 7},
		{"0-1-100", "0-1-120", 0},
		{"0-1-3,0-2-9", "0-1-3", 6},
	}
	for _, tt := range tests {
		if got := Behind(mustSet(t, tt.target), mustSet(t, tt.pos)); got != tt.want {
			t.Errorf("Behind(%s, %s) = %d, want %d", tt.target, tt.pos, got, tt.want)
		}
	}
}

func TestLag(t *testing.T) {
	primary := Position{BinlogPos: mustSet(t, "0-1-120"), File: "mariadb-bin.000002", Offset: 9000, ServerID: 1}
	tests := []struct {
		name        string
		replica     ReplicaStatus
		wantBytes   int64
		wantTx      int64
		wantSeconds float64
	}{
		{"caught up", ReplicaStatus{PrimaryID: 1, SlavePos: mustSet(t, "0-1-120"), RelayMasterLogFile: "mariadb-bin.000002", ExecMasterLogPos: 9000, SecondsBehindMaster: 0},
			0, 0, 0},
		{"behind on the same file", ReplicaStatus{PrimaryID: 1, SlavePos: mustSet(t, "0-1-110"), RelayMasterLogFile: "mariadb-bin.000002", ExecMasterLogPos: 7000, SecondsBehindMaster: 3},
			2000, 10, 3},
		{"behind on an older file", ReplicaStatus{PrimaryID: 1, SlavePos: mustSet(t, "0-1-100"), RelayMasterLogFile: "mariadb-bin.000001", ExecMasterLogPos: 7000, SecondsBehindMaster: 8},
			-1, 20, 8},
		{"threads stopped", ReplicaStatus{PrimaryID: 1, SlavePos: mustSet(t, "0-1-119"), RelayMasterLogFile: "mariadb-bin.000002", ExecMasterLogPos: 8800, SecondsBehindMaster: -1},
			200, 1, -1},
		{"caught up, seconds stale", ReplicaStatus{PrimaryID: 1, SlavePos: mustSet(t, "0-1-120"), SecondsBehindMaster: -1},
			0, 0, 0},
		{"never connected", ReplicaStatus{SecondsBehindMaster: -1},
			-1, 120, -1},
		{"still on another server's file of the same name", ReplicaStatus{PrimaryID: 2, SlavePos: mustSet(t, "0-1-110"), RelayMasterLogFile: "mariadb-bin.000002", ExecMasterLogPos: 7000, SecondsBehindMaster: 1},
			-1, 10, 1},
	}
	for _, tt := range tests {
		bytes, tx, seconds := Lag(primary, tt.replica)
		if bytes != tt.wantBytes || tx != tt.wantTx || seconds != tt.wantSeconds {
			t.Errorf("%s: Lag = %d bytes, %d transactions, %g s; want %d, %d, %g",
				tt.name, bytes, tx, seconds, tt.wantBytes, tt.wantTx, tt.wantSeconds)
		}
	}
}

// FuzzGTIDSet checks that any text ParseGTIDSet accepts prints back to
// what it reads as, and that Diverged and Behind agree with their meaning
// on it: a set has not diverged from itself or from one that went further.
func FuzzGTIDSet(f *testing.F) {
	for _, s := range []string{"", "0-1-100", "0-1-100,1-2-5", "0-1-5,0-1-9,0-2-1", " 1-1-1 ,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := ParseGTIDSet(s)
		if err != nil {
			return
		}
		again, err := ParseGTIDSet(set.String())
		if err != nil || !slices.Equal(set, again) {
			t.Fatalf("%q read as %v, printed as %q, read back as %v (%v)", s, set, set.String(), again, err)
		}
		if Diverged(set, set) || Behind(set, set) != 0 {
			t.Fatalf("%v diverged from or is behind itself", set)
		}
		further := slices.Clone(set)
		for i := range further {
			if further[i].Seq < 1<<62 {
				further[i].Seq++
			}
		}
		if Diverged(set, further) {
			t.Fatalf("%v diverged from %v, which went further", set, further)
		}
		if len(set) > 0 && set[0].Seq < 1<<62 && !Diverged(further, set) {
			t.Fatalf("%v has transactions %v lacks, Diverged says no", further, set)
		}
	})
}

func TestCannotFollow(t *testing.T) {
	tests := []struct {
		name string
		st   ReplicaStatus
		want string // a word of the reason; "" for none
	}{
		{"streaming", ReplicaStatus{IORunning: true, SQLRunning: true}, ""},
		{"primary unreachable: it retries", ReplicaStatus{IOState: "Connecting", SQLRunning: true, LastIOErrno: 2003,
			LastIOError: "error reconnecting to master 'replicator@127.0.0.5:3306' - retry-time: 1  maximum-retries: 86400  message: Can't connect to server on '127.0.0.5' (111 \"Connection refused\")"}, ""},
		{"diverged", ReplicaStatus{SQLRunning: true, LastIOErrno: 1236,
			LastIOError: "Got fatal error 1236 from master when reading data from binary log: 'Error: connecting slave requested to start from GTID 0-51-21, which is not in the master's binlog. Since the master's binlog contains GTIDs with higher sequence numbers, it probably means that the slave has diverged due to executing extra erroneous transactions'"}, "diverged"},
		{"purged", ReplicaStatus{SQLRunning: true, LastIOErrno: 1236,
			LastIOError: "Got fatal error 1236 from master when reading data from binary log: 'Could not find GTID state requested by slave in any binlog files. Probably the slave state is too old and required binlog files have been purged.'"}, "no longer has"},
		{"another fatal read error", ReplicaStatus{LastIOErrno: 1236, LastIOError: "Got fatal error 1236 from master: 'binlog truncated'"}, "cannot send"},
		{"applier stopped on a duplicate key", ReplicaStatus{IORunning: true, LastSQLErrno: 1062,
			LastSQLError: "Error 'Duplicate entry '5' for key 'PRIMARY'' on query."}, "error 1062"},
		// Still retrying the transaction: not stopped.
		{"applier error while it runs", ReplicaStatus{IORunning: true, SQLRunning: true, LastSQLErrno: 1205, LastSQLError: "Lock wait timeout exceeded"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CannotFollow(tt.st)
			if (got == "") != (tt.want == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("CannotFollow = %q, want one saying %q", got, tt.want)
			}
		})
	}
}
