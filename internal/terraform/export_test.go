package terraform

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2/hclwrite"

	"github.com/hastack/hastack/internal/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// example loads a stack file from examples/.
func example(t *testing.T, name string) *spec.Stack {
	t.Helper()
	s, err := spec.Load(filepath.Join("..", "..", "examples", name, "stack.hcl"))
	if err != nil {
		t.Fatalf("loading example %s: %v", name, err)
	}
	return s
}

func mustExport(t *testing.T, s *spec.Stack, opts Options) map[string][]byte {
	t.Helper()
	files, err := Export(s, opts)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	return files
}

// TestGolden compares the export of examples/two-region with the files
// under testdata/golden/two-region; -update rewrites them.
func TestGolden(t *testing.T) {
	files := mustExport(t, example(t, "two-region"), Options{})
	dir := filepath.Join("testdata", "golden", "two-region")
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		for _, p := range Paths(files) {
			path := filepath.Join(dir, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, files[p], 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	onDisk := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		onDisk[filepath.ToSlash(rel)] = true
		return nil
	})
	if err != nil {
		t.Fatalf("reading golden files (run go test -update to create them): %v", err)
	}
	for _, p := range Paths(files) {
		want, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			t.Errorf("%s: not in the golden files (run go test -update): %v", p, err)
			continue
		}
		if !bytes.Equal(files[p], want) {
			t.Errorf("%s differs from the golden file (run go test -update if the change is intended):\n%s", p, lineDiff(string(want), string(files[p])))
		}
	}
	for p := range onDisk {
		if _, ok := files[p]; !ok {
			t.Errorf("golden file %s is no longer exported (run go test -update)", p)
		}
	}
}

// TestLayout checks the seed's file layout.
func TestLayout(t *testing.T) {
	files := mustExport(t, example(t, "two-region"), Options{})
	var want []string
	for _, m := range []string{"alb", "asg", "rds", "route53", "vpc"} {
		for _, f := range []string{"main.tf", "outputs.tf", "variables.tf"} {
			want = append(want, "modules/"+m+"/"+f)
		}
	}
	want = append(want, "README.md",
		"envs/prod/backend.tf", "envs/prod/main.tf", "envs/prod/outputs.tf",
		"envs/prod/provider.tf", "envs/prod/terraform.tfvars", "envs/prod/variables.tf")
	for _, p := range want {
		if len(files[p]) == 0 {
			t.Errorf("%s is missing or empty", p)
		}
	}
	if len(files) != len(want) {
		t.Errorf("exported %d files, want %d: %v", len(files), len(want), Paths(files))
	}
}

// TestDeterministic: the same input gives byte-identical files, formatted
// as terraform fmt would.
func TestDeterministic(t *testing.T) {
	for _, name := range []string{"two-region"} {
		a := mustExport(t, example(t, name), Options{})
		b := mustExport(t, example(t, name), Options{})
		if len(a) != len(b) {
			t.Fatalf("%s: %d files, then %d", name, len(a), len(b))
		}
		for p, content := range a {
			if !bytes.Equal(content, b[p]) {
				t.Errorf("%s: %s differs between two exports", name, p)
			}
			if filepath.Ext(p) == ".md" {
				continue
			}
			if formatted := hclwrite.Format(content); !bytes.Equal(formatted, content) {
				t.Errorf("%s: %s is not formatted:\n%s", name, p, lineDiff(string(content), string(formatted)))
			}
		}
	}
}

// TestEngines: the stack file's engine reaches the export with a version
// and a parameter group family of its own, for the primary and the
// replica alike (the seed's engine is mysql).
func TestEngines(t *testing.T) {
	for _, tc := range []struct {
		engine, version, family string
	}{
		{"postgres", "16", "postgres16"},
		{"mysql", "8.0", "mysql8.0"},
	} {
		t.Run(tc.engine, func(t *testing.T) {
			s := example(t, "two-region")
			s.Database.Engine = tc.engine
			files := mustExport(t, s, Options{})
			vars := string(files["envs/prod/terraform.tfvars"])
			for _, want := range []string{
				`engine                  = "` + tc.engine + `"`,
				`engine_version          = "` + tc.version + `"`,
				`parameter_group_family  = "` + tc.family + `"`,
			} {
				if !strings.Contains(vars, want) {
					t.Errorf("terraform.tfvars lacks %s:\n%s", want, vars)
				}
			}
			main := string(files["envs/prod/main.tf"])
			if n := strings.Count(main, "parameter_group_family     = var.database.parameter_group_family"); n != 2 {
				t.Errorf("%d rds modules get the parameter group family, want 2 (primary and replica)", n)
			}
			if !strings.Contains(string(files["modules/rds/main.tf"]), "parameter_group_name        = aws_db_parameter_group.this.name") {
				t.Error("the DB instance does not use its parameter group")
			}
		})
	}
}
