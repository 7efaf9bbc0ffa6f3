package verify

import (
	"errors"
	"regexp"
	"strings"

	"github.com/aha-inference/aha/rollout/verify/mathexpr"
)

// DefaultMathOptions rewards a right math answer with 1 and anything else
// with 0, and gives the format no weight: math models are usually trained
// to end with \boxed{…}, tags or not.
func DefaultMathOptions() Options {
	return Options{Correct: 1}
}

// Math scores a completion of a math problem against its reference answer.
// The answer is found by Extract, whose tier the result records; with
// Options.Require set, an answer found in a looser tier is unparseable.
// The reference is read by Reference. Unlike Logic, the verdict does not
// depend on the format: the format reward is added on its own. An answer
// too large to check within the budgets is unverifiable and scores as
// wrong.
func Math(completion, truth string, opt Options) Result {
	format := opt.FormatBad
	if WellFormed(completion, opt.PrefilledThink) {
		format = opt.FormatOK
	}
	got, tier := Extract(completion)
	if got == "" || !tier.AtLeast(opt.Require) {
		r := result(format, opt.Unparseable, got, Unparseable)
		r.Extraction = tier
		return r
	}
	var r Result
	switch v := Compare(got, Reference(truth)); v {
	case Correct:
		r = result(format, opt.Correct, got, v)
	default:
		r = result(format, opt.Wrong, got, v)
	}
	r.Extraction = tier
	return r
}

// Compare decides whether an extracted answer matches a reference answer:
// Correct, Wrong, or Unverifiable when the budgets of package mathexpr
// ran out. Answers that do not parse match only the same text.
func Compare(answer, reference string) Verdict {
	if squeeze(answer) == squeeze(reference) {
		return Correct
	}
	a, erra := mathexpr.Parse(answer)
	b, errb := mathexpr.Parse(reference)
	if errors.Is(erra, mathexpr.ErrBudget) || errors.Is(errb, mathexpr.ErrBudget) {
		return Unverifiable
	}
	if erra != nil || errb != nil {
		return Wrong
	}
	eq, err := mathexpr.Equal(a, b)
	switch {
	case eq:
		return Correct
	case err != nil:
		return Unverifiable
	}
	return Wrong
}

// squeeze drops spacing and surrounding dollar signs, for the cheap check
// that two answers are written alike.
func squeeze(s string) string {
	return strings.Join(strings.Fields(strings.Trim(strings.TrimSpace(s), "$")), "")
}

// parses reports whether s reads as one math answer rather than prose.
func parses(s string) bool {
	if proseRE.MatchString(textRE.ReplaceAllString(s, "")) {
		return false
	}
	_, err := mathexpr.Parse(s)
	return err == nil
}

var (
	// textRE finds \text{…} and other commands, whose words are not prose.
	textRE = regexp.MustCompile(`\\[a-zA-Z]+(?:\{[^{}]*\})?`)
	// proseRE finds two words in a row: "the answer", "is 5 apples" is
	// prose; "x y" and "19, 46, and 82" are not.
	proseRE = regexp.MustCompile(`[A-Za-z]{2,}[ ,]+[A-Za-z]{2,}`)
)
