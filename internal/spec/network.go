package spec

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// loopback is where hastack runs everything; see the BRIEF's Addresses.
var loopback = netip.MustParsePrefix("127.0.0.0/8")

// dnsName accepts a DNS name: dot-separated labels of letters, digits and
// inner hyphens, each at most 63 bytes, at most 253 in all; one trailing dot
// is allowed.
func dnsName(name string, v string) string {
	bad := fmt.Sprintf("%s (%q) is not a valid DNS name.", name, v)
	s := strings.TrimSuffix(v, ".")
	if s == "" || len(s) > 253 {
		return bad
	}
	for label := range strings.SplitSeq(s, ".") {
		if !validLabel(label) {
			return bad
		}
	}
	return ""
}

func validLabel(label string) bool {
	if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
		return false
	}
	for _, c := range []byte(label) {
		if !isLower(c|0x20) && !isDigit(c) && c != '-' {
			return false
		}
	}
	return true
}

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// canonicalName is a DNS name as the model stores it: lower case, no
// trailing dot.
func canonicalName(s string) string {
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

// parentZone is the domain without its first label, or the domain itself
// when it has only one.
func parentZone(domain string) string {
	if _, rest, ok := strings.Cut(domain, "."); ok {
		return rest
	}
	return domain
}

// inZone reports whether domain is zone or a name below it.
func inZone(domain, zone string) bool {
	return domain == zone || strings.HasSuffix(domain, "."+zone)
}

// loopbackAddr accepts IP:port with an IP in 127.0.0.0/8.
func loopbackAddr(name string, v string) string {
	ap, err := netip.ParseAddrPort(v)
	if err != nil || !loopback.Contains(ap.Addr()) || ap.Port() == 0 {
		return fmt.Sprintf("%s (%q) must be IP:port with a loopback IP in 127.0.0.0/8, e.g. \"127.0.0.1:5353\".", name, v)
	}
	return ""
}

// vpcSize rejects VPCs larger than a /16: hastack maps each VPC's lower 16
// bits onto its region's 127.R.0.0/16 block.
func vpcSize(name string, p netip.Prefix) string {
	if p.Bits() < 16 {
		return fmt.Sprintf("%s (%q) is larger than a /16; hastack maps each VPC onto a 127.R.0.0/16 loopback block.", name, p)
	}
	return ""
}

// subnet is one subnet CIDR with where it was written.
type subnet struct {
	name   string // e.g. "public_subnets[1]"
	prefix netip.Prefix
	rng    hcl.Range
}

// vpc decodes and checks a region's vpc block. sec must not be nil.
func (d *decoder) vpc(sec *section) VPC {
	for _, name := range vpcSchema.attrs {
		if sec.attr(name) == nil {
			d.errorf(sec.def, "%s is required in the vpc block.", name)
		}
	}
	v := VPC{
		CIDR: get(d, sec, "cidr", netip.Prefix{}, asPrefix, vpcSize),
		AZs:  get(d, sec, "azs", nil, asStrings, azList),
	}
	public := d.subnets(sec, "public_subnets")
	private := d.subnets(sec, "private_subnets")
	for _, s := range public {
		v.PublicSubnets = append(v.PublicSubnets, s.prefix)
	}
	for _, s := range private {
		v.PrivateSubnets = append(v.PrivateSubnets, s.prefix)
	}
	d.checkSubnetCount(sec, "public_subnets", len(public), len(v.AZs))
	d.checkSubnetCount(sec, "private_subnets", len(private), len(v.AZs))
	d.checkSubnets(v.CIDR, append(public, private...))
	return v
}

// azList requires at least one availability zone, each named once.
func azList(name string, azs []string) string {
	if len(azs) == 0 {
		return fmt.Sprintf("%s must list at least one availability zone.", name)
	}
	for i, az := range azs {
		if az == "" {
			return fmt.Sprintf("%s[%d] is empty; name the availability zone, e.g. \"us-east-1a\".", name, i)
		}
		for j := range i {
			if azs[j] == az {
				return fmt.Sprintf("%s lists %q twice.", name, az)
			}
		}
	}
	return ""
}

// subnets decodes a list of CIDR blocks, reporting each bad entry at its own
// position. Bad entries are left out.
func (d *decoder) subnets(sec *section, name string) []subnet {
	attr := sec.attr(name)
	list := get(d, sec, name, nil, asStrings)
	var out []subnet
	for i, s := range list {
		elem := fmt.Sprintf("%s[%d]", name, i)
		rng := elemRange(attr.Expr, i)
		p, problem := parsePrefix(elem, s)
		if problem != "" {
			d.errorf(rng, "%s", problem)
			d.invalid[attr] = true
			continue
		}
		out = append(out, subnet{name: elem, prefix: p, rng: rng})
	}
	return out
}

// elemRange is where the i-th element of a list literal is written, or the
// whole expression when it is not a literal.
func elemRange(expr hclsyntax.Expression, i int) hcl.Range {
	if tuple, ok := expr.(*hclsyntax.TupleConsExpr); ok && i < len(tuple.Exprs) {
		return tuple.Exprs[i].Range()
	}
	return expr.Range()
}

// checkSubnetCount requires one subnet of each kind per AZ.
func (d *decoder) checkSubnetCount(sec *section, name string, subnets, azs int) {
	if !d.valid(sec, name, "azs") || sec.attr(name) == nil || sec.attr("azs") == nil || subnets == azs {
		return
	}
	d.errorf(sec.at(name), "%s has %d entries but azs has %d; give each availability zone one subnet.",
		name, subnets, azs)
}

// checkSubnets requires every subnet inside the VPC and no two overlapping.
func (d *decoder) checkSubnets(vpc netip.Prefix, subnets []subnet) {
	for i, s := range subnets {
		if vpc.IsValid() && !(vpc.Bits() <= s.prefix.Bits() && vpc.Contains(s.prefix.Addr())) {
			d.errorf(s.rng, "%s (%q) is outside the VPC's cidr (%q).", s.name, s.prefix, vpc)
		}
		for _, prev := range subnets[:i] {
			if prev.prefix.Overlaps(s.prefix) {
				d.errorf(s.rng, "%s (%q) overlaps %s (%q).", s.name, s.prefix, prev.name, prev.prefix)
			}
		}
	}
}
