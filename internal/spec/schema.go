package spec

import (
	"fmt"
	"maps"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// schema names the attributes and nested blocks a block may contain.
type schema struct {
	name   string    // block type, e.g. "health_check"
	label  string    // the one label the block takes, e.g. "name"; "" for none
	multi  bool      // the block may appear more than once
	attrs  []string  // attribute names allowed in the block
	blocks []*schema // nested blocks allowed in the block
}

var (
	dnsHealthCheckSchema = &schema{name: "health_check", attrs: []string{
		"path", "request_interval", "failure_threshold", "connect_timeout", "response_timeout", "checkers",
	}}
	dnsSchema = &schema{name: "dns", attrs: []string{
		"domain", "zone", "ttl", "listen", "evaluate_target_health",
	}, blocks: []*schema{dnsHealthCheckSchema}}

	targetHealthCheckSchema = &schema{name: "health_check", attrs: []string{
		"path", "port", "interval", "timeout", "healthy_threshold", "unhealthy_threshold", "matcher",
	}}
	loadBalancerSchema = &schema{name: "load_balancer", attrs: []string{
		"port", "algorithm", "deregistration_delay", "idle_timeout", "retry_on_connect_failure", "access_logs", "max_connections",
	}, blocks: []*schema{targetHealthCheckSchema}}

	launchTemplateSchema = &schema{name: "launch_template", attrs: []string{"command", "args", "env", "port", "user"}}
	policyAttrs          = []string{
		"cpu_threshold", "period", "evaluation_periods", "datapoints_to_alarm", "adjustment", "cooldown",
	}
	autoScalingSchema = &schema{name: "autoscaling", attrs: []string{
		"min_size", "max_size", "desired_capacity", "health_check_type", "health_check_grace_period",
	}, blocks: []*schema{
		launchTemplateSchema,
		{name: "scale_out", attrs: policyAttrs},
		{name: "scale_in", attrs: policyAttrs},
	}}

	vpcSchema = &schema{name: "vpc", attrs: []string{"cidr", "azs", "public_subnets", "private_subnets"}}

	regionSchema = &schema{name: "region", label: "name", multi: true, attrs: []string{"role"},
		blocks: []*schema{vpcSchema, loadBalancerSchema, autoScalingSchema}}

	databaseSchema = &schema{name: "database", attrs: []string{
		"engine", "multi_az", "port", "name", "username", "cross_region_failover",
		"failover_detection", "region_failover_after", "fencing", "fencing_lease", "cross_region_commit",
	}, blocks: []*schema{{name: "replica", multi: true, attrs: []string{"region"}}}}

	objectivesSchema = &schema{name: "objectives", attrs: []string{"rto", "rpo", "max_error_rate"}}

	networkSchema = &schema{name: "network", attrs: []string{"inter_region_latency"}}

	dashboardSchema = &schema{name: "dashboard", attrs: []string{"listen", "read_only"}}

	rootSchema = &schema{attrs: []string{"name"}, blocks: []*schema{
		dnsSchema, loadBalancerSchema, autoScalingSchema, regionSchema, databaseSchema, networkSchema, objectivesSchema,
		dashboardSchema,
	}}
)

// where says where the block sits, for messages.
func (s *schema) where() string {
	if s.name == "" {
		return "at the top level"
	}
	return fmt.Sprintf("in the %s block", s.name)
}

func (s *schema) block(name string) *schema {
	for _, b := range s.blocks {
		if b.name == name {
			return b
		}
	}
	return nil
}

func (s *schema) names() []string {
	names := slices.Clone(s.attrs)
	for _, b := range s.blocks {
		names = append(names, b.name)
	}
	return names
}

// section is one block of the stack file, checked against its schema. A
// section may also be several blocks merged: see merge.
type section struct {
	label  string
	def    hcl.Range // the block's header, for block-level diagnostics
	labelR hcl.Range // the label's range, or def if the block has none
	attrs  map[string]*hclsyntax.Attribute
	blocks map[string][]*section
}

// attr returns the named attribute, or nil. It is safe on a nil section.
func (s *section) attr(name string) *hclsyntax.Attribute {
	if s == nil {
		return nil
	}
	return s.attrs[name]
}

// block returns the first nested block of that type, or nil. It is safe on
// a nil section.
func (s *section) block(name string) *section {
	if s == nil || len(s.blocks[name]) == 0 {
		return nil
	}
	return s.blocks[name][0]
}

// at is where a diagnostic about the named attribute points: its value if
// it is written, else the block's header.
func (s *section) at(name string) hcl.Range {
	if s == nil {
		return hcl.Range{}
	}
	if a := s.attrs[name]; a != nil {
		return a.Expr.Range()
	}
	return s.def
}

// read checks body against its schema, reporting unknown attributes and
// blocks, wrong labels and repeated blocks, and returns what is left.
func (d *decoder) read(body *hclsyntax.Body, s *schema, def hcl.Range) *section {
	sec := &section{
		def:    def,
		labelR: def,
		attrs:  make(map[string]*hclsyntax.Attribute),
		blocks: make(map[string][]*section),
	}
	for name, attr := range body.Attributes {
		if !slices.Contains(s.attrs, name) {
			d.unknownAttr(s, attr)
			continue
		}
		sec.attrs[name] = attr
	}
	for _, blk := range body.Blocks {
		sub := s.block(blk.Type)
		if sub == nil {
			d.unknownBlock(s, blk)
			continue
		}
		if !d.labelsOK(sub, blk) {
			continue
		}
		if prev := sec.block(blk.Type); prev != nil && !sub.multi {
			d.errorf(blk.DefRange(), "only one %s block is allowed %s; the first is at line %d.",
				blk.Type, s.where(), prev.def.Start.Line)
			continue
		}
		child := d.read(blk.Body, sub, blk.DefRange())
		if sub.label != "" {
			child.label, child.labelR = blk.Labels[0], blk.LabelRanges[0]
		}
		sec.blocks[blk.Type] = append(sec.blocks[blk.Type], child)
	}
	return sec
}

func (d *decoder) unknownAttr(s *schema, attr *hclsyntax.Attribute) {
	if s.block(attr.Name) != nil {
		d.errorf(attr.NameRange, "%s is a block, not an attribute; write %s { ... }.", attr.Name, attr.Name)
		return
	}
	d.errorf(attr.NameRange, "unknown attribute %q %s%s", attr.Name, s.where(), suggest(attr.Name, s.names()))
}

func (d *decoder) unknownBlock(s *schema, blk *hclsyntax.Block) {
	if slices.Contains(s.attrs, blk.Type) {
		d.errorf(blk.TypeRange, "%s is an attribute, not a block; write %s = <value>.", blk.Type, blk.Type)
		return
	}
	d.errorf(blk.TypeRange, "unknown block %q %s%s", blk.Type, s.where(), suggest(blk.Type, s.names()))
}

func (d *decoder) labelsOK(s *schema, blk *hclsyntax.Block) bool {
	want := 0
	if s.label != "" {
		want = 1
	}
	switch {
	case len(blk.Labels) == want:
		return true
	case want == 0:
		d.errorf(blk.LabelRanges[0], "a %s block takes no label; write %s { ... }.", s.name, s.name)
	default:
		d.errorf(blk.DefRange(), "a %s block needs exactly one label, its %s, as in %s \"us-east-1\" { ... }.",
			s.name, s.label, s.name)
	}
	return false
}

// merge lays over on top of base, attribute by attribute: an attribute
// written in over wins, one only in base is kept, and nested blocks merge
// the same way. Either may be nil. Diagnostics about the merged block point
// at over's header when over exists.
func merge(base, over *section) *section {
	if base == nil {
		return over
	}
	if over == nil {
		return base
	}
	m := &section{
		label:  over.label,
		def:    over.def,
		labelR: over.labelR,
		attrs:  maps.Clone(base.attrs),
		blocks: make(map[string][]*section),
	}
	maps.Copy(m.attrs, over.attrs)
	for name := range base.blocks {
		m.blocks[name] = []*section{merge(base.block(name), over.block(name))}
	}
	for name, blocks := range over.blocks {
		if _, done := m.blocks[name]; !done {
			m.blocks[name] = blocks
		}
	}
	return m
}

// suggest ends a sentence about name: `; did you mean "x"?` when one of
// names is a likely typo of it, else ".".
func suggest(name string, names []string) string {
	best, bestDist := "", 3 // more than two edits is not a typo
	for _, n := range names {
		if dist := editDistance(name, n); dist < bestDist {
			best, bestDist = n, dist
		}
	}
	if best == "" {
		return "."
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
