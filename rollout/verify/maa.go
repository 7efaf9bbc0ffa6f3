package verify

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unicode"
)

// MAA scores a logic-task completion as the reward functions released with
// Meta-Ability-Alignment (arXiv 2505.10554) do, so that rewards agree with
// the paper's training run completion by completion. Those functions are
// stricter than Logic: an answer must name every variable or goal exactly
// once ("A is true" counted against the number expected), and an integer
// answer must be a bare integer.
//
// text is what the paper's trainer scores: the decoded prompt followed by
// the completion. Only what follows the assistant header ("Assistant:",
// else "<|im_start|>assistant") is checked, so a "<think>" prefilled in the
// prompt counts; with no header the answer is unparseable. The ground truth
// chooses the scorer, as theirs does: a truth mentioning true or false is a
// deduction assignment, one that is an integer an induction answer, one
// mentioning reachable an abduction judgement. The error reports a truth of
// none of these shapes, or one the reference could not read; never a bad
// completion.
//
// The reference matches with Python's re, whose \b, \w and \s and whose
// case folding are Unicode-aware; they are reproduced here (pyWord, pySpace,
// foldsTo), as of Unicode 14 for Python and whatever Go's tables hold.
func MAA(text, truth string, opt Options) (Result, error) {
	score, err := maaScorer(truth)
	if err != nil {
		return Result{}, fmt.Errorf("verify maa: ground truth %q: %w", truth, err)
	}
	processed, headed := afterAssistantHeader(text)
	if !WellFormed(processed, false) {
		return result(opt.FormatBad, opt.Unparseable, "", FormatError), nil
	}
	if !headed {
		return result(opt.FormatOK, opt.Unparseable, "", Unparseable), nil
	}
	answer := pyStrip(answerText(processed))
	switch score(answer) {
	case Correct:
		return result(opt.FormatOK, opt.Correct, answer, Correct), nil
	case Wrong:
		return result(opt.FormatOK, opt.Wrong, answer, Wrong), nil
	}
	return result(opt.FormatOK, opt.Unparseable, answer, Unparseable), nil
}

// afterAssistantHeader returns what follows the first assistant header.
func afterAssistantHeader(text string) (string, bool) {
	for _, h := range []string{"Assistant:", "<|im_start|>assistant"} {
		if _, rest, ok := strings.Cut(text, h); ok {
			return rest, true
		}
	}
	return text, false
}

// LogicTask names the logic task whose ground truth truth is, as the
// reference reward code tells them apart: a truth mentioning true or false
// is a deduction assignment (so is "No satisfying assignment exists.", the
// answer of the unsatisfiable puzzles aha generates on request, which the
// reference never sees), an integer (optionally negative) an induction
// answer, and one mentioning reachable an abduction judgement. It returns
// "" for anything else.
func LogicTask(truth string) string {
	lower := strings.ToLower(truth)
	switch {
	case strings.Contains(lower, "true") || strings.Contains(lower, "false"),
		strings.Contains(lower, "no satisfying assignment"): // an unsatisfiable puzzle's answer (--unsat-share)
		return "deduction"
	case isPyDigits(strings.TrimLeft(truth, "-")):
		return "induction"
	case strings.Contains(lower, "reachable"):
		return "abduction"
	}
	return ""
}

// maaScorer reads the ground truth and returns the judge of an answer
// (the stripped text inside <answer>) of the task the truth is of.
func maaScorer(truth string) (func(answer string) Verdict, error) {
	t, ok := For(LogicTask(truth))
	if !ok {
		return nil, errors.New("neither an assignment, an integer nor reachability judgements")
	}
	return t.maa(truth)
}

// maaInteger judges a bare integer answer, as the reference does for
// induction.
func maaInteger(truth string) (func(answer string) Verdict, error) {
	want, ok := pyInt(truth)
	if !ok {
		return nil, errors.New("not an integer")
	}
	return func(answer string) Verdict {
		got, ok := pyInt(answer)
		switch {
		case !ok:
			return Unparseable
		case got.Cmp(want) != 0:
			return Wrong
		}
		return Correct
	}, nil
}

// labelScorer judges "NAME is LABEL" answers. The truth holds one
// statement a line (a name stated twice keeps its first place and last
// label). An answer must hold exactly as many "is LABEL" phrases as the
// truth has names, and a statement about each name, whose first is taken;
// an empty truth has nothing to match.
func labelScorer(truth, label1, label2 string) func(string) Verdict {
	var names []string
	want := map[string]string{}
	for _, line := range strings.Split(truth, "\n") {
		line := []rune(pyStrip(line))
		if len(line) == 0 {
			continue
		}
		if name, label, ok := findStatement(line, nil, label1, label2); ok {
			if _, dup := want[name]; !dup {
				names = append(names, name)
			}
			want[name] = label
		}
	}
	return func(answer string) Verdict {
		s := []rune(answer)
		if countPhrases(s, label1)+countPhrases(s, label2) != len(names) || len(names) == 0 {
			return Unparseable
		}
		verdict := Correct
		for _, name := range names {
			_, label, ok := findStatement(s, []rune(name), label1, label2)
			if !ok {
				return Unparseable
			}
			if label != want[name] {
				verdict = Wrong
			}
		}
		return verdict
	}
}

// findStatement finds the first `\bNAME\b\s+is\s+(LABEL1|LABEL2)\b`,
// case-insensitively, in s. A nil name stands for `[A-Za-z]+`. It returns
// the name and the label as written, the label lower-cased.
func findStatement(s, name []rune, label1, label2 string) (string, string, bool) {
	for p := range s {
		if !boundary(s, p) {
			continue
		}
		end := p
		if name == nil {
			for end < len(s) && isNameRune(s[end]) {
				end++
			}
		} else {
			end = matchFold(s, p, name)
		}
		if end <= p || !boundary(s, end) {
			continue
		}
		if skipSpace(s, end) == end {
			continue
		}
		for _, label := range []string{label1, label2} {
			if q := matchIsLabel(s, skipSpace(s, end), label); q > 0 {
				return string(s[p:end]), pyLower(string(s[q-len([]rune(label)) : q])), true
			}
		}
	}
	return "", "", false
}

// countPhrases counts the non-overlapping `\bis\s+LABEL\b` in s,
// case-insensitively.
func countPhrases(s []rune, label string) int {
	n := 0
	for p := 0; p < len(s); p++ {
		if !boundary(s, p) {
			continue
		}
		if q := matchIsLabel(s, p, label); q > 0 {
			n++
			p = q - 1
		}
	}
	return n
}

// matchIsLabel matches `is\s+LABEL\b` at p, case-insensitively,
// returning the end or 0.
func matchIsLabel(s []rune, p int, label string) int {
	q := matchFold(s, p, []rune("is"))
	if q < 0 {
		return 0
	}
	r := skipSpace(s, q)
	if r == q {
		return 0
	}
	if end := matchFold(s, r, []rune(label)); end > 0 && boundary(s, end) {
		return end
	}
	return 0
}

func skipSpace(s []rune, p int) int {
	for p < len(s) && pySpace(s[p]) {
		p++
	}
	return p
}

// matchFold matches lit at p as Python's re.IGNORECASE does, returning the
// end or -1.
func matchFold(s []rune, p int, lit []rune) int {
	if p+len(lit) > len(s) {
		return -1
	}
	for i, r := range lit {
		if foldsTo(s[p+i]) != foldsTo(r) {
			return -1
		}
	}
	return p + len(lit)
}

// foldsTo maps a rune to its case-insensitive class under Python's re:
// besides ASCII case, İ and ı match i, ſ matches s, and the Kelvin sign
// matches k.
func foldsTo(r rune) rune {
	switch r {
	case 'İ', 'ı':
		return 'i'
	case 'ſ':
		return 's'
	case 'K':
		return 'k'
	}
	return unicode.ToLower(r)
}

// isNameRune is Python's case-insensitive [A-Za-z].
func isNameRune(r rune) bool {
	f := foldsTo(r)
	return f >= 'a' && f <= 'z' && (r < 0x80 || f != r)
}

// pyLower lower-cases as Python's str.lower does for the runes a label
// can match: ASCII letters and the Kelvin sign; ſ and ı stay, İ becomes
// i followed by a combining dot.
func pyLower(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		case r == 'K':
			return 'k'
		}
		return r
	}, strings.ReplaceAll(s, "İ", "i\u0307"))
}

// boundary is Python's \b at p.
func boundary(s []rune, p int) bool {
	before := p > 0 && pyWord(s[p-1])
	after := p < len(s) && pyWord(s[p])
	return before != after
}

// pyWord is Python's \w: str.isalnum() or an underscore.
func pyWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

// pySpace is Python's \s and str.isspace(): Unicode white space and the
// ASCII separators 0x1C to 0x1F.
func pySpace(r rune) bool {
	return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f
}

func pyStrip(s string) string { return strings.TrimFunc(s, pySpace) }

// isPyDigits is Python's str.isdigit() for decimal digits: non-empty, every
// rune a digit. (Python's isdigit also takes superscripts, which int()
// then refuses, so the truth is rejected either way.)
func isPyDigits(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsDigit(r) }) < 0
}

// pyInt parses s as Python's int() does: surrounding white space, an
// optional sign, decimal digits of any script with single underscores
// between them.
func pyInt(s string) (*big.Int, bool) {
	s = pyStrip(s)
	var b strings.Builder
	if s != "" && (s[0] == '+' || s[0] == '-') {
		b.WriteByte(s[0])
		s = s[1:]
	}
	prevDigit := false
	for _, r := range s {
		switch {
		case unicode.IsDigit(r):
			b.WriteRune('0' + digitValue(r))
			prevDigit = true
		case r == '_' && prevDigit:
			prevDigit = false
		default:
			return nil, false
		}
	}
	if !prevDigit {
		return nil, false
	}
	return new(big.Int).SetString(b.String(), 10)
}

// digitValue is the value of a decimal digit: Unicode lays each script's
// digits out as runs of ten from zero.
func digitValue(r rune) rune {
	first := r
	for unicode.IsDigit(first - 1) {
		first--
	}
	return (r - first) % 10
}
