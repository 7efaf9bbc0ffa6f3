// Package verify scores model completions for reinforcement learning: a
// format reward for the <think>…</think><answer>…</answer> layout, an answer
// reward for the logic tasks of package rollout/tasks, and a math reward
// that compares the last \boxed{…} answer with a reference the way the
// Hendrycks MATH equivalence check does, plus a small exact comparator.
package verify

import (
	"cmp"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
)

// Verdict classifies a completion's answer.
type Verdict string

const (
	Correct     Verdict = "correct"
	Wrong       Verdict = "wrong"
	Unparseable Verdict = "unparseable"
	FormatError Verdict = "format_error"
)

// Result is the score of one completion.
type Result struct {
	Reward          float64 // RewardFormat + RewardAnswer
	RewardFormat    float64
	RewardAnswer    float64
	ExtractedAnswer string // the answer text the verdict was reached on
	Verdict         Verdict
}

// Options sets the reward weights of Logic. The zero value is not useful:
// start from DefaultOptions.
type Options struct {
	// PrefilledThink says the assistant turn was prefilled with "<think>",
	// so the completion itself lacks the opening tag.
	PrefilledThink bool

	FormatOK, FormatBad float64 // format reward: well formed or not
	Correct, Wrong      float64 // answer reward: parsed and right or wrong
	Unparseable         float64 // answer reward: no answer or bad format
}

// DefaultOptions returns the weights +1/−1 for the format and +2/−1.5/−2 for
// the answer, so a completion totals 3 (correct), −0.5 (wrong), −1
// (unparseable) or −3 (format error).
func DefaultOptions() Options {
	return Options{FormatOK: 1, FormatBad: -1, Correct: 2, Wrong: -1.5, Unparseable: -2}
}

const (
	thinkOpen   = "<think>"
	thinkClose  = "</think>"
	answerOpen  = "<answer>"
	answerClose = "</answer>"
)

// WellFormed reports whether the completion holds <think>, </think>,
// <answer> and </answer> each exactly once and in that order. With
// prefilledThink the opening <think> was part of the prompt: the completion
// must not repeat it.
func WellFormed(completion string, prefilledThink bool) bool {
	if prefilledThink {
		completion = thinkOpen + completion
	}
	last := -1
	for _, tag := range []string{thinkOpen, thinkClose, answerOpen, answerClose} {
		if strings.Count(completion, tag) != 1 {
			return false
		}
		i := strings.Index(completion, tag)
		if i < last {
			return false
		}
		last = i
	}
	return true
}

// answerText returns what lies between <answer> and </answer>.
func answerText(completion string) string {
	_, rest, _ := strings.Cut(completion, answerOpen)
	text, _, _ := strings.Cut(rest, answerClose)
	return strings.TrimSpace(text)
}

// Logic scores a completion of a tasks.Instance of the named task against
// its ground truth Answer. The error reports an unknown task or a truth the
// task's parser rejects, never a bad completion.
func Logic(task, completion, truth string, opt Options) (Result, error) {
	parse, ok := parsers[task]
	if !ok {
		return Result{}, fmt.Errorf("verify: unknown task %q", task)
	}
	want, err := parse(truth)
	if err != nil {
		return Result{}, fmt.Errorf("verify %s: ground truth %q: %w", task, truth, err)
	}
	if !WellFormed(completion, opt.PrefilledThink) {
		return result(opt.FormatBad, opt.Unparseable, "", FormatError), nil
	}
	text := answerText(completion)
	got, err := parse(text)
	if err != nil {
		return result(opt.FormatOK, opt.Unparseable, text, Unparseable), nil
	}
	if got != want {
		return result(opt.FormatOK, opt.Wrong, got, Wrong), nil
	}
	return result(opt.FormatOK, opt.Correct, got, Correct), nil
}

func result(format, answer float64, extracted string, v Verdict) Result {
	return Result{Reward: format + answer, RewardFormat: format, RewardAnswer: answer, ExtractedAnswer: extracted, Verdict: v}
}

// parsers turn an answer into a canonical string, so answers compare by
// equality whatever their case, spacing or numbering.
var parsers = map[string]func(string) (string, error){
	"deduction": func(s string) (string, error) { return parseLabels(s, assignmentRE, "true", "false") },
	"abduction": func(s string) (string, error) { return parseLabels(s, reachRE, "reachable", "unreachable") },
	"induction": parseInteger,
}

var (
	assignmentRE = regexp.MustCompile(`(?i)\b([a-z][a-z0-9]*)\s+is\s+(true|false)\b`)
	reachRE      = regexp.MustCompile(`(?i)\b([a-z][a-z0-9]*)\s+is\s+(reachable|unreachable)\b`)
	integerRE    = regexp.MustCompile(`[+-]?\d+`)
)

// parseLabels collects "NAME is LABEL" statements into a sorted canonical
// list. A name labelled twice with different labels is unparseable.
func parseLabels(s string, re *regexp.Regexp, labels ...string) (string, error) {
	m := re.FindAllStringSubmatch(s, -1)
	if len(m) == 0 {
		return "", fmt.Errorf("no %q statements", strings.Join(labels, "/"))
	}
	seen := map[string]string{}
	for _, g := range m {
		name, label := strings.ToUpper(g[1]), strings.ToLower(g[2])
		if prev, ok := seen[name]; ok && prev != label {
			return "", fmt.Errorf("%s is both %s and %s", name, prev, label)
		}
		seen[name] = label
	}
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	// By length, then alphabetically, so B comes before AA.
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
	})
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = name + " " + seen[name]
	}
	return strings.Join(parts, ", "), nil
}

// parseInteger accepts an answer holding exactly one integer (Unicode minus
// included), of any size.
func parseInteger(s string) (string, error) {
	s = strings.ReplaceAll(s, "−", "-")
	m := integerRE.FindAllString(s, -1)
	if len(m) != 1 {
		return "", fmt.Errorf("want one integer, found %d", len(m))
	}
	n, ok := new(big.Int).SetString(m[0], 10)
	if !ok {
		return "", fmt.Errorf("bad integer %q", m[0])
	}
	return n.String(), nil
}
