package stack

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, content := range []string{"first", "second"} {
		if err := WriteFileAtomic(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("read %q, %v; want %q", got, err, content)
		}
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestLockIsExclusive(t *testing.T) {
	p := Paths{Dir: t.TempDir()}
	if p.Running() {
		t.Fatal("an unlocked state dir reports running")
	}
	f, err := p.lock()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.lock(); !errors.Is(err, ErrRunning) {
		t.Fatalf("second lock: %v, want ErrRunning", err)
	}
	if !p.Running() {
		t.Fatal("a locked state dir reports not running")
	}
	f.Close()
	if p.Running() {
		t.Fatal("lock not released on close")
	}
}

func TestRecordRoundTrip(t *testing.T) {
	p := Paths{Dir: t.TempDir()}
	want := Record{Name: "quick", StackFile: "/x/stack.hcl", PID: 42, Socket: p.Socket(), StartedAt: time.Unix(1700000000, 0).UTC()}
	if err := p.writeRecord(want); err != nil {
		t.Fatal(err)
	}
	got, err := p.ReadRecord()
	if err != nil || got != want {
		t.Fatalf("ReadRecord = %+v, %v; want %+v", got, err, want)
	}
	if err := os.WriteFile(p.State(), []byte("{half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ReadRecord(); err == nil {
		t.Fatal("a corrupt state file reads without error")
	}
}

func TestHostOfURLHidesCredentials(t *testing.T) {
	got := hostOfURL("postgres://hastack:s3cr%2Ft@127.1.11.5:5432/app?sslmode=disable")
	if got != "127.1.11.5:5432" {
		t.Fatalf("hostOfURL = %q", got)
	}
}

func TestEventLog(t *testing.T) {
	p := Paths{Dir: t.TempDir()}
	l, err := openEventLog(p.Events(), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	l.Add("fault.inject", "region us-east-1 failed")
	l.Add("dns.failover", "app.example.com now answers 127.2.1.10")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	events, err := ReadEvents(p)
	if err != nil || len(events) != 2 || events[1].Kind != "dns.failover" {
		t.Fatalf("ReadEvents = %+v, %v", events, err)
	}
	fi, _ := os.Stat(p.Events())
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("event log mode %v, want 0600", fi.Mode().Perm())
	}
}
