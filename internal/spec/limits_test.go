package spec_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/hastack/hastack/internal/spec"
)

// TestHostileFiles: files built to exhaust memory or the stack are refused
// with one sentence at the place that goes too far, cheaply.
func TestHostileFiles(t *testing.T) {
	list := func(n int, elem string) string {
		return "[" + strings.Repeat(elem+", ", n-1) + elem + "]"
	}
	l30 := list(30, "1")
	tests := []struct {
		name, src, want string
	}{
		{"too large", "name = \"" + strings.Repeat("a", spec.MaxFileSize) + "\"",
			"stack.hcl:1:1: the stack file is 262153 bytes; the limit is 256 KiB."},
		{"deep parentheses", "name = " + strings.Repeat("(", 100000) + "1" + strings.Repeat(")", 100000),
			"stack.hcl:1:207: the expression nests more than 200 levels deep (brackets, templates and operators); simplify it."},
		{"deep lists", "name = " + strings.Repeat("[", 100000) + strings.Repeat("]", 100000),
			"stack.hcl:1:107: the expression nests more than 200 levels deep (brackets, templates and operators); simplify it."},
		{"long operator chain", "name = 1" + strings.Repeat(" + 1", 50000),
			"stack.hcl:1:806: the expression nests more than 200 levels deep (brackets, templates and operators); simplify it."},
		{"long operator chain over lines", "name = (1" + strings.Repeat("\n+ 1", 50000) + ")",
			"stack.hcl:200:1: the expression nests more than 200 levels deep (brackets, templates and operators); simplify it."},
		{"unary chain", "name = " + strings.Repeat("!", 100000) + "true",
			"stack.hcl:1:207: the expression nests more than 200 levels deep (brackets, templates and operators); simplify it."},
		{"nested interpolation", "name = \"" + strings.Repeat("${\"", 10000) + strings.Repeat("\"}", 10000) + "\"",
			"stack.hcl:1:306: the expression nests more than 200 levels deep (brackets, templates and operators); simplify it."},
		{"nested template for", "name = \"" + strings.Repeat("%{for x in [1]}", 10000) + strings.Repeat("%{endfor}", 10000) + "\"",
			"stack.hcl:1:2945: the expression nests more than 200 levels deep (brackets, templates and operators); simplify it."},
		{"nested for", "name = [for a in " + l30 + " : [for b in " + l30 + " : [for c in " + l30 + " : [for d in " + l30 + " : \"xxxxxxxx\"]]]]",
			"stack.hcl:2:8: name expands to more than 1048576 values and string bytes; simplify it."},
		{"template for", "name = \"%{for a in " + l30 + "}%{for b in " + l30 + "}%{for c in " + l30 + "}%{for d in " + l30 + "}xxxxxxxx%{endfor}%{endfor}%{endfor}%{endfor}\"",
			"stack.hcl:2:8: name expands to more than 1048576 values and string bytes; simplify it."},
		{"doubling strings", "name = " + doubling(40),
			"stack.hcl:2:8: name expands to more than 1048576 values and string bytes; simplify it."},
		{"result thrown away", "name = [for a in " + l30 + " : [for b in " + l30 + " : [for c in " + l30 + " : [for d in " + l30 + " : 1]]]][0]",
			"stack.hcl:2:8: name expands to more than 1048576 values and string bytes; simplify it."},
		{"huge number printed", "name = \"${1e100000000}\"",
			"stack.hcl:2:8: name expands to more than 1048576 values and string bytes; simplify it."},
		{"huge modulo", "name = 1e100000000 % 7",
			"stack.hcl:2:8: name expands to more than 1048576 values and string bytes; simplify it."},
		{"splat of nested for", "name = [for a in " + l30 + " : [for b in " + l30 + " : [for c in " + l30 + " : [for d in " + l30 + " : 1]]]][*][0]",
			"stack.hcl:2:8: name expands to more than 1048576 values and string bytes; simplify it."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			src := tt.src
			if expr, ok := strings.CutPrefix(src, "name = "); ok && strings.HasPrefix(tt.want, "stack.hcl:2:8: name expands") {
				src = strings.Replace(base, `name = "t"`, "name = "+expr, 1)
			}
			s, diags := spec.Parse("stack.hcl", []byte(src))
			runtime.ReadMemStats(&after)
			if got := spec.FormatDiagnostics(diags); got != tt.want {
				t.Errorf("diagnostics:\n got: %.300s\nwant: %s", got, tt.want)
			}
			if s != nil {
				t.Error("a stack came back from a refused file")
			}
			// Lexing costs a few hundred bytes per token; nothing may cost
			// more than that.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
				t.Errorf("parsing allocated %d MiB", alloc>>20)
			}
		})
	}
}

// doubling nests n for expressions, each binding a string twice as long
// as the one before.
func doubling(n int) string {
	return `[for x in ["a"] : ` + strings.Repeat(`[for x in ["${x}${x}"] : `, n) + "x" + strings.Repeat("]", n+1)
}

// TestExpressionsWithinLimits: the expressions a real stack file uses
// still work.
func TestExpressionsWithinLimits(t *testing.T) {
	src := strings.Replace(base, `["us-east-1a", "us-east-1b"]`, `[for z in ["a", "b"] : "us-east-1${z}"]`, 1)
	src = strings.Replace(src, `["10.0.1.0/24", "10.0.2.0/24"]`, `[for i in [1, 2] : "10.0.${i}.0/24"]`, 1)
	src = "autoscaling {\n  launch_template {\n" +
		"    args = [for i in [1, 2, 3] : \"--n=${i * 1000}\"]\n" +
		"    env = { for k in [\"A\", \"B\"] : k => \"%{for v in [1, 2]}${v}%{endfor}\" }\n" +
		"  }\n}\n" + src
	s, diags := spec.Parse("stack.hcl", []byte(src))
	if diags.HasErrors() {
		t.Fatal(spec.FormatDiagnostics(diags))
	}
	r := s.Primary()
	if got := strings.Join(r.VPC.AZs, " "); got != "us-east-1a us-east-1b" {
		t.Errorf("azs = %s", got)
	}
	lt := r.AutoScaling.LaunchTemplate
	if got := strings.Join(lt.Args, " "); got != "--n=1000 --n=2000 --n=3000" {
		t.Errorf("args = %s", got)
	}
	if lt.Env["A"] != "12" || lt.Env["B"] != "12" {
		t.Errorf("env = %v", lt.Env)
	}
}

// TestEnvNames: environment names must be shell identifiers, reported at
// the offending key.
func TestEnvNames(t *testing.T) {
	for _, tt := range []struct{ env, want string }{
		{`{ "A;reboot" = "x" }`, `stack.hcl:3:13: env has an invalid variable name "A;reboot": use letters, digits and "_", not starting with a digit.`},
		{`{ OK = "1", "1ST" = "x" }`, `stack.hcl:3:23: env has an invalid variable name "1ST": use letters, digits and "_", not starting with a digit.`},
		{`{ "A\nB" = "x" }`, `stack.hcl:3:13: env has an invalid variable name "A\nB": use letters, digits and "_", not starting with a digit.`},
		{`{ "" = "x" }`, `stack.hcl:3:13: env has an invalid variable name "": use letters, digits and "_", not starting with a digit.`},
		{`{ "A B" = "x" }`, `stack.hcl:3:13: env has an invalid variable name "A B": use letters, digits and "_", not starting with a digit.`},
		{`{ "A=B" = "x" }`, `stack.hcl:3:13: env has an invalid variable name "A=B": use letters, digits and "_", not starting with a digit.`},
		{`{ for k in ["$(id)"] : k => "x" }`, `stack.hcl:3:11: env has an invalid variable name "$(id)": use letters, digits and "_", not starting with a digit.`},
	} {
		_, diags := parse(t, withBase("autoscaling {\n  launch_template {\n    env = "+tt.env+"\n  }\n}"))
		if got := spec.FormatDiagnostics(diags); got != tt.want {
			t.Errorf("env = %s:\n got: %s\nwant: %s", tt.env, got, tt.want)
		}
	}
	s, diags := parse(t, withBase("autoscaling {\n  launch_template {\n    env = { _A1 = \"v\", b_2 = \"w\" }\n  }\n}"))
	if diags.HasErrors() || s.Primary().AutoScaling.LaunchTemplate.Env["b_2"] != "w" {
		t.Errorf("valid names refused: %s", spec.FormatDiagnostics(diags))
	}
}

// TestLoadLimit: Load reads no more than the limit of a huge file.
func TestLoadLimit(t *testing.T) {
	file := filepath.Join(t.TempDir(), "big.hcl")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	// A sparse file of 1 GiB: reading it whole would show.
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = spec.Load(file)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "big.hcl:1:1: the stack file is 262145 bytes; the limit is 256 KiB.") {
		t.Errorf("Load of a 1 GiB file: %v", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("Load allocated %d MiB", alloc>>20)
	}
}
