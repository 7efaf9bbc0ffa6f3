package mathexpr

import (
	"errors"
	"math"
	"math/big"
	"math/cmplx"
	"slices"
	"strings"
)

// Tolerances, relative to the larger magnitude (and at least 1).
const (
	numericTol = 1e-9 // irrational values: \sqrt{2} against 1.41421356237
	approxTol  = 1e-6 // an expression holding a decimal of approxPlaces or more
	// approxPlaces: a decimal with this many places is a rounded value.
	approxPlaces = 6
	identityTol  = 1e-8 // expressions with variables, at each random point
	points       = 8    // random points per identity check
	minPoints    = 3    // points where both sides must be defined
)

// Equal reports whether answer and reference are the same answer, by the
// rules of the package comment. It is symmetric but for one case: an
// answer written as a calculation ending in a value, "\frac{1}{2} + … =
// \frac{10}{9}", matches a reference that is that value. The error wraps
// ErrBudget when the comparison could not be decided within the budgets.
func Equal(answer, reference *Node) (bool, error) {
	c := &comparer{}
	eq := c.equal(answer, reference)
	if !eq && answer.Kind == Rel && reference.Kind != Rel && answer.Ops[len(answer.Ops)-1] == "=" {
		eq = c.equal(answer.Args[len(answer.Args)-1], reference)
	}
	if !eq && c.overBudget {
		return false, ErrBudget
	}
	return eq, nil
}

type comparer struct {
	ev         evaluator
	overBudget bool
}

func (c *comparer) equal(a, b *Node) bool {
	if c.ev.work > maxWork {
		c.overBudget = true
		return false
	}
	if a.String() == b.String() {
		return true
	}
	// Two equations may be the same one rearranged ("2x+4y=3" and
	// "y=…") before either is read as a labelled value.
	if a.Kind == Rel && b.Kind == Rel && c.relation(a, b) {
		return true
	}
	a, b = prepare(a), prepare(b)
	if a.String() == b.String() {
		return true
	}
	switch {
	case a.Kind == Rel && b.Kind == Rel:
		return c.relation(a, b)
	case a.Kind == Rel || b.Kind == Rel:
		if b.Kind == Rel {
			a, b = b, a
		}
		if iv := interval(a); iv != nil && (b.Kind == Tuple || b.Kind == Union) {
			return c.equal(iv, b)
		}
		return false
	case isSet(a) && isSet(b):
		return c.sameElements(a.Args, b.Args)
	case isSet(a) && len(a.Args) == 1:
		return c.equal(a.Args[0], b)
	case isSet(b) && len(b.Args) == 1:
		return c.equal(a, b.Args[0])
	case a.Kind == Tuple && b.Kind == Tuple:
		return a.Open == b.Open && a.Close == b.Close && c.sameSequence(a.Args, b.Args)
	case a.Kind == Union && b.Kind == Union:
		return c.sameElements(a.Args, b.Args)
	case a.Kind == Matrix && b.Kind == Matrix:
		return a.Rows == b.Rows && a.Cols == b.Cols && c.sameSequence(a.Args, b.Args)
	case a.Kind == Text || b.Kind == Text:
		wa, oka := word(a)
		wb, okb := word(b)
		return oka && okb && wa == wb
	case a.Kind == Percent && b.Kind == Percent:
		return c.equal(a.Args[0], b.Args[0])
	case a.Kind == Percent || b.Kind == Percent:
		if b.Kind == Percent {
			a, b = b, a
		}
		// 28\% is 28 as the answer to "what percent", and 0.28 as a value.
		return c.scalar(a.Args[0], b) || c.scalar(a, b)
	case isScalar(a) && isScalar(b):
		return c.scalar(a, b)
	}
	return false
}

func isSet(n *Node) bool { return n.Kind == Set || n.Kind == List }

// sameSequence compares element by element.
func (c *comparer) sameSequence(a, b []*Node) bool {
	return len(a) == len(b) && slices.EqualFunc(a, b, c.equal)
}

// sameElements compares as sets: every element of each has an equal one
// in the other, so order and repeats do not count.
func (c *comparer) sameElements(a, b []*Node) bool {
	return c.covers(a, b) && c.covers(b, a)
}

func (c *comparer) covers(a, b []*Node) bool {
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y *Node) bool { return c.equal(x, y) }) {
			return false
		}
	}
	return true
}

// prepare rewrites a tree into the form comparisons work on: a chain of
// equations is its last member, "x = 3" and "x \in S" are their right
// sides, ± becomes the set of both values, a list of lists is flattened,
// sums and products of matrices are carried out.
func prepare(n *Node) *Node {
	switch n.Kind {
	case Rel:
		return prepareRel(n)
	case List, Set:
		out := &Node{Kind: n.Kind}
		for _, a := range n.Args {
			a = prepare(a)
			if isSet(a) && a.Kind == List || a.Kind == Set && hasPlusMinus(a) {
				out.Args = append(out.Args, a.Args...)
				continue
			}
			if a.Kind == Set && len(a.Args) > 1 && n.Kind == List {
				out.Args = append(out.Args, a.Args...)
				continue
			}
			out.Args = append(out.Args, a)
		}
		return out
	case Add, Mul:
		if m := matrixArithmetic(n); m != nil {
			return m
		}
	}
	if hasPlusMinus(n) && isScalar(n) {
		vs := variants(n, 16)
		if len(vs) > 1 {
			return &Node{Kind: Set, Args: vs}
		}
	}
	return n
}

func prepareRel(n *Node) *Node {
	args, ops := n.Args, n.Ops
	// "x = 1/3 \approx 0.33": what follows an approximation is not the
	// answer; "x \approx 0.33" alone is.
	if i := slices.Index(ops, "approx"); i >= 0 {
		if i > 0 {
			args, ops = args[:i+1], ops[:i]
		} else {
			ops = append([]string{"="}, ops[1:]...)
		}
	}
	// In a chain of equations the answer is after the last "=".
	if k := countOp(ops, "="); k >= 2 {
		last := lastIndex(ops, "=")
		args, ops = args[last+1:], ops[last+1:]
	} else if k == 1 {
		first := slices.Index(ops, "=")
		if isLabel(relPart(args[:first+1], ops[:first])) {
			args, ops = args[first+1:], ops[first+1:]
		}
	}
	if len(ops) == 1 && ops[0] == "in" && isLabel(args[0]) {
		return prepare(args[1])
	}
	if len(ops) == 0 {
		return prepare(args[0])
	}
	return &Node{Kind: Rel, Args: args, Ops: ops}
}

func relPart(args []*Node, ops []string) *Node {
	if len(ops) == 0 {
		return args[0]
	}
	return &Node{Kind: Rel, Args: args, Ops: ops}
}

func countOp(ops []string, op string) int {
	k := 0
	for _, o := range ops {
		if o == op {
			k++
		}
	}
	return k
}

func lastIndex(ops []string, op string) int {
	for i := len(ops) - 1; i >= 0; i-- {
		if ops[i] == op {
			return i
		}
	}
	return -1
}

// isLabel reports whether n names what an answer is about rather than
// being a value: x, a_3, f(x), (p, q), |AB|, A:B, \frac{NO}{BO}.
func isLabel(n *Node) bool {
	switch n.Kind {
	case Sym:
		return true
	case Mul, Tuple, List:
		// Numbers may follow a name, as in f(2), not lead it, as in -x.
		sym := false
		for _, a := range n.Args {
			switch {
			case isLabel(a):
				sym = true
			case a.Kind != Num || !sym:
				return false
			}
		}
		return sym
	case Pow:
		return isLabel(n.Args[0]) && n.Args[1].Kind == Num
	case Func:
		return n.Name == "abs" && isLabel(n.Args[0])
	case Rel:
		for i, a := range n.Args {
			if !isLabel(a) || i < len(n.Ops) && n.Ops[i] != ":" {
				return false
			}
		}
		return true
	}
	return false
}

// isScalar reports a tree that evaluates to one number.
func isScalar(n *Node) bool {
	switch n.Kind {
	case Num, Const, Sym:
		return true
	case Add, Mul, Pow, Func, Percent, PlusMinus:
		for _, a := range n.Args {
			if !isScalar(a) {
				return false
			}
		}
		return true
	}
	return false
}

func hasPlusMinus(n *Node) bool {
	if n.Kind == PlusMinus {
		return true
	}
	return slices.ContainsFunc(n.Args, hasPlusMinus)
}

// variants expands every a ± b in n into both of its values, up to limit
// trees.
func variants(n *Node, limit int) []*Node {
	if n.Kind == PlusMinus {
		var out []*Node
		for _, l := range variants(n.Args[0], limit) {
			for _, r := range variants(n.Args[1], limit) {
				out = append(out, &Node{Kind: Add, Args: []*Node{l, r}}, &Node{Kind: Add, Args: []*Node{l, neg(r)}})
			}
		}
		return out[:min(len(out), limit)]
	}
	out := []*Node{n}
	for i, a := range n.Args {
		vs := variants(a, limit)
		if len(vs) == 1 {
			continue
		}
		var next []*Node
		for _, t := range out {
			for _, v := range vs {
				cp := *t
				cp.Args = slices.Clone(t.Args)
				cp.Args[i] = v
				next = append(next, &cp)
			}
		}
		out = next[:min(len(next), limit)]
	}
	return out
}

// matrixArithmetic carries out a sum or product of matrices, or returns
// nil.
func matrixArithmetic(n *Node) *Node {
	if len(n.Args) < 2 || slices.ContainsFunc(n.Args, func(a *Node) bool { return a.Kind != Matrix }) {
		return nil
	}
	acc := n.Args[0]
	for _, m := range n.Args[1:] {
		switch {
		case n.Kind == Add && m.Rows == acc.Rows && m.Cols == acc.Cols:
			sum := &Node{Kind: Matrix, Rows: m.Rows, Cols: m.Cols}
			for i := range m.Args {
				sum.Args = append(sum.Args, &Node{Kind: Add, Args: []*Node{acc.Args[i], m.Args[i]}})
			}
			acc = sum
		case n.Kind == Mul && acc.Cols == m.Rows:
			prod := &Node{Kind: Matrix, Rows: acc.Rows, Cols: m.Cols}
			for i := range acc.Rows {
				for j := range m.Cols {
					dot := &Node{Kind: Add}
					for k := range acc.Cols {
						dot.Args = append(dot.Args, &Node{Kind: Mul, Args: []*Node{acc.Args[i*acc.Cols+k], m.Args[k*m.Cols+j]}})
					}
					prod.Args = append(prod.Args, dot)
				}
			}
			acc = prod
		default:
			return nil
		}
	}
	return acc
}

// word renders text, or a product of letters, as lower-case letters and
// digits only: \text{(C)} and C, \text{odd} and odd.
func word(n *Node) (string, bool) {
	var b strings.Builder
	var walk func(*Node) bool
	walk = func(n *Node) bool {
		switch n.Kind {
		case Text, Sym, Const:
			if n.Kind == Const && n.Name != "e" {
				return false
			}
			b.WriteString(n.Name)
			return true
		case Num:
			b.WriteString(n.Rat.RatString())
			return true
		case Mul, Tuple:
			for _, a := range n.Args {
				if !walk(a) {
					return false
				}
			}
			return true
		}
		return false
	}
	if !walk(n) {
		return "", false
	}
	var out strings.Builder
	for _, r := range strings.ToLower(b.String()) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127 {
			out.WriteRune(r)
		}
	}
	return out.String(), out.Len() > 0
}

// interval turns a relation in one isolated variable into the interval
// it describes (x < 3 is (-∞, 3); -2 ≤ x ≤ 7 is [-2, 7]), or returns nil.
func interval(n *Node) *Node {
	args, ops := oriented(n)
	if ops == nil {
		return nil
	}
	inf := &Node{Kind: Const, Name: "inf"}
	open := func(op string, left bool) byte {
		switch {
		case op == "lt" && left:
			return '('
		case op == "lt":
			return ')'
		case left:
			return '['
		}
		return ']'
	}
	switch {
	case len(args) == 2 && isLabel(args[0]) && !hasSymbols(args[1]):
		return &Node{Kind: Tuple, Open: '(', Close: open(ops[0], false), Args: []*Node{neg(inf), args[1]}}
	case len(args) == 2 && isLabel(args[1]) && !hasSymbols(args[0]):
		return &Node{Kind: Tuple, Open: open(ops[0], true), Close: ')', Args: []*Node{args[0], inf}}
	case len(args) == 3 && isLabel(args[1]) && !hasSymbols(args[0]) && !hasSymbols(args[2]):
		return &Node{Kind: Tuple, Open: open(ops[0], true), Close: open(ops[1], false), Args: []*Node{args[0], args[2]}}
	}
	return nil
}

// oriented writes an inequality chain with "lt" and "le" only, reversing
// one written with > and ≥; ops is nil for anything else.
func oriented(n *Node) ([]*Node, []string) {
	flip := map[string]string{"gt": "lt", "ge": "le"}
	less, greater := 0, 0
	for _, op := range n.Ops {
		switch op {
		case "lt", "le":
			less++
		case "gt", "ge":
			greater++
		default:
			return nil, nil
		}
	}
	if less > 0 && greater > 0 {
		return nil, nil
	}
	if greater == 0 {
		return n.Args, n.Ops
	}
	args := slices.Clone(n.Args)
	slices.Reverse(args)
	ops := make([]string, len(n.Ops))
	for i, op := range n.Ops {
		ops[len(ops)-1-i] = flip[op]
	}
	return args, ops
}

func hasSymbols(n *Node) bool {
	if n.Kind == Sym {
		return true
	}
	return slices.ContainsFunc(n.Args, hasSymbols)
}

// relation compares two relations as the sets they define.
func (c *comparer) relation(a, b *Node) bool {
	if ia, ib := interval(a), interval(b); ia != nil && ib != nil {
		return c.equal(ia, ib)
	}
	aa, ao := oriented(a)
	ba, bo := oriented(b)
	if ao == nil || bo == nil { // not inequalities: compare as written
		aa, ao, ba, bo = a.Args, a.Ops, b.Args, b.Ops
	}
	if !slices.Equal(ao, bo) {
		return false
	}
	if len(ao) == 1 && isScalar(aa[0]) && isScalar(aa[1]) && isScalar(ba[0]) && isScalar(ba[1]) {
		switch ao[0] {
		case "=", "ne":
			return c.proportional(sub(aa[0], aa[1]), sub(ba[0], ba[1]), false) || c.sameSequence(aa, ba)
		case "lt", "le":
			return c.proportional(sub(aa[1], aa[0]), sub(ba[1], ba[0]), true) || c.sameSequence(aa, ba)
		}
	}
	return c.sameSequence(aa, ba)
}

// proportional reports whether a = k·b for one constant k ≠ 0 (k > 0 if
// positive) at every random point.
func (c *comparer) proportional(a, b *Node, positive bool) bool {
	var k complex128
	valid := 0
	for pt := range points {
		va, vb := c.ev.value(a, pt), c.ev.value(b, pt)
		if !finite(va) || !finite(vb) {
			continue
		}
		za, zb := cmplx.Abs(va) < 1e-12, cmplx.Abs(vb) < 1e-12
		if za && zb {
			continue
		}
		if za || zb {
			return false
		}
		r := va / vb
		if valid == 0 {
			k = r
			if positive && (real(k) <= 0 || math.Abs(imag(k)) > identityTol*cmplx.Abs(k)) {
				return false
			}
		} else if !near(r, k, identityTol) {
			return false
		}
		valid++
	}
	return valid >= 1
}

// scalar compares two numbers or expressions.
func (c *comparer) scalar(a, b *Node) bool {
	ra, erra := exact(a)
	rb, errb := exact(b)
	approx := isApprox(a) || isApprox(b)
	// A lone rounded decimal matches what rounds to it: 1.414214 is
	// \sqrt{2}, 0.0833333333333333 is \frac{1}{12}, 12.000001 is not 12.
	if d, other, ok := roundedDecimal(a, b); ok {
		v := c.ev.value(other, 0)
		fd, _ := d.Rat.Float64()
		return finite(v) && cmplx.Abs(v-complex(fd, 0)) <= 0.5*math.Pow(10, -float64(d.Places))+1e-12*math.Abs(fd)
	}
	if ra != nil && rb != nil {
		if approx {
			fa, _ := ra.Float64()
			fb, _ := rb.Float64()
			return near(complex(fa, 0), complex(fb, 0), approxTol)
		}
		return ra.Cmp(rb) == 0
	}
	tol := numericTol
	if approx {
		tol = approxTol
	}
	if !hasSymbols(a) && !hasSymbols(b) {
		va, vb := c.ev.value(a, 0), c.ev.value(b, 0)
		if !finite(va) || !finite(vb) {
			if errors.Is(erra, ErrBudget) || errors.Is(errb, ErrBudget) || c.ev.work > maxWork {
				c.overBudget = true
				return false
			}
			return cmplx.IsInf(va) && cmplx.IsInf(vb) && sameInfinity(a, b)
		}
		return near(va, vb, tol)
	}
	tol = max(tol, identityTol)
	valid := 0
	for pt := range points {
		va, vb := c.ev.value(a, pt), c.ev.value(b, pt)
		fa, fb := finite(va), finite(vb)
		switch {
		case !fa && !fb:
			continue
		case fa != fb, !near(va, vb, tol):
			return false
		}
		valid++
	}
	if valid < minPoints {
		c.overBudget = true
		return false
	}
	return true
}

// sameInfinity tells ∞ from -∞ by the sign of the real part of a value
// computed with a large number in place of ∞.
func sameInfinity(a, b *Node) bool {
	sa, sb := infinitySign(a), infinitySign(b)
	return sa != 0 && sa == sb
}

func infinitySign(n *Node) int {
	switch n.Kind {
	case Const:
		if n.Name == "inf" {
			return 1
		}
	case Mul:
		s := 1
		for _, a := range n.Args {
			switch {
			case a.Kind == Num:
				s *= a.Rat.Sign()
			default:
				s *= infinitySign(a)
			}
		}
		return s
	}
	return 0
}

// roundedDecimal finds a side that is one decimal of six or more places
// (possibly negated) while the other side has no variables.
func roundedDecimal(a, b *Node) (*Node, *Node, bool) {
	for _, p := range [][2]*Node{{a, b}, {b, a}} {
		d, other := p[0], p[1]
		if d.Kind == Mul && len(d.Args) == 2 && d.Args[0].Kind == Num && d.Args[0].Rat.Cmp(big.NewRat(-1, 1)) == 0 {
			d, other = d.Args[1], neg(other)
		}
		if d.Kind == Num && d.Places >= approxPlaces && !hasSymbols(other) {
			return d, other, true
		}
	}
	return nil, nil, false
}

func isApprox(n *Node) bool {
	if n.Kind == Num {
		return n.Places >= approxPlaces
	}
	return slices.ContainsFunc(n.Args, isApprox)
}

func finite(v complex128) bool { return !cmplx.IsNaN(v) && !cmplx.IsInf(v) }

func near(a, b complex128, tol float64) bool {
	return cmplx.Abs(a-b) <= tol*max(1, cmplx.Abs(a), cmplx.Abs(b))
}
