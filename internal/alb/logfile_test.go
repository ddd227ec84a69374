package alb

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAccessLogFileRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alb.access.log")
	l, err := OpenAccessLog(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	line := func(i int) string { return strings.Repeat(string(rune('a'+i)), 29) + "\n" } // 30 bytes
	for i := range 7 {
		if _, err := l.Write([]byte(line(i))); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Write([]byte("x\n")); err == nil {
		t.Fatal("write after Close succeeded")
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	// 3 lines (90 bytes) fit in 100; the 4th starts a new file, the 7th
	// another, the first file is gone.
	if got, want := read(path+".1"), line(3)+line(4)+line(5); got != want {
		t.Errorf("old file %q, want %q", got, want)
	}
	if got, want := read(path), line(6); got != want {
		t.Errorf("current file %q, want %q", got, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v; want 0600", fi.Mode(), err)
	}

	// Reopened, it counts what the file holds already.
	l, err = OpenAccessLog(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := range 3 {
		if _, err := l.Write([]byte(line(i))); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := read(path+".1"), line(6)+line(0)+line(1); got != want {
		t.Errorf("after reopening, old file %q, want %q", got, want)
	}
	if got, want := read(path), line(2); got != want {
		t.Errorf("after reopening, current file %q, want %q", got, want)
	}

	// A file removed by hand is started anew at the next rotation (lines
	// until then go to the removed file).
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := l.Write([]byte(line(i))); err != nil {
			t.Fatalf("write after removal: %v", err)
		}
	}
	if got, want := read(path), line(2)+line(3); got != want {
		t.Errorf("after removal, current file %q, want %q", got, want)
	}
}

func TestAccessLogFileRefusesSymlinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "alb.access.log")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if l, err := OpenAccessLog(link, 0); err == nil {
		l.Close()
		t.Fatal("opened an access log through a symbolic link")
	}
	if l, err := OpenAccessLog(dir, 0); err == nil {
		l.Close()
		t.Fatal("opened a directory as the access log")
	}
}
