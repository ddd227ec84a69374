package lease

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestPackageDoc checks that exactly one file documents the package.
func TestPackageDoc(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var documented []string
	for _, file := range files {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc != nil && !strings.HasSuffix(file, "_test.go") {
			documented = append(documented, file)
		}
	}
	if len(documented) != 1 || documented[0] != "doc.go" {
		t.Errorf("package doc comments in %v, want only doc.go", documented)
	}
}
