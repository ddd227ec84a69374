package spec_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hastack/hastack/internal/spec"
)

// FuzzParse: no stack file makes the parser panic, hang or run out of
// memory, and every problem it reports is one line that starts with
// FILE:LINE:COL. The corpus in testdata/fuzz/FuzzParse holds the examples
// and files built to exhaust the parser; findings are added there.
func FuzzParse(f *testing.F) {
	examples, _ := filepath.Glob("../../examples/*/stack.hcl")
	for _, file := range examples {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte(base))
	f.Add([]byte(withBase("autoscaling {\n  min_size = 5\n}")))
	f.Add([]byte("region {\n}\nregion \"a\" \"b\" {\n  vpc {\n    azs = [1, null]\n  }\n}"))
	f.Fuzz(func(t *testing.T, src []byte) {
		s, diags := spec.Parse("stack.hcl", src)
		if diags.HasErrors() {
			if s != nil {
				t.Fatal("a stack came back with errors")
			}
			for _, line := range strings.Split(spec.FormatDiagnostics(diags), "\n") {
				if !strings.HasPrefix(line, "stack.hcl:") {
					t.Fatalf("a problem without its position: %q", line)
				}
			}
			return
		}
		if s == nil || len(s.Regions) == 0 {
			t.Fatal("a valid file gave no stack")
		}
	})
}
