package mathexpr

import (
	"cmp"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
)

// Budgets. An answer is a line or two of LaTeX; anything beyond these is
// not an answer a reward should hang on.
const (
	MaxLen   = 4096 // bytes of one answer
	MaxDepth = 64   // nesting of brackets, fractions, powers
	MaxNodes = 4096 // nodes of one tree
	MaxBits  = 8192 // bits of an exact number's numerator and denominator
)

// ErrBudget reports an answer too long, deep or large to check within the
// budgets: its verdict is "unverifiable", not "wrong".
var ErrBudget = errors.New("beyond the verification budget")

// Parse reads the LaTeX (or plain text) of one answer into a tree. Math
// delimiters ($, \( \), \[ \]) and \boxed around the whole are allowed.
func Parse(s string) (*Node, error) {
	if len(s) > MaxLen {
		return nil, fmt.Errorf("%d bytes: %w", len(s), ErrBudget)
	}
	p := &parser{s: normalize(s)}
	n, err := p.list(true)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i < len(p.s) {
		return nil, fmt.Errorf("unexpected %q at %d", p.rest(12), p.i)
	}
	return n, nil
}

// replacements rewrite spellings into the one the parser reads. Longer
// keys come first where one is a prefix of another (strings.Replacer
// prefers the earliest).
var replacements = strings.NewReplacer(
	"−", "-", "–", "-", "×", `\times `, "·", `\cdot `, "÷", `\div `, "π", `\pi `, "√", `\sqrt `,
	"≤", `\le `, "≥", `\ge `, "≠", `\ne `, "∞", `\infty `, "²", "^2", "³", "^3", "°", "",
	"€", "", "£", "", "¥", "", "∪", `\cup `, "±", `\pm `, "∓", `\mp `, "…", `\dots `, "\u00a0", " ",
	`\left`, "", `\right`, "", `\bigl`, "", `\bigr`, "", `\Bigl`, "", `\Bigr`, "", `\big`, "", `\Big`, "",
	`\displaystyle`, "", `\textstyle`, "", `\limits`, "", `\!`, "", `\,`, " ", `\;`, " ", `\:`, " ",
	`\ `, " ", `\qquad`, " ", `\quad`, " ", "~", " ", `\dfrac`, `\frac`, `\tfrac`, `\frac`, `\cfrac`, `\frac`,
	`\leqslant`, `\le `, `\geqslant`, `\ge `, `\leq`, `\le `, `\geq`, `\ge `, `\neq`, `\ne `,
	`\lt`, "<", `\gt`, ">", "<=", `\le `, ">=", `\ge `, "!=", `\ne `, `\lvert`, "|", `\rvert`, "|",
	`\vert`, "|", `\mid`, "|", `\|`, "|", `\lbrace`, `\{`, `\rbrace`, `\}`, `\%`, "%", `\$`, "", "$", "",
	`^{\circ}`, "", `^\circ`, "", `\circ`, "", `\degree`, "", `\dots`, `\dots `, `\ldots`, `\dots `,
	`\cdots`, `\dots `, `\hline`, "", `\(`, "", `\)`, "", `\[`, "", `\]`, "",
)

var (
	doubledRE    = regexp.MustCompile(`\\\\([a-zA-Z{}])`)
	thousandsRE  = regexp.MustCompile(`(\d)\s*(?:\{\s*,\s*\}|,\\!|\\,)\s*(\d{3})`)
	spaceSepRE   = regexp.MustCompile(`(^|[^\d.])(\d{1,3})((?: \d{3})+)($|[^\d.])`)
	percentRE    = regexp.MustCompile(`(\d|\})\s*(?:%|\bpercentage\b|\bpercent\b|\bpct\b)`)
	unitRE       = regexp.MustCompile(`(\d|\})\s+(?:square\s+)?(?:cm|km|mm|m|kg|mg|g|miles?|inch(?:es)?|feet|foot|ft|yards?|meters?|metres?|hours?|hrs?|minutes?|mins?|seconds?|secs?|days?|weeks?|years?|units?|degrees?|deg|yuan|dollars?|cents?|euros?|liters?|litres?|ml|sq|mph|km/h)\b(?:\^\{?\d\}?)?`)
	scientificRE = regexp.MustCompile(`(\d)[eE]([-+]?\d+)\b`)
)

// normalize rewrites the spellings Parse accepts into one: it drops
// spacing, sizing and delimiters, reads Unicode symbols, joins thousands
// separators and marks percent signs.
func normalize(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, `\begin`) { // where rows end in \\, a doubled backslash is a line break
		s = doubledRE.ReplaceAllString(s, `\$1`)
	}
	for thousandsRE.MatchString(s) { // again for overlapping groups: 1{,}000{,}000
		s = thousandsRE.ReplaceAllString(s, "$1$2")
	}
	// A row break \\ is not the spacing command "\ " nor the start of one.
	s = strings.ReplaceAll(replacements.Replace(strings.ReplaceAll(s, `\\`, "\x00")), "\x00", `\\`)
	for spaceSepRE.MatchString(s) {
		s = spaceSepRE.ReplaceAllStringFunc(s, func(m string) string { return strings.ReplaceAll(m, " ", "") })
	}
	s = percentRE.ReplaceAllString(s, "$1%")
	s = unitRE.ReplaceAllString(s, "$1")
	s = scientificRE.ReplaceAllString(s, `$1\times10^{$2}`)
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(s, ".")
	if strings.HasPrefix(s, `\boxed{`) || strings.HasPrefix(s, `\fbox{`) {
		if body, rest, ok := BraceGroup(s[strings.IndexByte(s, '{'):]); ok && strings.TrimSpace(rest) == "" {
			return normalize(body)
		}
	}
	return s
}

// BraceGroup splits s, which starts with "{", into its brace group's
// content and what follows; \{ and \} do not count.
func BraceGroup(s string) (body, rest string, ok bool) {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return s[1:i], s[i+1:], true
			}
		}
	}
	return "", "", false
}

type parser struct {
	s     string
	i     int
	depth int
	nodes int
	abs   int // open |…| bars: a bar then closes rather than opens
}

func (p *parser) rest(n int) string { return p.s[p.i:min(len(p.s), p.i+n)] }

func (p *parser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t' || p.s[p.i] == '\r') {
		p.i++
	}
}

// peek reports whether the input goes on with tok after spaces. A
// command token matches only whole: `\in` is not the start of `\infty`.
func (p *parser) peek(tok string) bool {
	p.space()
	if !strings.HasPrefix(p.s[p.i:], tok) {
		return false
	}
	if tok[0] == '\\' && isLetter(tok[len(tok)-1]) {
		j := p.i + len(tok)
		return j == len(p.s) || !isLetter(p.s[j])
	}
	return true
}

func (p *parser) eat(tok string) bool {
	if p.peek(tok) {
		p.i += len(tok)
		return true
	}
	return false
}

func (p *parser) expect(tok string) error {
	if !p.eat(tok) {
		return fmt.Errorf("want %q at %d, found %q", tok, p.i, p.rest(12))
	}
	return nil
}

// command returns the control word at the input (without consuming it),
// or "".
func (p *parser) command() string {
	p.space()
	if p.i+1 >= len(p.s) || p.s[p.i] != '\\' || !isLetter(p.s[p.i+1]) {
		return ""
	}
	j := p.i + 1
	for j < len(p.s) && isLetter(p.s[j]) {
		j++
	}
	return p.s[p.i:j]
}

// word returns the run of letters at the input, or "".
func (p *parser) word() string {
	p.space()
	j := p.i
	for j < len(p.s) && isLetter(p.s[j]) {
		j++
	}
	return p.s[p.i:j]
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return fmt.Errorf("nesting deeper than %d: %w", MaxDepth, ErrBudget)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) node(n *Node) (*Node, error) {
	p.nodes++
	if p.nodes > MaxNodes {
		return nil, fmt.Errorf("more than %d nodes: %w", MaxNodes, ErrBudget)
	}
	return n, nil
}

// list = rel {("," | ";" | "and" | "or") rel}. At the top level, groups
// split by ";" that themselves hold commas are tuples: "p=5,q=2;p=7,q=2".
func (p *parser) list(top bool) (*Node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	var groups [][]*Node
	var cur []*Node
	semicolons := false
	for {
		if w := p.word(); w == "and" || w == "or" {
			p.i += len(w)
		}
		p.textConnective()
		if p.atListEnd() {
			break
		}
		n, err := p.rel()
		if err != nil {
			return nil, err
		}
		cur = append(cur, n)
		switch w := p.word(); {
		case p.eat(","):
		case p.eat(";"):
			semicolons = true
			groups, cur = append(groups, cur), nil
		case w == "and" || w == "or":
			p.i += len(w)
			p.eat(",")
		case p.textConnective():
			p.eat(",")
		default:
			groups = append(groups, cur)
			cur = nil
			goto done
		}
	}
	if cur != nil {
		groups = append(groups, cur)
	}
done:
	var items []*Node
	for _, g := range groups {
		if top && semicolons && len(g) > 1 {
			items = append(items, &Node{Kind: Tuple, Open: '(', Close: ')', Args: g})
			continue
		}
		items = append(items, g...)
	}
	switch len(items) {
	case 0:
		return nil, fmt.Errorf("empty expression at %d", p.i)
	case 1:
		return items[0], nil
	}
	return p.node(&Node{Kind: List, Args: items})
}

// textConnective consumes \text{ and } (or "or", ","), which separates
// list items, and reports whether there was one.
func (p *parser) textConnective() bool {
	cmd := p.command()
	if !textCommands[cmd] {
		return false
	}
	save := p.i
	p.i += len(cmd)
	body, err := p.bracedText()
	switch strings.ToLower(strings.TrimSpace(body)) {
	case "and", "or", ",", "and/or":
		if err == nil {
			return true
		}
	}
	p.i = save
	return false
}

func (p *parser) atListEnd() bool {
	p.space()
	if p.i >= len(p.s) {
		return true
	}
	switch p.s[p.i] {
	case ')', ']', '}', '&':
		return true
	}
	return p.peek(`\}`) || p.peek(`\\`) || p.peek(`\end`)
}

var relations = []struct{ tok, op string }{
	{`\le`, "le"}, {`\ge`, "ge"}, {`\ne`, "ne"}, {`\approx`, "approx"}, {`\equiv`, "="}, {`\in`, "in"},
	{`\sim`, "approx"}, {"=", "="}, {"<", "lt"}, {">", "gt"}, {":", ":"},
}

// rel = union {relop union}
func (p *parser) rel() (*Node, error) {
	n, err := p.union()
	if err != nil {
		return nil, err
	}
	var args []*Node
	var ops []string
	for {
		op := ""
		for _, r := range relations {
			if p.eat(r.tok) {
				op = r.op
				break
			}
		}
		if op == "" {
			break
		}
		m, err := p.union()
		if err != nil {
			return nil, err
		}
		if args == nil {
			args = []*Node{n}
		}
		args, ops = append(args, m), append(ops, op)
	}
	if args == nil {
		return n, nil
	}
	return p.node(&Node{Kind: Rel, Args: args, Ops: ops})
}

// union = additive {\cup additive}
func (p *parser) union() (*Node, error) {
	n, err := p.additive()
	if err != nil {
		return nil, err
	}
	if !p.peek(`\cup`) {
		return n, nil
	}
	u := &Node{Kind: Union, Args: []*Node{n}}
	for p.eat(`\cup`) {
		m, err := p.additive()
		if err != nil {
			return nil, err
		}
		u.Args = append(u.Args, m)
	}
	return p.node(u)
}

// additive = [sign] term {("+" | "-" | \pm | \mp) term}
func (p *parser) additive() (*Node, error) {
	var terms []*Node
	var pm *Node // a ± b so far
	op := "+"
	switch {
	case p.eat("-"):
		op = "-"
	case p.eat(`\pm`), p.eat(`\mp`):
		op = "pm"
	default:
		p.eat("+")
	}
	for {
		t, err := p.term()
		if err != nil {
			return nil, err
		}
		switch op {
		case "+":
			terms = append(terms, t)
		case "-":
			terms = append(terms, neg(t))
		case "pm":
			left := integer(0)
			if len(terms) > 0 {
				left = sum(terms)
			}
			pm, terms = &Node{Kind: PlusMinus, Args: []*Node{left, t}}, nil
			terms = append(terms, pm)
		}
		switch {
		case p.eat("+"):
			op = "+"
		case p.eat("-"):
			op = "-"
		case p.eat(`\pm`), p.eat(`\mp`):
			op = "pm"
		default:
			return p.node(sum(terms))
		}
	}
}

func sum(terms []*Node) *Node {
	if len(terms) == 1 {
		return terms[0]
	}
	return &Node{Kind: Add, Args: terms}
}

// term = unary {(\cdot | \times | "*" | "/" | \div | nothing) factor}.
// Text among other factors is a unit and dropped.
func (p *parser) term() (*Node, error) {
	var factors []*Node
	f, err := p.unary()
	if err != nil {
		return nil, err
	}
	factors = append(factors, f)
	for {
		div := false
		switch {
		case p.eat(`\cdot`), p.eat(`\times`), p.eat("*"):
		case p.eat("/"), p.eat(`\div`):
			div = true
		default:
			if !p.startsFactor() {
				return p.product(factors)
			}
		}
		f, err := p.unary()
		if err != nil {
			return nil, err
		}
		if div {
			f = inverse(f)
		}
		factors = append(factors, f)
	}
}

func (p *parser) product(factors []*Node) (*Node, error) {
	var kept []*Node
	for _, f := range factors {
		if f != nil && !isUnit(f) {
			kept = append(kept, f)
		}
	}
	if len(kept) == 0 { // only text: the text is the answer
		for _, f := range factors {
			if f != nil {
				kept = append(kept, f)
			}
		}
	}
	switch len(kept) {
	case 0:
		return nil, fmt.Errorf("empty term at %d", p.i)
	case 1:
		return kept[0], nil
	}
	return p.node(&Node{Kind: Mul, Args: kept})
}

// isUnit reports text, or a power of text (\mbox{cm}^2).
func isUnit(n *Node) bool {
	return n.Kind == Text || n.Kind == Pow && n.Args[0].Kind == Text
}

// startsFactor reports whether a factor multiplied by juxtaposition
// follows: 2x, 2\sqrt{3}, 3(x+1).
func (p *parser) startsFactor() bool {
	p.space()
	if p.i >= len(p.s) {
		return false
	}
	c := p.s[p.i]
	switch {
	case isDigit(c), c == '(', c == '{', c == '.' && p.i+1 < len(p.s) && isDigit(p.s[p.i+1]):
		return true
	case isLetter(c):
		w := p.word()
		return w != "and" && w != "or"
	case c == '|':
		return p.abs == 0
	case c == '\\':
		cmd := p.command()
		if cmd == "" {
			return p.peek(`\{`)
		}
		if textCommands[cmd] {
			save := p.i
			connective := p.textConnective()
			p.i = save
			return !connective
		}
		switch cmd {
		case `\cdot`, `\times`, `\div`, `\pm`, `\mp`, `\cup`, `\le`, `\ge`, `\ne`, `\approx`, `\equiv`, `\in`,
			`\sim`, `\end`, `\cap`, `\to`, `\implies`, `\Rightarrow`:
			return false
		}
		return true
	}
	return false
}

// unary = ("-" | "+") unary | postfix
func (p *parser) unary() (*Node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	switch {
	case p.eat("-"):
		f, err := p.unary()
		if err != nil {
			return nil, err
		}
		return p.node(neg(f))
	case p.eat("+"):
		return p.unary()
	}
	return p.postfix()
}

// postfix = primary {"^" arg | "_" arg | "!" | "%" | "'"}
func (p *parser) postfix() (*Node, error) {
	n, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.eat("^"):
			e, err := p.script()
			if err != nil {
				return nil, err
			}
			if n == nil {
				continue
			}
			n = &Node{Kind: Pow, Args: []*Node{n, e}}
		case p.eat("_"):
			e, err := p.script()
			if err != nil {
				return nil, err
			}
			if n == nil {
				continue
			}
			// A subscript names a variable (a_{3}) or a base (204_5):
			// either way an opaque symbol.
			n = &Node{Kind: Sym, Name: n.String() + "_" + e.String()}
		case p.eat("!"):
			n = fn("fact", n)
		case p.eat("%"):
			n = &Node{Kind: Percent, Args: []*Node{n}}
		case p.eat("'"):
			n = &Node{Kind: Sym, Name: n.String() + "'"}
		default:
			return p.node(n)
		}
		if n == nil {
			return nil, fmt.Errorf("script without a base at %d", p.i)
		}
	}
}

// script reads a superscript or subscript: a brace group, or as TeX does
// one token, except that a run of digits is one number (2^10 means 1024
// in plain text).
func (p *parser) script() (*Node, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, errors.New("missing exponent")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.braced()
	case isDigit(c):
		return p.number()
	case isLetter(c):
		p.i++
		return p.letter(c)
	case c == '-':
		p.i++
		a, err := p.script()
		if err != nil {
			return nil, err
		}
		return neg(a), nil
	}
	return p.primary()
}

// texArg reads one macro argument: a brace group or a single character
// (\frac12) or control word.
func (p *parser) texArg() (*Node, error) {
	p.space()
	if p.i >= len(p.s) {
		return nil, errors.New("missing argument")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.braced()
	case isDigit(c):
		p.i++
		return integer(int64(c - '0')), nil
	case isLetter(c):
		p.i++
		return p.letter(c)
	}
	return p.primary()
}

// braced reads "{" list "}".
func (p *parser) braced() (*Node, error) {
	if err := p.expect("{"); err != nil {
		return nil, err
	}
	n, err := p.list(false)
	if err != nil {
		return nil, err
	}
	return n, p.expect("}")
}

// bracedText returns the raw text of a brace group.
func (p *parser) bracedText() (string, error) {
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return "", fmt.Errorf("want a {group} at %d", p.i)
	}
	body, rest, ok := BraceGroup(p.s[p.i:])
	if !ok {
		return "", errors.New("unclosed brace")
	}
	p.i = len(p.s) - len(rest)
	return body, nil
}

var functions = map[string]string{
	"sin": "sin", "cos": "cos", "tan": "tan", "sec": "sec", "csc": "csc", "cot": "cot",
	"arcsin": "asin", "arccos": "acos", "arctan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
	"ln": "ln", "log": "log", "exp": "exp", "lg": "log10", "gcd": "gcd", "lcm": "lcm", "max": "max", "min": "min",
	"det": "det", "deg": "deg",
}

// symbolWrappers hold a name: \mathbf{v}, \vec{v}, \overline{AB}.
var symbolWrappers = map[string]bool{
	`\mathbf`: true, `\mathit`: true, `\boldsymbol`: true, `\bm`: true, `\vec`: true, `\overrightarrow`: true,
	`\overline`: true, `\hat`: true, `\bar`: true, `\tilde`: true, `\mathcal`: true, `\mathbb`: true,
	`\widehat`: true, `\overarc`: true, `\mathsf`: true, `\mathfrak`: true, `\dot`: true, `\underline`: true,
}

// textCommands hold words.
var textCommands = map[string]bool{
	`\text`: true, `\textbf`: true, `\textit`: true, `\textnormal`: true, `\textrm`: true, `\mbox`: true,
	`\mathrm`: true, `\textsf`: true, `\texttt`: true, `\emph`: true, `\operatorname`: true,
}

// ignored commands take no part in the value.
var ignored = map[string]bool{`\angle`: true, `\triangle`: true, `\measuredangle`: true, `\,`: true, `\phantom`: true}

func (p *parser) primary() (*Node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	p.space()
	if p.i >= len(p.s) {
		return nil, errors.New("unexpected end")
	}
	c := p.s[p.i]
	switch {
	case isDigit(c) || c == '.' && p.i+1 < len(p.s) && isDigit(p.s[p.i+1]):
		return p.number()
	case isLetter(c):
		w := p.word()
		if name, ok := functions[w]; ok && len(w) > 1 {
			p.i += len(w)
			return p.function(name)
		}
		p.i++
		return p.letter(c)
	case c == '(' || c == '[':
		p.i++
		return p.bracketed(c)
	case c == '{':
		p.i++
		n, err := p.list(false)
		if err != nil {
			return nil, err
		}
		if err := p.expect("}"); err != nil {
			return nil, err
		}
		if n.Kind == List { // {-2021, 2021}
			n.Kind = Set
		}
		return n, nil
	case c == '|':
		p.i++
		p.abs++
		n, err := p.additive()
		p.abs--
		if err != nil {
			return nil, err
		}
		if err := p.expect("|"); err != nil {
			return nil, err
		}
		return p.node(fn("abs", n))
	case c == '\\':
		return p.control()
	}
	return nil, fmt.Errorf("unexpected %q at %d", p.rest(12), p.i)
}

// letter makes a one-letter variable; e is Euler's number.
func (p *parser) letter(c byte) (*Node, error) {
	if c == 'e' {
		return p.node(&Node{Kind: Const, Name: "e"})
	}
	return p.node(&Node{Kind: Sym, Name: string(c)})
}

// number reads digits with an optional decimal part. A comma followed by
// exactly three digits and no fourth is a thousands separator (1,000),
// not a list: lists of such numbers are written with spaces.
func (p *parser) number() (*Node, error) {
	var b strings.Builder
	decimals := -1 // digits after the point, once there is one
	group, separated := 0, false
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case isDigit(c):
			b.WriteByte(c)
			group++
			if decimals >= 0 {
				decimals++
			}
		case c == '.' && decimals < 0 && p.i+1 < len(p.s) && isDigit(p.s[p.i+1]):
			b.WriteByte(c)
			decimals = 0
		case c == ',' && decimals < 0 && (group == 3 || !separated && group >= 1 && group <= 3) && p.thousands():
			group, separated = 0, true
		default:
			goto done
		}
		p.i++
	}
done:
	r, ok := new(big.Rat).SetString(b.String())
	if !ok {
		return nil, fmt.Errorf("bad number %q", b.String())
	}
	return p.node(&Node{Kind: Num, Rat: r, Places: max(decimals, 0)})
}

// thousands reports whether the comma at the input is followed by
// exactly three digits.
func (p *parser) thousands() bool {
	j := p.i + 1
	for j < len(p.s) && isDigit(p.s[j]) {
		j++
	}
	return j-p.i-1 == 3
}

// bracketed reads what follows an opening ( or [: a parenthesized
// expression, or a tuple or interval.
func (p *parser) bracketed(open byte) (*Node, error) {
	n, err := p.list(false)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != ')' && p.s[p.i] != ']' {
		return nil, fmt.Errorf("unclosed %c", open)
	}
	close := p.s[p.i]
	p.i++
	if n.Kind != List {
		if open == '(' && close == ']' || open == '[' && close == ')' {
			return nil, fmt.Errorf("%c…%c around one value", open, close)
		}
		return n, nil
	}
	return p.node(&Node{Kind: Tuple, Open: open, Close: close, Args: n.Args})
}

// function reads a function's optional power and base and its argument:
// \sin^2 x, \log_2(8), \sin(a+b).
func (p *parser) function(name string) (*Node, error) {
	power, base, err := p.scripts()
	if err != nil {
		return nil, err
	}
	if power != nil && power.String() == "-1" { // \sin^{-1} is arcsin
		power, name = nil, map[string]string{"sin": "asin", "cos": "acos", "tan": "atan"}[name]
		if name == "" {
			return nil, errors.New("inverse of a function without one")
		}
	}
	a, err := p.postfix()
	if err != nil {
		return nil, err
	}
	n := fn(name, a)
	if base != nil {
		n = fn("logb", base, a)
	}
	if power != nil {
		n = &Node{Kind: Pow, Args: []*Node{n, power}}
	}
	return p.node(n)
}

// control reads a construct that starts with a backslash.
func (p *parser) control() (*Node, error) {
	if p.eat(`\{`) {
		if p.eat(`\}`) {
			return p.node(&Node{Kind: Empty})
		}
		n, err := p.list(false)
		if err != nil {
			return nil, err
		}
		if err := p.expect(`\}`); err != nil {
			return nil, err
		}
		if n.Kind == List {
			n.Kind = Set
		} else {
			n = &Node{Kind: Set, Args: []*Node{n}}
		}
		return p.node(n)
	}
	cmd := p.command()
	if cmd == "" {
		return nil, fmt.Errorf("unexpected %q at %d", p.rest(12), p.i)
	}
	p.i += len(cmd)
	switch {
	case cmd == `\frac` || cmd == `\over`:
		a, err := p.texArg()
		if err != nil {
			return nil, err
		}
		b, err := p.texArg()
		if err != nil {
			return nil, err
		}
		return p.node(&Node{Kind: Mul, Args: []*Node{a, inverse(b)}})
	case cmd == `\binom`:
		a, err := p.texArg()
		if err != nil {
			return nil, err
		}
		b, err := p.texArg()
		if err != nil {
			return nil, err
		}
		return p.node(fn("binom", a, b))
	case cmd == `\sqrt`:
		var index *Node
		if p.eat("[") {
			var err error
			if index, err = p.list(false); err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
		}
		a, err := p.texArg()
		if err != nil {
			return nil, err
		}
		if index == nil {
			return p.node(fn("sqrt", a))
		}
		return p.node(&Node{Kind: Pow, Args: []*Node{a, inverse(index)}})
	case cmd == `\pi`:
		return p.node(&Node{Kind: Const, Name: "pi"})
	case cmd == `\infty` || cmd == `\infin`:
		return p.node(&Node{Kind: Const, Name: "inf"})
	case cmd == `\emptyset` || cmd == `\varnothing`:
		return p.node(&Node{Kind: Empty})
	case cmd == `\boxed` || cmd == `\fbox`:
		return p.braced()
	case cmd == `\pmod`:
		_, err := p.bracedText()
		return nil, err
	case cmd == `\begin`:
		return p.environment()
	case cmd == `\sum` || cmd == `\prod` || cmd == `\int` || cmd == `\lim` || cmd == `\oint`:
		return p.bigOperator(cmd[1:])
	case ignored[cmd]:
		return nil, nil
	case symbolWrappers[cmd]:
		body, err := p.bracedText()
		if err != nil {
			// \vec v: one letter
			p.space()
			if p.i < len(p.s) && isLetter(p.s[p.i]) {
				p.i++
				return p.node(&Node{Kind: Sym, Name: cmd + "{" + p.s[p.i-1:p.i] + "}"})
			}
			return nil, err
		}
		return p.node(&Node{Kind: Sym, Name: cmd + "{" + strings.Join(strings.Fields(body), "") + "}"})
	case textCommands[cmd]:
		body, err := p.bracedText()
		if err != nil {
			return nil, err
		}
		return p.text(body)
	}
	if name, ok := functions[cmd[1:]]; ok {
		return p.function(name)
	}
	// Greek letters and anything else: a variable named by the command.
	return p.node(&Node{Kind: Sym, Name: cmd})
}

// text makes the content of \text{…}: a number or a single letter stays
// math (\mathrm{e}, \text{E}), anything else is words.
func (p *parser) text(body string) (*Node, error) {
	t := strings.TrimSpace(body)
	if t == "" {
		return nil, nil
	}
	if len(t) == 1 && isLetter(t[0]) {
		return p.letter(t[0])
	}
	if n, err := Parse(t); err == nil && n.Kind == Num {
		return n, nil
	}
	if name, ok := functions[t]; ok {
		return p.function(name)
	}
	return p.node(&Node{Kind: Text, Name: t})
}

// bigOperator reads \sum_{k=1}^{n} body (and \prod, \int, \lim) as an
// opaque function of its bounds and body.
func (p *parser) bigOperator(name string) (*Node, error) {
	hi, lo, err := p.scripts()
	if err != nil {
		return nil, err
	}
	lo, hi = cmp.Or(lo, integer(0)), cmp.Or(hi, integer(0))
	body, err := p.term()
	if err != nil {
		return nil, err
	}
	// \sum_{k=0}: the bound variable and its start, as arguments.
	if lo.Kind == Rel && len(lo.Ops) == 1 && lo.Ops[0] == "=" {
		return p.node(fn(name, lo.Args[0], lo.Args[1], hi, body))
	}
	return p.node(fn(name, lo, hi, body))
}

// scripts reads a run of ^… and _… scripts, in either order: a
// superscript and a subscript, nil where absent.
func (p *parser) scripts() (sup, sub *Node, err error) {
	for {
		switch {
		case p.eat("^"):
			if sup, err = p.script(); err != nil {
				return nil, nil, err
			}
		case p.eat("_"):
			if sub, err = p.script(); err != nil {
				return nil, nil, err
			}
		default:
			return sup, sub, nil
		}
	}
}

var matrixEnvs = map[string]bool{"pmatrix": true, "bmatrix": true, "Bmatrix": true, "vmatrix": true,
	"Vmatrix": true, "matrix": true, "smallmatrix": true, "array": true}

// environment reads \begin{…matrix} rows \end{…matrix}: cells split by &,
// rows by \\.
func (p *parser) environment() (*Node, error) {
	env, err := p.bracedText()
	if err != nil {
		return nil, err
	}
	if !matrixEnvs[env] {
		return nil, fmt.Errorf("environment %q is not a matrix", env)
	}
	if env == "array" {
		if _, err := p.bracedText(); err != nil { // the column layout
			return nil, err
		}
	}
	var rows [][]*Node
	row := []*Node{}
	for {
		if p.eat(`\end`) {
			if _, err := p.bracedText(); err != nil {
				return nil, err
			}
			break
		}
		if p.eat(`\\`) {
			rows, row = append(rows, row), []*Node{}
			continue
		}
		cell, err := p.list(false)
		if err != nil {
			return nil, err
		}
		row = append(row, cell)
		p.eat("&")
	}
	if len(row) > 0 {
		rows = append(rows, row)
	}
	m := &Node{Kind: Matrix, Rows: len(rows)}
	for _, r := range rows {
		if m.Cols == 0 {
			m.Cols = len(r)
		}
		if len(r) != m.Cols {
			return nil, errors.New("matrix rows of different lengths")
		}
		m.Args = append(m.Args, r...)
	}
	if m.Rows == 0 {
		return nil, errors.New("empty matrix")
	}
	return p.node(m)
}
