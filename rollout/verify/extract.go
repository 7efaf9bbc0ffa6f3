package verify

import (
	"regexp"
	"strings"

	"github.com/aha-inference/aha/rollout/verify/mathexpr"
)

// Tier says where in a completion its answer was found, from the
// strictest to the loosest.
type Tier string

const (
	TierNone       Tier = ""            // no answer found
	TierBoxed      Tier = "boxed"       // \boxed{…} or \fbox{…}
	TierAnswerTag  Tier = "answer_tag"  // <answer>…</answer>
	TierProse      Tier = "prose"       // "the final answer is …", or the last $…$ or \[…\]
	TierLastNumber Tier = "last_number" // the last number of the text
)

var tierRank = map[Tier]int{TierBoxed: 1, TierAnswerTag: 2, TierProse: 3, TierLastNumber: 4}

// ParseTier reads a tier's name; "" (any tier) is valid.
func ParseTier(s string) (Tier, bool) {
	t := Tier(s)
	_, ok := tierRank[t]
	return t, ok || t == TierNone
}

// AtLeast reports whether t is as strict as min or stricter; every tier
// is when min is TierNone.
func (t Tier) AtLeast(min Tier) bool {
	return min == TierNone || t != TierNone && tierRank[t] <= tierRank[min]
}

// Extract finds the answer of a completion, trying the tiers in order:
//  1. the last run of \boxed{…} (or \fbox{…}) answers: boxes separated only
//     by connectives ("and", commas, \quad, short words) form one run, so
//     "\boxed{-2} and \boxed{1}" is the list "-2, 1", while a box written
//     after more text replaces the earlier ones; a final-answer phrase
//     after the last box replaces them all (tier prose);
//  2. the text inside the last <answer>…</answer>;
//  3. the final-answer phrasing: what follows the last "final answer is",
//     "the answer is" or "answer:", else the last $…$, $$…$$, \(…\) or
//     \[…\] that parses;
//  4. the last number.
//
// It reads the completion once per tier, so its time is linear in the
// completion's length.
func Extract(completion string) (string, Tier) {
	if boxes, end := lastBoxRun(completion); len(boxes) > 0 {
		// "The final answer is …" after the last box revises it.
		if a, ok := finalPhrase(completion[end:]); ok {
			return a, TierProse
		}
		return strings.Join(boxes, ", "), TierBoxed
	}
	if i := strings.LastIndex(completion, answerOpen); i >= 0 {
		if text, _, ok := strings.Cut(completion[i+len(answerOpen):], answerClose); ok {
			if text = strings.TrimSpace(text); text != "" {
				if parses(text) {
					return text, TierAnswerTag
				}
				if a, t := prose(text); t != TierNone {
					return a, TierAnswerTag
				}
				return text, TierAnswerTag
			}
		}
	}
	return prose(completion)
}

// Reference reads a reference answer: the boxed answer of a worked
// solution (or its final-answer phrase after the last box), the number after GSM8K's "####", the text itself when it
// parses as an answer, else what Extract finds in it.
func Reference(truth string) string {
	if boxes, end := lastBoxRun(truth); len(boxes) > 0 {
		if a, ok := finalPhrase(truth[end:]); ok {
			return a
		}
		return strings.Join(boxes, ", ")
	}
	if i := strings.LastIndex(truth, "####"); i >= 0 {
		return strings.TrimSpace(truth[i+4:])
	}
	spans := mathSpans(truth)
	if (len(spans) == 0 || len(spans) == 1 && strings.TrimSpace(truth) == "$"+spans[0]+"$") && parses(truth) {
		return truth
	}
	// "$1$ and $2$ and $3$": spans joined only by connectives are a list.
	if len(spans) > 1 && strings.Trim(spanRE.ReplaceAllString(truth, ""), " ,.andor\n") == "" {
		return strings.Join(spans, ", ")
	}
	if a, t := prose(truth); t != TierNone {
		return a
	}
	return truth
}

// box is one \boxed{…} found in a text.
type box struct {
	start, end int // of the whole "\boxed{…}"
	body       string
}

// lastBoxRun returns the contents of the last run of boxes, without
// repeats, and where the last box ends.
func lastBoxRun(s string) ([]string, int) {
	var boxes []box
	for i := 0; ; {
		j := strings.Index(s[i:], `\boxed`)
		k := strings.Index(s[i:], `\fbox`)
		if j < 0 || k >= 0 && k < j {
			j = k
		}
		if j < 0 {
			break
		}
		start := i + j
		rest := s[start+1:]
		cmd := len(`\boxed`)
		if strings.HasPrefix(rest, "fbox") {
			cmd = len(`\fbox`)
		}
		i = start + cmd
		if b, ok := readBox(s, start, i); ok {
			boxes = append(boxes, b)
			i = b.end
		}
	}
	if len(boxes) == 0 {
		return nil, 0
	}
	first := len(boxes) - 1
	for first > 0 && connective(s[boxes[first-1].end:boxes[first].start]) {
		first--
	}
	var out []string
	seen := map[string]bool{}
	for _, b := range boxes[first:] {
		body := strings.TrimSpace(b.body)
		if body != "" && !seen[body] {
			seen[body] = true
			out = append(out, body)
		}
	}
	return out, boxes[len(boxes)-1].end
}

// readBox reads the argument of a \boxed ending at i: a brace group, or
// for "\boxed 5" the text up to the next $ or line end.
func readBox(s string, start, i int) (box, bool) {
	rest := s[i:]
	switch {
	case strings.HasPrefix(rest, "{"):
		body, after, ok := mathexpr.BraceGroup(rest)
		if !ok {
			return box{}, false
		}
		return box{start, len(s) - len(after), body}, true
	case strings.HasPrefix(rest, " "):
		end := strings.IndexAny(rest, "$\n")
		if end < 0 {
			end = len(rest)
		}
		if v := strings.TrimSpace(rest[:end]); v != "" {
			return box{start, i + end, v}, true
		}
	}
	return box{}, false
}

var (
	connectiveNoise = strings.NewReplacer("$", "", `\(`, "", `\)`, "", `\[`, "", `\]`, "", `\quad`, "", `\qquad`, "",
		`\text`, "", "{", "", "}", "", `\,`, "", `\ `, "", "\n", "", " ", "", "\t", "")
	spacingCommands  = strings.NewReplacer(`\qquad`, " ", `\quad`, " ", `\text`, " ", `\mbox`, " ")
	connectiveWordRE = regexp.MustCompile(`(?i)(^|[^a-z])(and|or)([^a-z]|$)|,|;`)
)

// connective reports whether the text between two boxes joins them into
// one answer: nothing but delimiters and spacing, or "and", "or" or a
// comma with at most a couple of short words ("papers and", "for part (a)
// and"); "no wait, that was wrong:" is not.
func connective(between string) bool {
	rest := connectiveNoise.Replace(between)
	if !strings.ContainsFunc(rest, isASCIILetter) {
		return len(rest) <= 24
	}
	if !connectiveWordRE.MatchString(between) {
		return false
	}
	letters := 0
	for _, r := range connectiveWordRE.ReplaceAllString(spacingCommands.Replace(between), " ") {
		if isASCIILetter(r) {
			letters++
		}
	}
	return letters <= 12
}

func isASCIILetter(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }

var (
	phraseRE = regexp.MustCompile(`(?i)(?:final answer(?:[^.\n]{0,100}?\sis)?\s*[:：]?|answer is\s*[:：]?|answer\s*[:：])\s*`)
	// numberRE finds numbers in prose: 12,000,023, 2/3, -4.5, 1000,99
	// (a decimal comma), .5.
	numberRE = regexp.MustCompile(`-?\d{1,3}(?:[, ]\d{3})+(?:\.\d+)?|-?\d+(?:[.,]\d+)?(?:/\d+)?|-?\.\d+`)
	spanRE   = regexp.MustCompile(`\$[^$]*\$`)
	hopeRE   = regexp.MustCompile(`(?i)\s*I hope it is correct.*$`)
)

// prose finds the answer in running text: tiers 3 and 4 of Extract.
func prose(s string) (string, Tier) {
	if a, ok := finalPhrase(s); ok {
		return a, TierProse
	}
	if a, ok := lastMath(s); ok {
		return a, TierProse
	}
	if line := lastLine(s); line != "" && parses(line) {
		return line, TierProse
	}
	if n := lastNumber(s); n != "" {
		return n, TierLastNumber
	}
	return "", TierNone
}

// finalPhrase returns the answer stated by the last "final answer is",
// "the answer is" or "answer:" of s: the last math span of its sentence,
// else the sentence itself, else the sentence's last number.
func finalPhrase(s string) (string, bool) {
	locs := phraseRE.FindAllStringIndex(s, -1)
	if locs == nil {
		return "", false
	}
	sent := strings.TrimSpace(sentence(s[locs[len(locs)-1][1]:]))
	if a, ok := lastMath(sent); ok {
		return a, true
	}
	if sent != "" && parses(sent) {
		return sent, true
	}
	if n := lastNumber(sent); n != "" {
		return n, true
	}
	return "", false
}

// lastLine returns the last non-blank line of s.
func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

// sentence returns the start of s up to the end of its first sentence:
// a line break, or a full stop followed by a space (3.5 is a number).
func sentence(s string) string {
	s = hopeRE.ReplaceAllString(s, "")
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '.' && (s[i+1] == ' ' || s[i+1] == '\n') {
			return s[:i]
		}
	}
	return strings.TrimSuffix(strings.TrimSpace(s), ".")
}

// lastMath returns the content of the last math span of s that parses:
// $…$ and \(…\) within a line, $$…$$ and \[…\] across lines.
func lastMath(s string) (string, bool) {
	spans := mathSpans(s)
	for i := len(spans) - 1; i >= 0 && i >= len(spans)-8; i-- {
		if t := strings.TrimSpace(spans[i]); t != "" && parses(t) {
			return t, true
		}
	}
	return "", false
}

// mathSpans lists the math spans of s in order.
func mathSpans(s string) []string {
	var spans []string
	for i := 0; i < len(s); {
		var open, close string
		switch {
		case strings.HasPrefix(s[i:], "$$"):
			open, close = "$$", "$$"
		case s[i] == '$':
			open, close = "$", "$"
		case strings.HasPrefix(s[i:], `\(`):
			open, close = `\(`, `\)`
		case strings.HasPrefix(s[i:], `\[`):
			open, close = `\[`, `\]`
		case s[i] == '\\':
			i += 2 // an escaped \$ is not a delimiter
			continue
		default:
			i++
			continue
		}
		body := s[i+len(open):]
		end := strings.Index(body, close)
		if close == "$" { // \$ inside is a dollar sign
			end = -1
			for j := 0; j < len(body); j++ {
				if body[j] == '\\' {
					j++
				} else if body[j] == '$' {
					end = j
					break
				}
			}
		}
		if end < 0 {
			i += len(open)
			continue
		}
		inline := open == "$" || open == `\(`
		if !inline || !strings.Contains(body[:end], "\n") {
			spans = append(spans, body[:end])
		}
		i += len(open) + end + len(close)
	}
	return spans
}

// lastNumber returns the last number of s, reading "1000,99" and
// "0,111" as decimals written with a comma.
func lastNumber(s string) string {
	const tail = 4096 // the last number lies in the last few lines
	if len(s) > tail {
		s = s[len(s)-tail:]
	}
	m := numberRE.FindAllString(s, -1)
	if m == nil {
		return ""
	}
	n := strings.ReplaceAll(m[len(m)-1], " ", "")
	if a, b, ok := strings.Cut(n, ","); ok && !strings.ContainsAny(b, ",.") &&
		(len(b) != 3 || strings.TrimPrefix(a, "-") == "0") {
		return a + "." + b
	}
	return strings.ReplaceAll(n, ",", "")
}
