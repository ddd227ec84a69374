package rds

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// plantLink replaces what is at path with a symbolic link to target and
// returns a function that puts the original back.
func plantLink(t *testing.T, path, target string) (restore func()) {
	t.Helper()
	saved := path + ".saved-by-test"
	_, err := os.Lstat(path)
	had := err == nil
	if had {
		if err := os.Rename(path, saved); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if had {
			if err := os.Rename(saved, path); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// untouched fails when the file outside the node directories changed.
func untouched(t *testing.T, path, content string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil || string(data) != content || fi.Mode().Perm() != 0o600 || !(account{uid: uint32(os.Geteuid())}).owns(fi) {
		t.Fatalf("%s was written through a link: %q, mode %v (%v)", path, data, fi.Mode(), err)
	}
}

// Links planted in the node directories, which PostgreSQL's user can
// write, are never followed: the files hastack writes there replace a
// link, and a link where hastack must read or descend stops the start
// with a sentence naming it. (A link at initdb's password file is in
// TestDataSurvivesRestart, which tests a first start.)
func TestNoLinksFollowed(t *testing.T) {
	dir := seededDir(t, tmplReplica)
	c := newCluster(t, haConfig(dir, 88, false, nil))
	ctx := startCtx(t)
	outside := filepath.Join(dir, "outside")
	const precious = "precious\n"
	if err := os.WriteFile(outside, []byte(precious), 0o600); err != nil {
		t.Fatal(err)
	}
	a := c.byName[nodeA].layout
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	execSQL(t, ctx, c.WriterURL(""), "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// Files hastack writes: the link is replaced by a file of its own.
	var replaced []string
	for _, n := range c.nodes {
		// postgresql.conf without hastack's include is written again.
		files := n.layout.files(c.acct)
		conf, err := files.read("data/postgresql.conf")
		if err != nil {
			t.Fatal(err)
		}
		if err := files.write("data/postgresql.conf", []byte(strings.ReplaceAll(string(conf), "include_if_exists = 'hastack.conf'", ""))); err != nil {
			t.Fatal(err)
		}
		rel := []string{logName, "data/pg_hba.conf", "data/hastack.conf",
			"data/pg_hba.conf.hastack-tmp", "data/hastack.conf.hastack-tmp", "data/postgresql.conf.hastack-tmp"}
		if n.cfg.Name != nodeA {
			rel = append(rel, pgpassName, pgpassName+".hastack-tmp", "data/standby.signal", "data/standby.signal.hastack-tmp")
		}
		for _, r := range rel {
			p := filepath.Join(n.layout.nodeDir, r)
			plantLink(t, p, outside)
			replaced = append(replaced, p)
		}
	}
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start with links planted: %v", err)
	}
	untouched(t, outside, precious)
	for _, p := range replaced {
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			t.Errorf("%s is still a link", p)
		}
	}
	if !visible(ctx, c.WriterURL(""), 1) {
		t.Error("the data is gone")
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// Files hastack reads, and directories: the start stops, saying why.
	for _, rel := range []string{"data/postgresql.conf", "data/" + markerName, "data/postmaster.pid", "data", "run"} {
		t.Run(strings.ReplaceAll(rel, "/", "_"), func(t *testing.T) {
			p := filepath.Join(a.nodeDir, rel)
			target := outside
			if rel == "data" || rel == "run" {
				target = dir
			}
			restore := plantLink(t, p, target)
			defer restore()
			err := c.Start(ctx)
			if err == nil {
				c.Stop(ctx)
				t.Fatalf("started with a link at %s", p)
			}
			if want := p + " is a symbolic link or not what hastack created there; hastack does not follow links in " + a.nodeDir; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q, want it to contain %q", err, want)
			}
			untouched(t, outside, precious)
		})
	}
	if err := c.Start(ctx); err != nil {
		t.Fatalf("start once the links are gone: %v", err)
	}
	if !visible(ctx, c.WriterURL(""), 1) {
		t.Error("the data is gone")
	}
}

// A copy that did not finish (hastack killed during initdb or a base
// backup) is made again at the next start, never used: a new copy
// counts only with the node's completion marker. (A half-made first
// initdb in data.new is in TestDataSurvivesRestart.)
func TestUnfinishedCopiesRedone(t *testing.T) {
	dir := seededDir(t, tmplReplica)
	rec := newRecorder()
	c := newCluster(t, haConfig(dir, 87, false, rec))
	ctx := startCtx(t)
	a, w := c.byName[nodeA], c.byName[nodeW]
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	execSQL(t, ctx, c.WriterURL(""), "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
	id := systemID(t, ctx, c, nodeA)
	if got := systemID(t, ctx, c, nodeW); got != id {
		t.Fatalf("replica of system %s, primary %s", got, id)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	copies := func() int { return strings.Count(eventsOnly(rec), nodeW+" copied from "+nodeA) }
	for _, tt := range []struct {
		name    string
		prepare func(f nodeFiles) error
	}{
		{"a base backup of an earlier hastack that did not finish", func(f nodeFiles) error {
			if err := f.remove("data/" + markerName); err != nil {
				return err
			}
			return f.write("data/backup_label", []byte("START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n"))
		}},
		{"another node's marker, copied along", func(f nodeFiles) error {
			return f.write("data/"+markerName, []byte(nodeA+"\n"))
		}},
	} {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			before := copies()
			if err := tt.prepare(w.layout.files(c.acct)); err != nil {
				t.Fatal(err)
			}
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer c.Stop(ctx)
			if copies() != before+1 {
				t.Errorf("the replica was not copied again:\n%s", eventsOnly(rec))
			}
			if got := systemID(t, ctx, c, nodeW); got != id {
				t.Errorf("replica of system %s, primary %s", got, id)
			}
			waitFor(t, "the row on the replica", eventually, func() bool { return visible(ctx, c.DirectURL(nodeW), 1) })
		})
	}

	// The primary's initdb did not finish under an earlier hastack: no
	// marker, initdb's own pg_hba.conf. It is made anew; the replica, a
	// copy of the old cluster, says so and is copied again.
	f := a.layout.files(c.acct)
	if err := f.remove("data/" + markerName); err != nil {
		t.Fatal(err)
	}
	if err := f.write("data/pg_hba.conf", []byte("# PostgreSQL Client Authentication Configuration File\n")); err != nil {
		t.Fatal(err)
	}
	before := copies()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	newID := systemID(t, ctx, c, nodeA)
	if newID == id {
		t.Fatal("the primary's unfinished data was used")
	}
	waitFor(t, "the replica copied from the new cluster and streaming", eventually, func() bool {
		return copies() > before && streaming(nodeStatus(t, c, nodeW))
	})
	if got := systemID(t, ctx, c, nodeW); got != newID {
		t.Errorf("replica of system %s, primary %s", got, newID)
	}
	if !strings.Contains(rec.String(), "its data belongs to another cluster") {
		t.Errorf("no report that the replica's data belongs to another cluster:\n%s", eventsOnly(rec))
	}
	if err := c.Stop(context.WithoutCancel(ctx)); err != nil {
		t.Fatal(err)
	}
}
