package rds

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// stateVersion is the format of cluster.json this code writes.
const stateVersion = 1

// State is the cluster state document, the one record of who does what
// that the decider reads, the node agent acts on and the endpoints
// follow. It is persisted in StateDir/db/cluster.json, always before the
// change it describes is carried out, so a restart (down, then up) puts
// every node back in the role it had, and a node fenced by a promotion
// never comes back as a writer.
type State struct {
	Version int `json:"version"`
	// Epoch counts promotions; every promotion adds one.
	Epoch int `json:"epoch"`
	// Primary names the node that accepts writes.
	Primary string `json:"primary"`
	// Timeline is the primary's WAL timeline when last observed (0: not yet).
	Timeline int `json:"timeline,omitempty"`
	// Sync is the synchronous replication the primary does.
	Sync Sync `json:"sync"`
	// Nodes holds every configured node's entry, by name.
	Nodes map[string]NodeState `json:"nodes"`
	// Updated is when the document last changed.
	Updated time.Time `json:"updated"`
}

// NodeState is one node's entry in the state document.
type NodeState struct {
	Role Role `json:"role"`
	// Fenced is set on a primary when another node is promoted: its data
	// may hold writes the new primary never saw, so it must not run again
	// until pg_rewind (or a fresh base backup) has made it a follower of
	// the new primary, which clears the mark.
	Fenced bool `json:"fenced,omitempty"`
	// Strayed is set on a follower seen streaming from a former primary
	// after its replacement (a standby cut off with it, and still
	// following it), and cleared once it streams from the primary: its
	// data holds writes the primary's history lacks, so it must not be
	// promoted, which would throw away everything written since.
	Strayed bool `json:"strayed,omitempty"`
	// Discarded counts the transactions the node had committed that
	// pg_rewind took back when it rejoined as a follower: acknowledged
	// writes lost for good.
	Discarded int `json:"discarded,omitempty"`
}

// Sync describes the primary's synchronous standby.
type Sync struct {
	// Standby is the node the primary's commits wait for; "" while they
	// wait for none.
	Standby string `json:"standby,omitempty"`
	// From is the primary's position when Standby was first seen
	// synchronous; commits acknowledged before then may not have reached it.
	From Position `json:"from_lsn,omitzero"`
	// Complete is set once Standby has flushed past From: from then on it
	// holds every acknowledged commit and may be promoted without loss.
	Complete bool `json:"complete,omitempty"`
	// LostAt is when the cluster last lost its synchronous standby; zero
	// while one is complete (or Multi-AZ is off).
	LostAt time.Time `json:"lost_at,omitzero"`
	// CrossRegion is the replica in another region the primary's commits
	// also wait for, with cross_region_commit = "sync" ("" until one
	// streams). It is chosen once it streams and never dropped on its own:
	// while it does not stream, commits wait. A promotion clears it.
	CrossRegion string `json:"cross_region,omitempty"`
}

// statePath is the state document's file.
func statePath(stateDir string) string {
	return filepath.Join(stateDir, "db", "cluster.json")
}

// newState is the document of a new cluster: the configured roles.
func newState(nodes []NodeConfig, multiAZ bool) State {
	primary := ""
	for _, n := range nodes {
		if n.Role == RolePrimary {
			primary = n.Name
		}
	}
	st := State{Version: stateVersion, Primary: primary, Nodes: map[string]NodeState{}}
	return st.withRoles(nodes, multiAZ)
}

// clone returns a copy that shares nothing with s.
func (s State) clone() State {
	s.Nodes = maps.Clone(s.Nodes)
	return s
}

// withRoles returns s with exactly the configured nodes, each in the role
// it has next to s.Primary.
func (s State) withRoles(nodes []NodeConfig, multiAZ bool) State {
	s = s.clone()
	roles := rolesFor(nodes, s.Primary, multiAZ)
	next := make(map[string]NodeState, len(nodes))
	for _, n := range nodes {
		ns := s.Nodes[n.Name]
		ns.Role = roles[n.Name]
		next[n.Name] = ns
	}
	s.Nodes = next
	if s.Sync.Standby != "" && roles[s.Sync.Standby] != RoleStandby {
		s.Sync = Sync{LostAt: s.Sync.LostAt, CrossRegion: s.Sync.CrossRegion}
	}
	if s.Sync.CrossRegion != "" && roles[s.Sync.CrossRegion] != RoleReplica {
		s.Sync.CrossRegion = ""
	}
	return s
}

// promoted is s after target's promotion: a new epoch, the old primary
// fenced, roles redistributed, and no synchronous standby yet.
func (s State) promoted(target string, nodes []NodeConfig, multiAZ bool, now time.Time) State {
	old := s.Primary
	s = s.clone()
	if old != target {
		s.Epoch++
		if ns, ok := s.Nodes[old]; ok {
			ns.Fenced = true
			s.Nodes[old] = ns
		}
	}
	s.Primary = target
	ns := s.Nodes[target]
	ns.Fenced = false
	s.Nodes[target] = ns
	lost := s.Sync.LostAt
	if lost.IsZero() {
		lost = now
	}
	s.Sync = Sync{LostAt: lost}
	if !multiAZ {
		s.Sync = Sync{}
	}
	return s.withRoles(nodes, multiAZ)
}

// check reports a document that cannot describe the configured cluster.
func (s State) check(nodes []NodeConfig) error {
	if s.Version != stateVersion {
		return fmt.Errorf("it has format version %d; this hastack reads version %d", s.Version, stateVersion)
	}
	for _, n := range nodes {
		if n.Name == s.Primary {
			return nil
		}
	}
	return fmt.Errorf("its primary %q is not a database node of the stack file", s.Primary)
}

// loadState reads the document, or returns the one of a new cluster when
// there is none yet.
func loadState(path string, nodes []NodeConfig, multiAZ bool) (State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newState(nodes, multiAZ), nil
	}
	if err != nil {
		return State{}, fmt.Errorf("reading the database cluster state %s: %w", path, err)
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil {
		return State{}, fmt.Errorf("the database cluster state %s is corrupt (%v); restore it, or remove the database with down --purge", path, err)
	}
	if err := st.check(nodes); err != nil {
		return State{}, fmt.Errorf("the database cluster state %s does not fit the stack file: %w", path, err)
	}
	return st.withRoles(nodes, multiAZ), nil
}

// save writes the document atomically.
func (s State) save(path string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the database cluster state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	if err := writeFileAtomic(path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing the database cluster state %s: %w", path, err)
	}
	return nil
}

// LSN is a position in the write-ahead log.
type LSN uint64

// String formats l as PostgreSQL does, e.g. "0/3000148".
func (l LSN) String() string {
	return fmt.Sprintf("%X/%X", uint64(l)>>32, uint64(l)&0xffffffff)
}

// parseLSN reads PostgreSQL's text form of an LSN.
func parseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("invalid LSN %q", s)
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("invalid LSN %q", s)
	}
	return LSN(h<<32 | l), nil
}

// MarshalText implements encoding.TextMarshaler.
func (l LSN) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *LSN) UnmarshalText(b []byte) error {
	v, err := parseLSN(string(b))
	*l = v
	return err
}

// sortedNames returns the keys of m in order.
func sortedNames[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
