package rds

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRolesAfterPromotions(t *testing.T) {
	st := newState(decideNodes, true)
	if st.Primary != "a" || st.Nodes["b"].Role != RoleStandby || st.Nodes["c"].Role != RoleReplica {
		t.Fatalf("new state %+v", st)
	}
	st.Sync = Sync{Standby: "b", From: LSNPos(10), Complete: true}

	// Multi-AZ failover: the standby takes over, the old primary is fenced
	// and becomes the standby-to-be.
	az := st.promoted("b", decideNodes, true, t0)
	want := map[string]NodeState{"a": {Role: RoleStandby, Fenced: true}, "b": {Role: RolePrimary}, "c": {Role: RoleReplica}}
	if az.Primary != "b" || az.Epoch != 1 || !mapsEqual(az.Nodes, want) {
		t.Fatalf("after Multi-AZ failover %+v", az)
	}
	if az.Sync.Standby != "" || az.Sync.Complete || !az.Sync.LostAt.Equal(t0) {
		t.Errorf("sync after failover %+v, want none since t0", az.Sync)
	}
	if st.Primary != "a" || st.Nodes["a"].Fenced {
		t.Error("promoted changed the original")
	}

	// Cross-region promotion: everyone else replicates from c.
	xr := az.promoted("c", decideNodes, true, t0)
	want = map[string]NodeState{"a": {Role: RoleReplica, Fenced: true}, "b": {Role: RoleReplica, Fenced: true}, "c": {Role: RolePrimary}}
	if xr.Primary != "c" || xr.Epoch != 2 || !mapsEqual(xr.Nodes, want) {
		t.Fatalf("after cross-region promotion %+v", xr)
	}

	// Finishing an interrupted promotion changes nothing.
	again := xr.promoted("c", decideNodes, true, t0)
	if again.Epoch != 2 || !mapsEqual(again.Nodes, want) {
		t.Errorf("re-promoting the primary gave %+v", again)
	}
}

func mapsEqual(a, b map[string]NodeState) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestStatePersistence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db", "cluster.json")
	st, err := loadState(path, decideNodes, true)
	if err != nil || st.Primary != "a" {
		t.Fatalf("missing file: %+v, %v", st, err)
	}
	st = st.promoted("b", decideNodes, true, t0)
	st.Sync.From = LSNPos(0x1_0000_0010)
	if err := st.save(path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file %v, %v", fi, err)
	}
	data, _ := os.ReadFile(path)
	if !strings.Contains(string(data), `"from_lsn": "1/10"`) {
		t.Errorf("LSN not written in PostgreSQL's form:\n%s", data)
	}
	got, err := loadState(path, decideNodes, true)
	if err != nil {
		t.Fatal(err)
	}
	if got.Primary != "b" || !got.Nodes["a"].Fenced || got.Epoch != 1 || got.Sync.From.String() != st.Sync.From.String() {
		t.Fatalf("reloaded %+v, want %+v", got, st)
	}

	// A node added to the stack file joins as a replica.
	more := append(decideNodes[:3:3], NodeConfig{Name: "d", Region: "north", Role: RoleReplica})
	if got, err := loadState(path, more, true); err != nil || got.Nodes["d"].Role != RoleReplica {
		t.Errorf("added node: %+v, %v", got.Nodes, err)
	}

	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadState(path, decideNodes, true); err == nil || !strings.Contains(err.Error(), "is corrupt") {
		t.Errorf("corrupt file: %v", err)
	}
	if err := os.WriteFile(path, []byte(`{"version": 1, "primary": "zz"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadState(path, decideNodes, true); err == nil || !strings.Contains(err.Error(), `its primary "zz" is not a database node`) {
		t.Errorf("unknown primary: %v", err)
	}
}

func TestLSN(t *testing.T) {
	for _, s := range []string{"0/0", "0/3000148", "16/B374D848"} {
		l, err := parseLSN(s)
		if err != nil || l.String() != s {
			t.Errorf("parseLSN(%q) = %v, %v", s, l, err)
		}
	}
	if l, _ := parseLSN("1/0"); l != 1<<32 {
		t.Errorf("1/0 = %d", l)
	}
	for _, bad := range []string{"", "12", "x/1", "1/100000000"} {
		if _, err := parseLSN(bad); err == nil {
			t.Errorf("parseLSN(%q) accepted", bad)
		}
	}
}
