package mariadb

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeMarker(t *testing.T, dir, content string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "marker"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func marker(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "marker"))
	return string(b)
}

// TestReplaceDir: the copy takes the data directory's place and the old
// data goes only then; when the copy cannot be put there, the old data
// stays where it was.
func TestReplaceDir(t *testing.T) {
	root := t.TempDir()
	data, copyDir, aside := filepath.Join(root, "data"), filepath.Join(root, "data.clone"), filepath.Join(root, "data.old")

	writeMarker(t, data, "old")
	writeMarker(t, copyDir, "new")
	if err := replaceDir(data, copyDir, aside); err != nil {
		t.Fatal(err)
	}
	if marker(data) != "new" {
		t.Errorf("data holds %q, want the copy", marker(data))
	}
	for _, gone := range []string{copyDir, aside} {
		if _, err := os.Stat(gone); err == nil {
			t.Errorf("%s left behind", gone)
		}
	}

	// No copy to put in place: the old data stays where it is.
	if err := replaceDir(data, filepath.Join(root, "missing"), aside); err == nil {
		t.Error("replacing with a missing copy succeeded")
	}
	if marker(data) != "new" {
		t.Errorf("after a failed replace data holds %q, want what it held", marker(data))
	}

	// A new server: nothing to move aside.
	fresh := filepath.Join(root, "fresh")
	writeMarker(t, copyDir, "copy")
	if err := replaceDir(fresh, copyDir, fresh+".old"); err != nil || marker(fresh) != "copy" {
		t.Errorf("replacing a missing data directory: %v, holds %q", err, marker(fresh))
	}
}

// TestCloneKeepsAnEarlierOldCopy: data moved aside by an earlier clone
// that did not finish may be the only good copy; Clone refuses to go on.
func TestCloneKeepsAnEarlierOldCopy(t *testing.T) {
	root := t.TempDir()
	target := Config{DataDir: filepath.Join(root, "data"), RunDir: filepath.Join(root, "run"),
		Addr: netip.MustParseAddrPort("127.0.70.250:3306"), ServerID: 9, Accounts: testAccounts, Binaries: Binaries{Backup: "/nonexistent"}}
	writeMarker(t, target.DataDir+".old", "only good copy")
	_, err := clone(context.Background(), target, target)
	if err == nil || !strings.Contains(err.Error(), "only good copy") {
		t.Errorf("clone with an earlier old copy: %v", err)
	}
	if marker(target.DataDir+".old") != "only good copy" {
		t.Error("the earlier old copy is gone")
	}
}

func TestParseBinlogInfo(t *testing.T) {
	tests := []struct {
		info, want string
		ok         bool
	}{
		{"mariadb-bin.000003\t1024\t0-1-57\n", "0-1-57", true},
		{"mariadb-bin.000001\t330\t0-1-5,1-2-9", "0-1-5,1-2-9", true},
		// Nothing logged yet on the source: no GTID position.
		{"mariadb-bin.000001\t330\n", "", true},
		{"", "", false},
		{"mariadb-bin.000001 330 0-1-5 extra", "", false},
		{"f 1 not-a-gtid", "", false},
	}
	for _, tt := range tests {
		got, err := parseBinlogInfo(tt.info)
		if (err == nil) != tt.ok || err == nil && got.String() != tt.want {
			t.Errorf("parseBinlogInfo(%q) = %q, %v; want %q (ok %v)", tt.info, got, err, tt.want, tt.ok)
		}
	}
}
