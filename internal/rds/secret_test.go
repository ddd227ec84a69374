package rds

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

func TestPasswordGeneratedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets", "db-password")
	pw1, err := loadOrCreatePassword(path)
	if err != nil {
		t.Fatal(err)
	}
	pw2, err := loadOrCreatePassword(path)
	if err != nil {
		t.Fatal(err)
	}
	if pw1 != pw2 || len(pw1) != 2*passwordBytes {
		t.Fatalf("passwords %q and %q, want the same %d characters", pw1, pw2, 2*passwordBytes)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v, want mode 0600", fi, err)
	}
}

func TestScramVerifierFormat(t *testing.T) {
	v, err := scramVerifier("secret")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$`)
	if !re.MatchString(v) {
		t.Fatalf("verifier %q has the wrong shape", v)
	}
}
