package spec

import (
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// decoder turns sections into the typed model and collects every problem
// it meets instead of stopping at the first.
type decoder struct {
	diags hcl.Diagnostics
	// invalid holds attributes already reported, so that checks combining
	// several attributes skip them rather than compare a fallback value.
	invalid map[*hclsyntax.Attribute]bool
}

func newDecoder() *decoder {
	return &decoder{invalid: make(map[*hclsyntax.Attribute]bool)}
}

func (d *decoder) errorf(rng hcl.Range, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf(format, args...),
		Subject:  rng.Ptr(),
	})
}

// valid reports whether none of the named attributes of sec was rejected.
func (d *decoder) valid(sec *section, names ...string) bool {
	for _, name := range names {
		if a := sec.attr(name); a != nil && d.invalid[a] {
			return false
		}
	}
	return true
}

// A conv turns an attribute's value into T, or returns a sentence saying
// why it cannot.
type conv[T any] func(name string, v cty.Value) (T, string)

// A check returns a sentence saying what is wrong with a value, or "".
type check[T any] func(name string, v T) string

// get decodes the named attribute of sec with conv and checks. It returns
// def when the attribute is absent or null, and also when it is invalid,
// after reporting why at the attribute's value.
func get[T any](d *decoder, sec *section, name string, def T, conv conv[T], checks ...check[T]) T {
	attr := sec.attr(name)
	if attr == nil {
		return def
	}
	if diag := tooExpensive(name, attr.Expr); diag != nil {
		d.diags = append(d.diags, diag)
		d.invalid[attr] = true
		return def
	}
	v, diags := attr.Expr.Value(nil)
	if diags.HasErrors() {
		d.diags = append(d.diags, diags...)
		d.invalid[attr] = true
		return def
	}
	if v.IsNull() {
		return def
	}
	out, problem := convert(name, v, conv)
	for _, c := range checks {
		if problem != "" {
			break
		}
		problem = c(name, out)
	}
	if problem != "" {
		d.errorf(attr.Expr.Range(), "%s", problem)
		d.invalid[attr] = true
		return def
	}
	return out
}

func convert[T any](name string, v cty.Value, conv conv[T]) (T, string) {
	if !v.IsWhollyKnown() || v.IsMarked() {
		var zero T
		return zero, fmt.Sprintf("%s must be a constant value.", name)
	}
	return conv(name, v)
}

func wrongType(name, want string, v cty.Value) string {
	return fmt.Sprintf("%s must be %s, not %s.", name, want, typeName(v.Type()))
}

func typeName(t cty.Type) string {
	switch {
	case t == cty.String:
		return "a string"
	case t == cty.Number:
		return "a number"
	case t == cty.Bool:
		return "true or false"
	case t.IsTupleType() || t.IsListType() || t.IsSetType():
		return "a list"
	case t.IsObjectType() || t.IsMapType():
		return "a map"
	}
	return t.FriendlyName()
}

func asString(name string, v cty.Value) (string, string) {
	if v.Type() != cty.String {
		return "", wrongType(name, "a string", v)
	}
	return v.AsString(), ""
}

func asBool(name string, v cty.Value) (bool, string) {
	if v.Type() != cty.Bool {
		return false, wrongType(name, "true or false", v)
	}
	return v.True(), ""
}

// asInt accepts whole numbers that fit in 32 bits, which covers every
// setting.
func asInt(name string, v cty.Value) (int, string) {
	x, problem := asFloat(name, v)
	switch {
	case problem != "":
		return 0, strings.Replace(problem, "must be a number", "must be a whole number", 1)
	case x != math.Trunc(x) || !v.AsBigFloat().IsInt():
		return 0, fmt.Sprintf("%s must be a whole number, not %s.", name, formatFloat(x))
	case x < math.MinInt32 || x > math.MaxInt32:
		return 0, fmt.Sprintf("%s (%s) is out of range.", name, formatFloat(x))
	}
	return int(x), ""
}

// asFloat accepts numbers a float64 holds. It never formats the big.Float
// itself: that takes seconds for exponents like 1e-99999.
func asFloat(name string, v cty.Value) (float64, string) {
	if v.Type() != cty.Number {
		return 0, wrongType(name, "a number", v)
	}
	f := v.AsBigFloat()
	x, acc := f.Float64()
	if math.IsInf(x, 0) || (x == 0 && acc != big.Exact) {
		return 0, fmt.Sprintf("%s is out of range.", name)
	}
	return x, ""
}

func formatFloat(x float64) string {
	return strconv.FormatFloat(x, 'g', -1, 64)
}

func asDuration(name string, v cty.Value) (time.Duration, string) {
	s, problem := asString(name, v)
	if problem != "" {
		return 0, fmt.Sprintf("%s must be a duration string such as \"30s\", not %s.", name, typeName(v.Type()))
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Sprintf("%s: %q is not a duration (use e.g. \"500ms\", \"30s\").", name, s)
	}
	return dur, ""
}

func asStrings(name string, v cty.Value) ([]string, string) {
	t := v.Type()
	if !t.IsTupleType() && !t.IsListType() {
		return nil, wrongType(name, "a list of strings", v)
	}
	out := make([]string, 0, v.LengthInt())
	for _, elem := range v.AsValueSlice() {
		if elem.IsNull() || elem.Type() != cty.String {
			return nil, fmt.Sprintf("%s must be a list of strings.", name)
		}
		out = append(out, elem.AsString())
	}
	return out, ""
}

func asStringMap(name string, v cty.Value) (map[string]string, string) {
	t := v.Type()
	if !t.IsObjectType() && !t.IsMapType() {
		return nil, wrongType(name, "a map of strings", v)
	}
	out := make(map[string]string, v.LengthInt())
	for key, elem := range v.AsValueMap() {
		if elem.IsNull() || elem.Type() != cty.String {
			return nil, fmt.Sprintf("%s.%s must be a string, not %s.", name, key, typeName(elem.Type()))
		}
		out[key] = elem.AsString()
	}
	return out, ""
}

func asPrefix(name string, v cty.Value) (netip.Prefix, string) {
	s, problem := asString(name, v)
	if problem != "" {
		return netip.Prefix{}, problem
	}
	return parsePrefix(name, s)
}

// parsePrefix accepts an IPv4 CIDR block with no host bits set.
func parsePrefix(name, s string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		return p, fmt.Sprintf("%s (%q) is not a CIDR block (use e.g. \"10.0.0.0/16\").", name, s)
	case !p.Addr().Is4():
		return p, fmt.Sprintf("%s (%q) must be an IPv4 CIDR block.", name, s)
	case p != p.Masked():
		return p, fmt.Sprintf("%s (%q) has host bits set; did you mean %q?", name, s, p.Masked().String())
	}
	return p, ""
}

// Checks. Each returns a sentence about what is wrong, or "".

func port(name string, v int) string {
	if v < 1 || v > 65535 {
		return fmt.Sprintf("%s (%d) must be between 1 and 65535.", name, v)
	}
	return ""
}

func portOrTraffic(name string, v int) string {
	if v < 0 || v > 65535 {
		return fmt.Sprintf("%s (%d) must be between 1 and 65535, or 0 for the traffic port.", name, v)
	}
	return ""
}

func atLeast(lo int) check[int] {
	return func(name string, v int) string {
		if v < lo {
			return fmt.Sprintf("%s (%d) must be at least %d.", name, v, lo)
		}
		return ""
	}
}

func percent(name string, v float64) string {
	if v < 0 || v > 100 {
		return fmt.Sprintf("%s (%s) must be between 0 and 100.", name, formatFloat(v))
	}
	return ""
}

func positive(name string, v time.Duration) string {
	if v <= 0 {
		return fmt.Sprintf("%s (%s) must be longer than zero.", name, v)
	}
	return ""
}

func notNegative(name string, v time.Duration) string {
	if v < 0 {
		return fmt.Sprintf("%s (%s) must not be negative.", name, v)
	}
	return ""
}

func oneOf(allowed ...string) check[string] {
	return func(name string, v string) string {
		for _, a := range allowed {
			if v == a {
				return ""
			}
		}
		quoted := make([]string, len(allowed))
		for i, a := range allowed {
			quoted[i] = strconv.Quote(a)
		}
		return fmt.Sprintf("%s (%q) must be %s.", name, v, orList(quoted))
	}
}

func orList(items []string) string {
	if len(items) == 1 {
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

func urlPath(name string, v string) string {
	if !strings.HasPrefix(v, "/") || strings.ContainsAny(v, " \t\r\n") {
		return fmt.Sprintf("%s (%q) must be a URL path starting with \"/\", e.g. \"/health\".", name, v)
	}
	return ""
}

// matcher accepts ALB's success codes: "200", "200,202" or "200-299", with
// codes from 100 to 599.
func matcher(name string, v string) string {
	for part := range strings.SplitSeq(v, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		l, h := statusCode(lo), statusCode(hi)
		if l == 0 || h == 0 || l > h {
			return fmt.Sprintf("%s (%q) must list HTTP codes from 100 to 599, as in \"200\", \"200,202\" or \"200-299\".", name, v)
		}
	}
	return ""
}

// statusCode parses a three-digit HTTP status code from 100 to 599, or
// returns 0.
func statusCode(s string) int {
	if len(s) != 3 {
		return 0
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	if n < 100 || n > 599 {
		return 0
	}
	return n
}
