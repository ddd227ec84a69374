package terraform

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/hastack/hastack/internal/spec"
)

// config is an exported configuration, parsed: what each module (a
// directory) declares, without any provider or terraform binary.
type config struct {
	dirs map[string]*tfDir
}

type tfDir struct {
	name      string
	bodies    map[string]*hclsyntax.Body // file name → body
	variables map[string]*hclsyntax.Block
	outputs   map[string]bool
	resources map[string]bool // "aws_vpc.this", "data.aws_ami.al2023"
	locals    map[string]bool
	calls     map[string]*hclsyntax.Block // module calls by name
	providers map[string]bool             // "aws.us_east_1"
	tfvars    map[string]*hclsyntax.Attribute
}

func parseConfig(files map[string][]byte) (*config, error) {
	c := &config{dirs: map[string]*tfDir{}}
	p := hclparse.NewParser()
	for _, name := range Paths(files) {
		ext := path.Ext(name)
		if ext != ".tf" && ext != ".tfvars" {
			continue
		}
		f, diags := p.ParseHCL(files[name], name)
		if diags.HasErrors() {
			return nil, fmt.Errorf("parsing %s: %s", name, diags.Error())
		}
		dir := c.dir(path.Dir(name))
		b := f.Body.(*hclsyntax.Body)
		dir.bodies[path.Base(name)] = b
		if ext == ".tfvars" {
			for n, a := range b.Attributes {
				dir.tfvars[n] = a
			}
			continue
		}
		for _, blk := range b.Blocks {
			switch blk.Type {
			case "variable":
				dir.variables[blk.Labels[0]] = blk
			case "output":
				dir.outputs[blk.Labels[0]] = true
			case "resource":
				dir.resources[blk.Labels[0]+"."+blk.Labels[1]] = true
			case "data":
				dir.resources["data."+blk.Labels[0]+"."+blk.Labels[1]] = true
			case "locals":
				for n := range blk.Body.Attributes {
					dir.locals[n] = true
				}
			case "module":
				dir.calls[blk.Labels[0]] = blk
			case "provider":
				if a, ok := blk.Body.Attributes["alias"]; ok {
					v, _ := a.Expr.Value(nil)
					dir.providers[blk.Labels[0]+"."+v.AsString()] = true
				}
			}
		}
	}
	return c, nil
}

func (c *config) dir(name string) *tfDir {
	if d, ok := c.dirs[name]; ok {
		return d
	}
	d := &tfDir{
		name: name, bodies: map[string]*hclsyntax.Body{},
		variables: map[string]*hclsyntax.Block{}, outputs: map[string]bool{},
		resources: map[string]bool{}, locals: map[string]bool{},
		calls: map[string]*hclsyntax.Block{}, providers: map[string]bool{},
		tfvars: map[string]*hclsyntax.Attribute{},
	}
	c.dirs[name] = d
	return d
}

func required(v *hclsyntax.Block) bool {
	_, ok := v.Body.Attributes["default"]
	return !ok
}

// source is the directory a module call loads.
func (c *config) source(d *tfDir, call *hclsyntax.Block) (*tfDir, error) {
	v, diags := call.Body.Attributes["source"].Expr.Value(nil)
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s: module %s: source: %s", d.name, call.Labels[0], diags.Error())
	}
	target, ok := c.dirs[path.Join(d.name, v.AsString())]
	if !ok {
		return nil, fmt.Errorf("%s: module %s: source %s is not exported", d.name, call.Labels[0], v.AsString())
	}
	return target, nil
}

// metaArgs are module call arguments that are not the module's variables.
var metaArgs = []string{"source", "providers", "count", "for_each", "depends_on", "version"}

// implicitRoots are references every Terraform expression may use.
var implicitRoots = []string{"count", "each", "path", "self", "terraform"}

// check returns every broken reference in the configuration, sorted.
func (c *config) check() []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	for _, d := range c.dirs {
		used := map[string]bool{}
		passed := map[string]bool{}
		for file, b := range d.bodies {
			if strings.HasSuffix(file, ".tfvars") {
				continue
			}
			walk(b, "", nil, func(t hcl.Traversal, scope []string) {
				root := t.RootName()
				where := fmt.Sprintf("%s/%s:%d", d.name, file, t.SourceRange().Start.Line)
				switch {
				case slices.Contains(implicitRoots, root), slices.Contains(scope, root):
				case root == "var":
					n := attrName(t, 1)
					used[n] = true
					if d.variables[n] == nil {
						fail("%s: var.%s is not declared in %s/variables.tf", where, n, d.name)
					}
				case root == "local":
					if !d.locals[attrName(t, 1)] {
						fail("%s: local.%s is not declared", where, attrName(t, 1))
					}
				case root == "module":
					name, out := attrName(t, 1), attrName(t, 2)
					call := d.calls[name]
					if call == nil {
						fail("%s: module.%s is not called", where, name)
						break
					}
					target, err := c.source(d, call)
					if err != nil {
						fail("%s", err)
					} else if !target.outputs[out] {
						fail("%s: module.%s.%s is not an output of %s", where, name, out, target.name)
					}
				case root == "data":
					ref := "data." + attrName(t, 1) + "." + attrName(t, 2)
					if !d.resources[ref] {
						fail("%s: %s is not declared in %s", where, ref, d.name)
					}
				case root == "aws" && d.providers["aws."+attrName(t, 1)]:
					// a provider reference in a module call's providers map
				default:
					ref := root + "." + attrName(t, 1)
					if !d.resources[ref] {
						fail("%s: %s is not declared in %s", where, ref, d.name)
					}
				}
			})
		}
		for n := range d.variables {
			if !used[n] {
				fail("%s: variable %s is never used", d.name, n)
			}
		}
		for name, call := range d.calls {
			target, err := c.source(d, call)
			if err != nil {
				fail("%s", err)
				continue
			}
			for arg := range call.Body.Attributes {
				if !slices.Contains(metaArgs, arg) && target.variables[arg] == nil {
					fail("%s: module %s passes %s, which %s does not declare", d.name, name, arg, target.name)
				}
			}
			for v, blk := range target.variables {
				if _, ok := call.Body.Attributes[v]; required(blk) && !ok {
					fail("%s: module %s does not pass %s, which %s requires", d.name, name, v, target.name)
				}
			}
			passed[c.checkProviders(d, name, call, fail)] = true
		}
		for alias := range d.providers {
			if !passed[alias] {
				fail("%s: provider %s is passed to no module", d.name, alias)
			}
		}
	}
	sort.Strings(errs)
	return errs
}

// checkProviders checks that a module call passes exactly { aws = aws.ALIAS }
// with an alias the configuration declares, and returns "aws.ALIAS".
func (c *config) checkProviders(d *tfDir, name string, call *hclsyntax.Block, fail func(string, ...any)) string {
	attr := call.Body.Attributes["providers"]
	if attr == nil {
		fail("%s: module %s is passed no provider", d.name, name)
		return ""
	}
	obj, ok := attr.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok || len(obj.Items) != 1 {
		fail("%s: module %s: providers is not a map with one provider", d.name, name)
		return ""
	}
	key := hcl.ExprAsKeyword(obj.Items[0].KeyExpr)
	t, diags := hcl.AbsTraversalForExpr(obj.Items[0].ValueExpr)
	if key != "aws" || diags.HasErrors() || len(t) != 2 {
		fail("%s: module %s: providers must map aws to aws.ALIAS", d.name, name)
		return ""
	}
	alias := "aws." + attrName(t, 1)
	if !d.providers[alias] {
		fail("%s: module %s is passed %s, which provider.tf does not declare", d.name, name, alias)
	}
	return alias
}

// notExpressions are attributes whose names are not references: a
// variable's type and the attributes lifecycle ignores.
var notExpressions = map[string]string{"variable": "type", "lifecycle": "ignore_changes"}

// walk calls visit with every traversal in the expressions of body, a
// block of type typ, and the dynamic-block iterator names in scope there.
func walk(body *hclsyntax.Body, typ string, scope []string, visit func(hcl.Traversal, []string)) {
	for name, a := range body.Attributes {
		if notExpressions[typ] == name {
			continue
		}
		for _, t := range a.Expr.Variables() {
			visit(t, scope)
		}
	}
	for _, b := range body.Blocks {
		inner := scope
		if b.Type == "dynamic" {
			inner = append(slices.Clone(scope), b.Labels[0])
		}
		walk(b.Body, b.Type, inner, visit)
	}
}

func attrName(t hcl.Traversal, i int) string {
	if i >= len(t) {
		return ""
	}
	if a, ok := t[i].(hcl.TraverseAttr); ok {
		return a.Name
	}
	return ""
}

// inputs evaluates the calling configuration's module arguments with the
// values of terraform.tfvars: module name → argument → value. Outputs of
// other modules are unknown.
func (c *config) inputs() (map[string]map[string]cty.Value, error) {
	env := c.dirs[strings.TrimSuffix(envDir, "/")]
	vars, err := env.tfvarsValues()
	if err != nil {
		return nil, err
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
		"var":    cty.ObjectVal(vars),
		"module": cty.DynamicVal,
	}}
	out := map[string]map[string]cty.Value{}
	for name, call := range env.calls {
		out[name] = map[string]cty.Value{}
		for arg, a := range call.Body.Attributes {
			if slices.Contains(metaArgs, arg) {
				continue
			}
			v, diags := a.Expr.Value(ctx)
			if diags.HasErrors() {
				return nil, fmt.Errorf("module %s: %s: %s", name, arg, diags.Error())
			}
			out[name][arg] = v
		}
	}
	return out, nil
}

// tfvarsValues are the tfvars values converted to their variables' types;
// every variable must be set and every value declared.
func (d *tfDir) tfvarsValues() (map[string]cty.Value, error) {
	vals := map[string]cty.Value{}
	for name, a := range d.tfvars {
		decl := d.variables[name]
		if decl == nil {
			return nil, fmt.Errorf("terraform.tfvars sets %s, which is not declared", name)
		}
		ty, diags := typeexpr.TypeConstraint(decl.Body.Attributes["type"].Expr)
		if diags.HasErrors() {
			return nil, fmt.Errorf("variable %s: type: %s", name, diags.Error())
		}
		v, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			return nil, fmt.Errorf("terraform.tfvars: %s: %s", name, diags.Error())
		}
		if ty.IsObjectType() && v.Type().IsObjectType() {
			if err := sameKeys(name, ty, v.Type()); err != nil {
				return nil, err
			}
		}
		cv, err := convert.Convert(v, ty)
		if err != nil {
			return nil, fmt.Errorf("terraform.tfvars: %s does not fit its type: %v", name, err)
		}
		vals[name] = cv
	}
	for name := range d.variables {
		if _, ok := vals[name]; !ok {
			return nil, fmt.Errorf("terraform.tfvars does not set %s", name)
		}
	}
	return vals, nil
}

// sameKeys reports object attributes a value has but its type lacks, or
// the other way round, at any depth.
func sameKeys(where string, ty, vt cty.Type) error {
	for k, at := range ty.AttributeTypes() {
		if !vt.HasAttribute(k) {
			return fmt.Errorf("terraform.tfvars: %s has no %s", where, k)
		}
		if at.IsObjectType() {
			if err := sameKeys(where+"."+k, at, vt.AttributeType(k)); err != nil {
				return err
			}
		}
	}
	for k := range vt.AttributeTypes() {
		if !ty.HasAttribute(k) {
			return fmt.Errorf("terraform.tfvars: %s.%s is not in its type", where, k)
		}
	}
	return nil
}

// attrSource is the source of attribute attr of the block at blockPath
// (e.g. `resource aws_lb_target_group this`, then `health_check`) in a
// directory's file.
func (d *tfDir) attrSource(src []byte, file string, blockPath [][]string, attr string) (string, bool) {
	b := d.bodies[file]
	for _, want := range blockPath {
		var next *hclsyntax.Body
		for _, blk := range b.Blocks {
			if blk.Type == want[0] && slices.Equal(blk.Labels, want[1:]) {
				next = blk.Body
				break
			}
		}
		if next == nil {
			return "", false
		}
		b = next
	}
	a, ok := b.Attributes[attr]
	if !ok {
		return "", false
	}
	r := a.Expr.Range()
	return string(src[r.Start.Byte:r.End.Byte]), true
}

func TestReferences(t *testing.T) {
	tests := []struct {
		name string
		edit func(*spec.Stack)
	}{
		{name: "two-region"},
		{name: "no replica", edit: func(s *spec.Stack) { s.Database.Replicas = nil }},
		{name: "no multi-az", edit: func(s *spec.Stack) { s.Database.MultiAZ = false }},
		{name: "swapped roles", edit: func(s *spec.Stack) {
			s.Regions[0].Role, s.Regions[1].Role = s.Regions[1].Role, s.Regions[0].Role
			s.Database.Replicas[0].Region = s.Regions[0].Name
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := example(t, "two-region")
			if tc.edit != nil {
				tc.edit(s)
			}
			opts := Options{
				CertificateARN: map[string]string{"us-east-1": "arn:aws:acm:us-east-1:123456789012:certificate/abc"},
				AMI:            map[string]string{"us-west-2": "ami-0123456789abcdef0"},
			}
			c, err := parseConfig(mustExport(t, s, opts))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range c.check() {
				t.Error(e)
			}
			if _, err := c.inputs(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestCheckerFindsBrokenReferences makes sure the checks above can fail.
func TestCheckerFindsBrokenReferences(t *testing.T) {
	tests := []struct {
		file, old, new, want string
	}{
		{"modules/vpc/main.tf", "var.cidr", "var.cidr_block", "var.cidr_block is not declared"},
		{"modules/vpc/main.tf", "var.cidr", `"10.0.0.0/16"`, "variable cidr is never used"},
		{"envs/prod/main.tf", "module.vpc_primary.vpc_id", "module.vpc_primary.id", "module.vpc_primary.id is not an output of modules/vpc"},
		{"envs/prod/main.tf", "  name                 = var.name\n", "", "module vpc_primary does not pass name, which modules/vpc requires"},
		{"envs/prod/main.tf", "  ami_id                    = var.primary_ami_id\n", "  ami                       = var.primary_ami_id\n", "module asg_primary passes ami, which modules/asg does not declare"},
		{"envs/prod/main.tf", "aws = aws.us_west_2", "aws = aws.us_west_1", "is passed aws.us_west_1, which provider.tf does not declare"},
		{"modules/alb/main.tf", "aws_lb.this.arn", "aws_lb.main.arn", "aws_lb.main is not declared in modules/alb"},
		{"modules/asg/main.tf", "data.aws_ami.al2023.id", "data.aws_ami.latest.id", "data.aws_ami.latest is not declared"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			files := mustExport(t, example(t, "two-region"), Options{})
			src := string(files[tc.file])
			if !strings.Contains(src, tc.old) {
				t.Fatalf("%s has no %q", tc.file, tc.old)
			}
			files[tc.file] = []byte(strings.Replace(src, tc.old, tc.new, 1))
			c, err := parseConfig(files)
			if err != nil {
				t.Fatal(err)
			}
			errs := strings.Join(c.check(), "\n")
			if !strings.Contains(errs, tc.want) {
				t.Errorf("checks found:\n%s\nwant one containing %q", errs, tc.want)
			}
		})
	}
}
