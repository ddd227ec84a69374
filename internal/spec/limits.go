package spec

import (
	"fmt"
	"math"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Limits that keep a hostile stack file from exhausting memory or the
// stack: every real stack file is far below them.
const (
	// MaxFileSize is the largest stack file accepted, in bytes: a hundred
	// times a large real one. Parsing costs about a kilobyte of garbage per
	// byte of input, so the limit is also what bounds that.
	MaxFileSize = 256 << 10
	// maxNesting bounds how deep brackets, templates and operator chains
	// may nest, which bounds the parser's and the evaluator's recursion.
	maxNesting = 200
	// maxExpansion bounds what evaluating one attribute may cost: about
	// one unit per value built and per byte of string.
	maxExpansion = 1 << 20
)

// checkSource rejects a file too large or too deeply nested to parse
// safely. It reads only the lexer's flat token stream, so it cannot itself
// be made to recurse.
func checkSource(filename string, src []byte) hcl.Diagnostics {
	if len(src) > MaxFileSize {
		pos := hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos}
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("the stack file is %d bytes; the limit is %d KiB.", len(src), MaxFileSize>>10),
			Subject:  &pos,
		}}
	}
	tokens, _ := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	if tok, ok := tooDeep(tokens); !ok {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("the expression nests more than %d levels deep (brackets, templates and operators); simplify it.", maxNesting),
			Subject:  tok.Range.Ptr(),
		}}
	}
	return nil
}

// tooDeep walks tokens and returns the first one at which nesting exceeds
// maxNesting, and false; or true when none does. Each open bracket, quote,
// interpolation or template directive is a level, and each operator adds
// one to its level until the next separator: a chain like 1+1+...+1 or
// !!!...true builds a tree as deep as it is long.
func tooDeep(tokens hclsyntax.Tokens) (hclsyntax.Token, bool) {
	// ops[i] counts the operators since the last separator at level i;
	// depth is len(ops) plus their sum.
	ops := []int{0}
	depth := 1
	for i, tok := range tokens {
		switch tok.Type {
		case hclsyntax.TokenOBrace, hclsyntax.TokenOBrack, hclsyntax.TokenOParen,
			hclsyntax.TokenOQuote, hclsyntax.TokenOHeredoc, hclsyntax.TokenTemplateInterp:
			if tok.Type == hclsyntax.TokenOBrack {
				// An index or splat nests its collection inside it.
				ops[len(ops)-1]++
				depth++
			}
			ops = append(ops, 0)
			depth++
		case hclsyntax.TokenTemplateControl:
			// %{ for } and %{ if } open a level that %{ endfor } and
			// %{ endif } close; the directive itself is one more.
			if i+1 < len(tokens) && tokens[i+1].Type == hclsyntax.TokenIdent {
				switch string(tokens[i+1].Bytes) {
				case "for", "if":
					ops = append(ops, 0)
					depth++
				case "endfor", "endif":
					if len(ops) > 1 {
						depth -= 1 + ops[len(ops)-1]
						ops = ops[:len(ops)-1]
					}
				}
			}
			ops = append(ops, 0)
			depth++
		case hclsyntax.TokenCBrace, hclsyntax.TokenCBrack, hclsyntax.TokenCParen,
			hclsyntax.TokenCQuote, hclsyntax.TokenCHeredoc, hclsyntax.TokenTemplateSeqEnd:
			if len(ops) > 1 {
				depth -= 1 + ops[len(ops)-1]
				ops = ops[:len(ops)-1]
			}
		case hclsyntax.TokenComma, hclsyntax.TokenEqual, hclsyntax.TokenFatArrow:
			depth -= ops[len(ops)-1]
			ops[len(ops)-1] = 0
		case hclsyntax.TokenPlus, hclsyntax.TokenMinus, hclsyntax.TokenStar, hclsyntax.TokenSlash,
			hclsyntax.TokenPercent, hclsyntax.TokenEqualOp, hclsyntax.TokenNotEqual,
			hclsyntax.TokenLessThan, hclsyntax.TokenLessThanEq, hclsyntax.TokenGreaterThan,
			hclsyntax.TokenGreaterThanEq, hclsyntax.TokenAnd, hclsyntax.TokenOr, hclsyntax.TokenBang,
			hclsyntax.TokenQuestion, hclsyntax.TokenEllipsis:
			ops[len(ops)-1]++
			depth++
		}
		if depth > maxNesting {
			return tok, false
		}
	}
	return hclsyntax.Token{}, true
}

// cost bounds what evaluating an expression takes. size bounds its result
// (one per value plus string bytes, numbers counted by the digits they
// print as); count its number of elements and elem the size of any one of
// them, which is what a for expression iterates; work bounds everything
// built on the way. Always count, elem <= size <= work.
type cost struct{ size, count, elem, work int64 }

// scalar is the cost of a value that is not a collection.
func scalar(size, work int64) cost { return cost{size: size, work: add(work, size)} }

// opaque is the cost of a value known only by its size, such as a for
// expression's variable: it may be a collection of that size.
func opaque(size int64) cost { return cost{size: size, count: size, elem: size, work: 1} }

// costCap keeps the arithmetic of bounds far from overflow.
const costCap = math.MaxInt64 / 4

func add(xs ...int64) int64 {
	var s int64
	for _, x := range xs {
		s += min(x, costCap)
		if s >= costCap {
			return costCap
		}
	}
	return s
}

func mul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a >= costCap/b {
		return costCap
	}
	return a * b
}

func maxCost(cs ...cost) cost {
	var m cost
	for _, c := range cs {
		m = cost{max(m.size, c.size), max(m.count, c.count), max(m.elem, c.elem), add(m.work, c.work)}
	}
	return m
}

// expansion bounds the cost of evaluating e with no variables or functions
// but for its own for-expression and splat symbols, whose values are
// bounded by vars. It never evaluates anything.
func expansion(e hclsyntax.Expression, vars map[string]int64) cost {
	switch e := e.(type) {
	case *hclsyntax.LiteralValueExpr:
		s := valueSize(e.Val)
		return scalar(s, 0)
	case *hclsyntax.TemplateExpr:
		var size, work int64 = 1, 0
		for _, p := range e.Parts {
			pc := expansion(p, vars)
			size, work = add(size, pc.size), add(work, pc.work)
		}
		return scalar(size, work)
	case *hclsyntax.TemplateWrapExpr:
		return expansion(e.Wrapped, vars)
	case *hclsyntax.TemplateJoinExpr:
		c := expansion(e.Tuple, vars)
		return scalar(c.size, c.work)
	case *hclsyntax.ParenthesesExpr:
		return expansion(e.Expression, vars)
	case *hclsyntax.ScopeTraversalExpr:
		if s, ok := vars[e.Traversal.RootName()]; ok {
			return opaque(s)
		}
		return scalar(1, 0) // no variables: evaluating it is an error
	case *hclsyntax.AnonSymbolExpr:
		if s, ok := vars[""]; ok {
			return opaque(s)
		}
		return scalar(1, 0)
	case *hclsyntax.RelativeTraversalExpr:
		c := expansion(e.Source, vars)
		return cost{c.size, c.size, c.size, c.work}
	case *hclsyntax.IndexExpr:
		c, k := expansion(e.Collection, vars), expansion(e.Key, vars)
		return cost{c.elem, c.elem, c.elem, add(c.work, k.work)}
	case *hclsyntax.SplatExpr:
		src := expansion(e.Source, vars)
		// A splat of a single value wraps it in a one-element tuple.
		n, elem := max(src.count, 1), max(src.elem, src.size)
		each := expansion(e.Each, with(vars, elem, ""))
		return cost{add(1, mul(n, each.size)), n, each.size, add(src.work, mul(n, add(each.work, 1)))}
	case *hclsyntax.TupleConsExpr:
		c := cost{size: 1, count: int64(len(e.Exprs)), work: 1}
		for _, x := range e.Exprs {
			xc := expansion(x, vars)
			c.size, c.elem, c.work = add(c.size, xc.size), max(c.elem, xc.size), add(c.work, xc.work)
		}
		return c
	case *hclsyntax.ObjectConsExpr:
		c := cost{size: 1, count: int64(len(e.Items)), work: 1}
		for _, item := range e.Items {
			k, v := expansion(item.KeyExpr, vars), expansion(item.ValueExpr, vars)
			c.size, c.elem, c.work = add(c.size, k.size, v.size), max(c.elem, add(k.size, v.size)), add(c.work, k.work, v.work)
		}
		return c
	case *hclsyntax.ObjectConsKeyExpr:
		return expansion(e.Wrapped, vars)
	case *hclsyntax.ForExpr:
		coll := expansion(e.CollExpr, vars)
		// Each element, and each key, is at most the largest element.
		inner := with(vars, coll.elem, e.KeyVar, e.ValVar)
		var size, work int64 = 1, 1
		for _, x := range []hclsyntax.Expression{e.KeyExpr, e.ValExpr, e.CondExpr} {
			if x != nil {
				xc := expansion(x, inner)
				size, work = add(size, xc.size), add(work, xc.work)
			}
		}
		total := add(1, mul(coll.count, size))
		elem := size
		if e.Group {
			elem = total
		}
		return cost{total, coll.count, elem, add(coll.work, mul(coll.count, work), total)}
	case *hclsyntax.ConditionalExpr:
		// Both results are evaluated, to unify their types.
		return maxCost(expansion(e.Condition, vars), expansion(e.TrueResult, vars), expansion(e.FalseResult, vars))
	case *hclsyntax.BinaryOpExpr:
		// Arithmetic on numbers can print with as many digits as both
		// operands together, and a few more.
		l, r := expansion(e.LHS, vars), expansion(e.RHS, vars)
		return scalar(add(l.size, r.size, numberDigits), add(l.work, r.work))
	case *hclsyntax.UnaryOpExpr:
		v := expansion(e.Val, vars)
		return scalar(add(v.size, 1), v.work)
	case *hclsyntax.FunctionCallExpr:
		// No function is defined, so the call fails before running.
		var work int64
		for _, a := range e.Args {
			work = add(work, expansion(a, vars).work)
		}
		return scalar(1, work)
	case *hclsyntax.ExprSyntaxError:
		return scalar(1, 0)
	default:
		// An expression kind this bound does not know: refuse it rather
		// than evaluate it unbounded.
		return cost{costCap, costCap, costCap, costCap}
	}
}

// with returns vars plus names bound to values of at most size.
func with(vars map[string]int64, size int64, names ...string) map[string]int64 {
	out := make(map[string]int64, len(vars)+len(names))
	for k, v := range vars {
		out[k] = v
	}
	for _, n := range names {
		out[n] = size
	}
	return out
}

// numberDigits is more than the digits a 512-bit mantissa prints as.
const numberDigits = 200

// valueSize is the size of a literal: string bytes, one per value, and for
// numbers the digits they print as in a template, which grow with the
// exponent (1e100000 prints as 100001 digits).
func valueSize(v cty.Value) int64 {
	if v.IsNull() || !v.IsKnown() {
		return 1
	}
	switch v.Type() {
	case cty.String:
		return add(1, int64(len(v.AsString())))
	case cty.Number:
		f := v.AsBigFloat()
		if f.IsInf() {
			return 4
		}
		exp := f.MantExp(nil) // binary exponent
		if exp < 0 {
			exp = -exp
		}
		// log10(2) < 0.302; a whole number prints as its digits, anything
		// else with up to a mantissa's worth more.
		digits := int64(float64(exp)*0.302) + 2
		if !f.IsInt() {
			digits = add(digits, numberDigits)
		}
		return digits
	}
	if v.CanIterateElements() {
		var s int64 = 1
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			s = add(s, valueSize(k), valueSize(e))
		}
		return s
	}
	return 1
}

// tooExpensive reports an attribute whose evaluation would cost more than
// maxExpansion, with the position of its value.
func tooExpensive(name string, expr hclsyntax.Expression) *hcl.Diagnostic {
	if c := expansion(expr, nil); c.work <= maxExpansion && c.size <= maxExpansion {
		return nil
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("%s expands to more than %d values and string bytes; simplify it.", name, maxExpansion),
		Subject:  expr.Range().Ptr(),
	}
}
