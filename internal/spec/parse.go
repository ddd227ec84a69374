package spec

import (
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Load reads, parses and validates the stack file at filename. A file that
// does not validate yields an *Error listing every problem, each as
// FILE:LINE:COL: SENTENCE with FILE as given.
func Load(filename string) (*Stack, error) {
	f, err := os.Open(filename)
	if err != nil {
		return nil, fmt.Errorf("reading stack file: %w", err)
	}
	defer f.Close()
	// One byte over the limit is enough for Parse to refuse the file.
	src, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading stack file: %w", err)
	}
	s, diags := Parse(filename, src)
	if diags.HasErrors() {
		return nil, &Error{Diags: diags}
	}
	return s, nil
}

// Parse parses src, a stack file in HCL native syntax named filename,
// applies defaults and validates the result. It reports every problem it
// finds, ordered by position; when there is an error the stack is nil.
// Syntax errors are reported alone, since what follows them cannot be
// trusted. A file over MaxFileSize, nested too deep or with an expression
// that expands too far is refused with one sentence, never evaluated.
func Parse(filename string, src []byte) (*Stack, hcl.Diagnostics) {
	if diags := checkSource(filename, src); diags.HasErrors() {
		return nil, diags
	}
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, tidy(diags)
	}
	body, ok := file.Body.(*hclsyntax.Body)
	if !ok {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "the stack file is not in HCL native syntax."}}
	}
	d := newDecoder()
	s := d.stack(filename, body)
	diags = tidy(append(diags, d.diags...))
	if diags.HasErrors() {
		return nil, diags
	}
	return s, diags
}

// stack decodes the whole file.
func (d *decoder) stack(filename string, body *hclsyntax.Body) *Stack {
	start := hcl.Range{Filename: filename, Start: body.SrcRange.Start, End: body.SrcRange.Start}
	root := d.read(body, rootSchema, start)
	s := &Stack{Filename: filename}
	s.Name = get(d, root, "name", "", asString, stackName)
	if root.attr("name") == nil {
		d.errorf(start, "name is required, e.g. name = \"shop\".")
	}
	s.DNS = d.dns(root.block("dns"), start)

	sharedLB, sharedASG := root.block("load_balancer"), root.block("autoscaling")
	// Decode the shared blocks on their own as well, so a bad value in them
	// is reported even when every region overrides it, or there is no region.
	d.loadBalancer(sharedLB)
	d.autoScaling(sharedASG)

	regions := root.blocks["region"]
	for _, sec := range regions {
		s.Regions = append(s.Regions, d.region(sec, sharedLB, sharedASG))
	}
	s.Database = d.database(root.block("database"))
	s.Network = d.network(root.block("network"))
	s.Objectives = d.objectives(root.block("objectives"))
	s.Dashboard = d.dashboard(root.block("dashboard"), root.block("dns"), s.DNS)

	d.checkRegions(s, regions, start)
	d.checkDomainNames(s, regions)
	d.checkDatabase(s, root.block("database"))
	return s
}

// stackName accepts letters, digits, "-" and "_", starting with a letter or
// digit: the name is used for directories and AWS resource names.
func stackName(name string, v string) string {
	ok := v != "" && len(v) <= 63 && v[0] != '-' && v[0] != '_'
	for _, c := range []byte(v) {
		ok = ok && (isLower(c|0x20) || isDigit(c) || c == '-' || c == '_')
	}
	if !ok {
		return fmt.Sprintf("%s (%q) must be 1 to 63 letters, digits, \"-\" or \"_\", starting with a letter or digit.", name, v)
	}
	return ""
}
