package verify

import (
	"math"
	"math/big"
	"regexp"
	"slices"
	"strings"
)

// DefaultMathOptions rewards a right math answer with 1 and anything else
// with 0, and gives the format no weight: math models are usually trained
// to end with \boxed{…}, tags or not.
func DefaultMathOptions() Options {
	return Options{Correct: 1}
}

// Math scores a completion of a math problem against its reference answer.
// The answer is the completion's last \boxed{…} (or \fbox{…}, or "\boxed
// x"); failing that, the text inside <answer> </answer>. The reference may
// be a bare answer or a whole worked solution, whose last \boxed{…} (or
// GSM8K's final "#### answer") is then taken. Unlike Logic, the verdict
// does not depend on the format: the format reward is added on its own.
func Math(completion, truth string, opt Options) Result {
	format := opt.FormatBad
	if WellFormed(completion, opt.PrefilledThink) {
		format = opt.FormatOK
	}
	if boxed, ok := LastBoxed(truth); ok {
		truth = boxed
	} else if i := strings.LastIndex(truth, "####"); i >= 0 {
		truth = truth[i+4:] // a GSM8K solution ends "#### 72"
	}
	got, ok := LastBoxed(completion)
	if !ok && strings.Contains(completion, answerOpen) && strings.Contains(completion, answerClose) {
		got, ok = answerText(completion), true
	}
	if !ok || strings.TrimSpace(got) == "" {
		return result(format, opt.Unparseable, "", Unparseable)
	}
	if Equivalent(got, truth) {
		return result(format, opt.Correct, got, Correct)
	}
	return result(format, opt.Wrong, got, Wrong)
}

// LastBoxed returns the content of the last \boxed or \fbox in s: the
// brace-matched group after it, or for "\boxed x" the text up to the next
// "$" or line end. ok is false when there is none or its braces never
// close.
func LastBoxed(s string) (string, bool) {
	i := max(strings.LastIndex(s, `\boxed`), strings.LastIndex(s, `\fbox`))
	if i < 0 {
		return "", false
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(s[i:], `\boxed`), `\fbox`)
	switch {
	case strings.HasPrefix(rest, "{"):
		return braceGroup(rest)
	case strings.HasPrefix(rest, " "):
		end := strings.IndexAny(rest, "$\n")
		if end < 0 {
			end = len(rest)
		}
		if v := strings.TrimSpace(rest[:end]); v != "" {
			return v, true
		}
	}
	return "", false
}

// braceGroup returns what lies inside the brace group s starts with.
func braceGroup(s string) (string, bool) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++ // \{ and \} do not count
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return s[1:i], true
			}
		}
	}
	return "", false
}

// Equivalent reports whether two math answers mean the same: equal after
// Normalize, or equal values under the exact comparator (numbers, surds and
// π multiples within 1e-6; tuples and intervals element by element with the
// same brackets; sets and bare lists in any order; percentages either as
// written or divided by 100). Rational values compare exactly, so 0.333333
// is not 1/3; the tolerance is for surds and π, relative above 1.
func Equivalent(a, b string) bool {
	na, nb := Normalize(a), Normalize(b)
	if na == nb {
		return true
	}
	va, ok := parseAnswer(na)
	if !ok {
		return false
	}
	vb, ok := parseAnswer(nb)
	if !ok {
		return false
	}
	if va.equal(vb) {
		return true
	}
	// "50\%" also matches 0.5 (Normalize already made it match 50).
	pa, pb := hasPercent(a), hasPercent(b)
	if pa != pb && va.kind == numberKind && vb.kind == numberKind {
		if pa {
			return va.scaled(0.01).equal(vb)
		}
		return vb.scaled(0.01).equal(va)
	}
	return false
}

func hasPercent(s string) bool { return strings.Contains(s, "%") }

var (
	thousandsRE = regexp.MustCompile(`^-?\d{1,3}(,\d{3})+(\.\d+)?$`)
	unitTextRE  = regexp.MustCompile(`\\(?:text|textbf|mbox|mathrm)\{\s+[^{}]*\}`)
	textRE      = regexp.MustCompile(`\\(?:text|textbf|mbox|mathrm)\{([^{}]*)\}`)
	assignRE    = regexp.MustCompile(`^[a-zA-Z]\w?=`)
)

// Normalize rewrites an answer into a canonical string the way the
// Hendrycks MATH equivalence check (strip_string) does: no line breaks,
// spacing commands, \left/\right, dollar signs, degrees, percent signs or
// units in "\text{ …}"; \tfrac and \dfrac as \frac; a leading "x = "
// dropped; \sqrt3 and \frac12 braced; a/b of integers as \frac{a}{b}; a
// leading "." given its 0. It also drops thousands separators of a lone
// number ("1,000") and unwraps \text{…}.
func Normalize(s string) string {
	s = strings.TrimSpace(s)
	s = strings.NewReplacer(
		"\n", "", `\!`, "", `\,`, "", `\;`, "", `\:`, "", `\ `, " ",
		`\\`, `\`, `\tfrac`, `\frac`, `\dfrac`, `\frac`, `\displaystyle`, "",
		`\left`, "", `\right`, "", `^{\circ}`, "", `^\circ`, "", `\circ`, "", "°", "",
		`\$`, "", "$", "", `\%`, "", "%", "",
	).Replace(s)
	s = unitTextRE.ReplaceAllString(s, "") // "5\text{ cm}"
	s = textRE.ReplaceAllString(s, "$1")
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "."))
	if thousandsRE.MatchString(s) {
		s = strings.ReplaceAll(s, ",", "")
	}
	s = strings.ReplaceAll(s, " .", " 0.")
	s = strings.ReplaceAll(s, "{.", "{0.")
	if strings.HasPrefix(s, ".") {
		s = "0" + s
	}
	s = strings.ReplaceAll(s, " ", "")
	if assignRE.MatchString(s) && strings.Count(s, "=") == 1 {
		s = s[strings.Index(s, "=")+1:]
	}
	s = braceArgs(s, `\sqrt`, 1)
	s = braceArgs(s, `\frac`, 2)
	if a, b, ok := strings.Cut(s, "/"); ok && isInt(a) && isInt(b) {
		s = `\frac{` + a + "}{" + b + "}"
	}
	return s
}

func isInt(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// braceArgs gives the first n arguments of every cmd in s braces, as TeX
// reads them: an unbraced argument is one character or one control word,
// so \frac12 is \frac{1}{2} and \sqrt3x is \sqrt{3}x.
func braceArgs(s, cmd string, n int) string {
	var b strings.Builder
	for {
		i := strings.Index(s, cmd)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+len(cmd)])
		s = s[i+len(cmd):]
		if s != "" && isLetter(s[0]) { // a longer command, e.g. \fracx? keep as is
			continue
		}
		for range n {
			if s == "" {
				break
			}
			if s[0] == '{' {
				g, ok := braceGroup(s)
				if !ok {
					break
				}
				b.WriteString("{" + g + "}")
				s = s[len(g)+2:]
				continue
			}
			arg := s[:1]
			if s[0] == '\\' {
				j := 1
				for j < len(s) && isLetter(s[j]) {
					j++
				}
				arg = s[:max(j, min(2, len(s)))]
			}
			b.WriteString("{" + arg + "}")
			s = s[len(arg):]
		}
	}
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// The exact comparator parses a normalized answer into a value.
type valueKind int

const (
	numberKind valueKind = iota
	tupleKind            // (a, b), [a, b), …: ordered, brackets must match
	setKind              // \{a, b\}, a bare list "a, b", a union of intervals: any order
)

type value struct {
	kind        valueKind
	num         float64
	rat         *big.Rat // the exact value when the number is rational
	open, close byte     // a tuple's brackets
	elems       []value
}

const tolerance = 1e-6

func (v value) equal(w value) bool {
	if v.kind != w.kind {
		return false
	}
	switch v.kind {
	case numberKind:
		if v.rat != nil && w.rat != nil {
			return v.rat.Cmp(w.rat) == 0 // rationals compare exactly, however large
		}
		if math.IsInf(v.num, 0) || math.IsInf(w.num, 0) {
			return v.num == w.num
		}
		return math.Abs(v.num-w.num) <= tolerance*max(1, math.Abs(v.num), math.Abs(w.num))
	case tupleKind:
		return v.open == w.open && v.close == w.close && slices.EqualFunc(v.elems, w.elems, value.equal)
	}
	if len(v.elems) != len(w.elems) {
		return false
	}
	used := make([]bool, len(w.elems))
next:
	for _, a := range v.elems {
		for j, b := range w.elems {
			if !used[j] && a.equal(b) {
				used[j] = true
				continue next
			}
		}
		return false
	}
	return true
}

func (v value) scaled(f float64) value {
	w := value{kind: numberKind, num: v.num * f}
	if v.rat != nil {
		r, _ := new(big.Rat).SetString(big.NewFloat(f).Text('g', -1))
		w.rat = new(big.Rat).Mul(v.rat, r)
	}
	return w
}

// parseAnswer parses a normalized answer (no spaces): a set, a union of
// intervals, an inequality in one variable, a tuple or interval, a bare
// list, or a number.
func parseAnswer(s string) (value, bool) {
	if s == "" {
		return value{}, false
	}
	if parts := splitTop(s, `\cup`); len(parts) > 1 {
		return parseList(parts, setKind, 0, 0)
	}
	if strings.HasPrefix(s, `\{`) && strings.HasSuffix(s, `\}`) && len(s) >= 4 {
		return parseList(splitTop(s[2:len(s)-2], ","), setKind, 0, 0)
	}
	if v, ok := parseInequality(s); ok {
		return v, true
	}
	if len(s) >= 2 && (s[0] == '(' || s[0] == '[') && (s[len(s)-1] == ')' || s[len(s)-1] == ']') {
		if inner := s[1 : len(s)-1]; matched(inner) {
			if parts := splitTop(inner, ","); len(parts) > 1 {
				return parseList(parts, tupleKind, s[0], s[len(s)-1])
			}
		}
	}
	if parts := splitTop(s, ","); len(parts) > 1 {
		return parseList(parts, setKind, 0, 0)
	}
	return parseNumber(s)
}

func parseList(parts []string, kind valueKind, open, close byte) (value, bool) {
	v := value{kind: kind, open: open, close: close}
	for _, p := range parts {
		e, ok := parseAnswer(p)
		if !ok {
			return value{}, false
		}
		v.elems = append(v.elems, e)
	}
	return v, true
}

// matched reports whether the brackets of s balance, so "(1,2)" is one
// tuple but "(1)+(2)" is not.
func matched(s string) bool {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
			if depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}

// splitTop splits s at sep outside any brackets.
func splitTop(s, sep string) []string {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		}
		if depth == 0 && strings.HasPrefix(s[i:], sep) {
			parts = append(parts, s[start:i])
			start = i + len(sep)
			i += len(sep) - 1
		}
	}
	return append(parts, s[start:])
}

// Inequality operators, longest first so "\leq" is not read as "\le".
var inequalityOps = []struct {
	op     string
	less   bool // the side before the op is the smaller
	strict bool
}{
	{`\leq`, true, false}, {`\geq`, false, false}, {`\le`, true, false}, {`\ge`, false, false},
	{"<=", true, false}, {">=", false, false}, {"<", true, true}, {">", false, true},
}

// parseInequality reads "x<3", "3\ge x" or "-2<x\le5" (one variable named
// by letters) as the interval it describes.
func parseInequality(s string) (value, bool) {
	var terms []string
	var ops []int
	for i := 0; i < len(s); {
		found := false
		for k, o := range inequalityOps {
			if strings.HasPrefix(s[i:], o.op) && (o.op[0] != '\\' || i+len(o.op) == len(s) || !isLetter(s[i+len(o.op)])) {
				terms = append(terms, s[:i])
				s, i = s[i+len(o.op):], 0
				ops = append(ops, k)
				found = true
				break
			}
		}
		if !found {
			i++
		}
	}
	terms = append(terms, s)
	if len(ops) == 0 || len(ops) > 2 {
		return value{}, false
	}
	varAt := -1
	for i, t := range terms {
		if isVariable(t) {
			varAt = i
		}
	}
	if varAt < 0 || (len(ops) == 2 && (varAt != 1 || inequalityOps[ops[0]].less != inequalityOps[ops[1]].less)) {
		return value{}, false
	}
	lo := value{kind: numberKind, num: math.Inf(-1)}
	hi := value{kind: numberKind, num: math.Inf(1)}
	open, close := byte('('), byte(')')
	for k, op := range ops {
		o := inequalityOps[op]
		boundAt := k
		if k == varAt {
			boundAt = k + 1
		}
		b, ok := parseNumber(terms[boundAt])
		if !ok {
			return value{}, false
		}
		// The bound is an upper one when the variable is on the smaller side.
		upper := (varAt < boundAt) == o.less
		bracket := byte('[')
		if o.strict {
			bracket = '('
		}
		if upper {
			hi, close = b, map[byte]byte{'(': ')', '[': ']'}[bracket]
		} else {
			lo, open = b, bracket
		}
	}
	return value{kind: tupleKind, open: open, close: close, elems: []value{lo, hi}}, true
}

func isVariable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLetter(s[i]) {
			return false
		}
	}
	return true
}

// parseNumber evaluates a number: integers and decimals, \frac, \sqrt,
// \pi, \infty, powers, products (explicit or implied), sums and
// parentheses. Anything else (a variable, a word) fails.
func parseNumber(s string) (value, bool) {
	p := &numParser{s: s}
	v, ok := p.sum()
	if !ok || p.i != len(s) || math.IsNaN(v.num) {
		return value{}, false
	}
	return v, true
}

type numParser struct {
	s string
	i int
}

func (p *numParser) peek(prefix string) bool { return strings.HasPrefix(p.s[p.i:], prefix) }

func (p *numParser) eat(prefix string) bool {
	if p.peek(prefix) {
		p.i += len(prefix)
		return true
	}
	return false
}

// sum = ["-"|"+"] product {("+"|"-") product}
func (p *numParser) sum() (value, bool) {
	neg := p.eat("-")
	if !neg {
		p.eat("+")
	}
	v, ok := p.product()
	if !ok {
		return value{}, false
	}
	if neg {
		v = combine(v, num(-1), '*')
	}
	for {
		var op byte
		switch {
		case p.eat("+"):
			op = '+'
		case p.eat("-"):
			op = '-'
		default:
			return v, true
		}
		w, ok := p.product()
		if !ok {
			return value{}, false
		}
		v = combine(v, w, op)
	}
}

// product = power {["*"|"\cdot"|"\times"|"/"] power}
func (p *numParser) product() (value, bool) {
	v, ok := p.power()
	if !ok {
		return value{}, false
	}
	for p.i < len(p.s) {
		op := byte('*')
		switch {
		case p.eat("*"), p.eat(`\cdot`), p.eat(`\times`):
		case p.eat("/"), p.eat(`\div`):
			op = '/'
		case p.peek("+") || p.peek("-") || p.peek(")") || p.peek("}"):
			return v, true
		}
		w, ok := p.power()
		if !ok {
			return value{}, false
		}
		v = combine(v, w, op)
	}
	return v, true
}

// power = atom ["^" (atom)]
func (p *numParser) power() (value, bool) {
	v, ok := p.atom()
	if !ok {
		return value{}, false
	}
	if !p.eat("^") {
		return v, true
	}
	e, ok := p.atom()
	if !ok {
		return value{}, false
	}
	return combine(v, e, '^'), true
}

func (p *numParser) atom() (value, bool) {
	switch {
	case p.eat(`\frac`):
		a, ok := p.group()
		if !ok {
			return value{}, false
		}
		b, ok := p.group()
		if !ok {
			return value{}, false
		}
		return combine(a, b, '/'), true
	case p.eat(`\sqrt`):
		a, ok := p.group()
		if !ok {
			return value{}, false
		}
		return sqrt(a), true
	case p.eat(`\pi`):
		return value{kind: numberKind, num: math.Pi}, true
	case p.eat(`\infty`):
		return value{kind: numberKind, num: math.Inf(1)}, true
	case p.peek("{"):
		return p.group()
	case p.eat("("):
		v, ok := p.sum()
		if !ok || !p.eat(")") {
			return value{}, false
		}
		return v, true
	}
	start := p.i
	for p.i < len(p.s) && (p.s[p.i] >= '0' && p.s[p.i] <= '9' || p.s[p.i] == '.') {
		p.i++
	}
	if p.i == start {
		return value{}, false
	}
	r, ok := new(big.Rat).SetString(p.s[start:p.i])
	if !ok {
		return value{}, false
	}
	f, _ := r.Float64()
	return value{kind: numberKind, num: f, rat: r}, true
}

// group = "{" sum "}"
func (p *numParser) group() (value, bool) {
	if !p.eat("{") {
		return value{}, false
	}
	v, ok := p.sum()
	if !ok || !p.eat("}") {
		return value{}, false
	}
	return v, true
}

func num(x int64) value { return value{kind: numberKind, num: float64(x), rat: big.NewRat(x, 1)} }

// combine applies op, keeping the exact rational while there is one.
func combine(a, b value, op byte) value {
	v := value{kind: numberKind}
	switch op {
	case '+':
		v.num = a.num + b.num
	case '-':
		v.num = a.num - b.num
	case '*':
		v.num = a.num * b.num
	case '/':
		v.num = a.num / b.num
	case '^':
		v.num = math.Pow(a.num, b.num)
	}
	if a.rat == nil || b.rat == nil {
		return v
	}
	switch op {
	case '+':
		v.rat = new(big.Rat).Add(a.rat, b.rat)
	case '-':
		v.rat = new(big.Rat).Sub(a.rat, b.rat)
	case '*':
		v.rat = new(big.Rat).Mul(a.rat, b.rat)
	case '/':
		if b.rat.Sign() != 0 {
			v.rat = new(big.Rat).Quo(a.rat, b.rat)
		}
	case '^':
		// Exact only for small integer exponents and results of a few
		// thousand bits, enough for 2^{10} and safe from 2^{2^{2^{64}}}.
		e := b.rat.Num()
		if b.rat.IsInt() && e.IsInt64() && e.Int64() >= 0 && e.Int64() <= 64 &&
			(a.rat.Num().BitLen()+a.rat.Denom().BitLen())*int(e.Int64()) <= 4096 {
			v.rat = new(big.Rat).SetInt64(1)
			for range e.Int64() {
				v.rat.Mul(v.rat, a.rat)
			}
		}
	}
	return v
}

func sqrt(a value) value {
	v := value{kind: numberKind, num: math.Sqrt(a.num)}
	if a.rat != nil && a.rat.IsInt() && a.rat.Sign() >= 0 {
		if r := new(big.Int).Sqrt(a.rat.Num()); new(big.Int).Mul(r, r).Cmp(a.rat.Num()) == 0 {
			v.rat = new(big.Rat).SetInt(r)
		}
	}
	return v
}
