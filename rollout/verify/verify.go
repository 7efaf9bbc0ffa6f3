// Package verify scores model completions for reinforcement learning: a
// format reward for the <think>…</think><answer>…</answer> layout, an answer
// reward for the logic tasks of package rollout/tasks, and a math reward
// that extracts the answer in tiers (Extract) and compares it with the
// reference by value (package mathexpr). Each task's verifier is
// registered by name once (For), and the reward scheme and weights of a
// run are Rewards.
package verify

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
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
	// Unverifiable: the answer is beyond the budgets of the math checker
	// (10^{10^{10}}, a huge or deeply nested expression).
	Unverifiable Verdict = "unverifiable"
	// RewardError: the reward command failed on the sample, so it has no
	// reward (0); the record says why.
	RewardError Verdict = "reward_error"
)

// Result is the score of one completion.
type Result struct {
	Reward          float64 // RewardFormat + RewardAnswer
	RewardFormat    float64
	RewardAnswer    float64
	ExtractedAnswer string // the answer text the verdict was reached on
	Extraction      Tier   // where the answer was found
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

	// Require, for math, accepts only answers found in this tier or a
	// stricter one (TierBoxed: only \boxed answers); "" accepts any.
	Require Tier
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
	t, ok := For(task)
	if !ok || !t.Logic {
		return Result{}, fmt.Errorf("verify: unknown logic task %q", task)
	}
	return t.logic(completion, truth, opt)
}

// logic is Logic for the task t.
func (t Task) logic(completion, truth string, opt Options) (Result, error) {
	want, err := t.parse(truth)
	if err != nil {
		return Result{}, fmt.Errorf("verify %s: ground truth %q: %w", t.Name, truth, err)
	}
	if !WellFormed(completion, opt.PrefilledThink) {
		return result(opt.FormatBad, opt.Unparseable, "", FormatError), nil
	}
	text := answerText(completion)
	got, err := t.parse(text)
	if _, verdict := want[""]; err == nil && !verdict {
		// Statements about names the puzzle does not have ("it is true")
		// are chatter, not answers. A truth under the empty name (an
		// integer, or no assignment) has no names to tell them from.
		maps.DeleteFunc(got, func(name, _ string) bool { _, ok := want[name]; return !ok && name != "" })
		if len(got) == 0 {
			err = errors.New("nothing about the puzzle's names")
		}
	}
	if err != nil {
		return result(opt.FormatOK, opt.Unparseable, text, Unparseable), nil
	}
	if !maps.Equal(got, want) {
		return result(opt.FormatOK, opt.Wrong, canonical(got), Wrong), nil
	}
	return result(opt.FormatOK, opt.Correct, canonical(got), Correct), nil
}

func result(format, answer float64, extracted string, v Verdict) Result {
	return Result{Reward: format + answer, RewardFormat: format, RewardAnswer: answer, ExtractedAnswer: extracted, Verdict: v}
}

var (
	assignmentRE = regexp.MustCompile(`(?i)\b([a-z][a-z0-9]*)\s+is\s+(true|false)\b`)
	reachRE      = regexp.MustCompile(`(?i)\b([a-z][a-z0-9]*)\s+is\s+(reachable|unreachable)\b`)
	integerRE    = regexp.MustCompile(`[+-]?\d+`)
	// unsatRE finds the answer of a deduction puzzle without solutions,
	// as tasks.MAAUnsatisfiable words it, or in one word.
	unsatRE = regexp.MustCompile(`(?i)\b(no satisfying assignment|unsatisfiable)\b`)
	// thousandsSepRE finds separators between digit groups: "1,000,000".
	thousandsSepRE = regexp.MustCompile(`\d,\d{3}\b`)
)

// parseLabels collects "NAME is LABEL" statements, names upper-cased and
// labels lower-cased. A name labelled twice with different labels is
// unparseable.
func parseLabels(s string, re *regexp.Regexp) (map[string]string, error) {
	m := re.FindAllStringSubmatch(s, -1)
	if len(m) == 0 {
		return nil, errors.New("no statements")
	}
	seen := map[string]string{}
	for _, g := range m {
		name, label := strings.ToUpper(g[1]), strings.ToLower(g[2])
		if prev, ok := seen[name]; ok && prev != label {
			return nil, fmt.Errorf("%s is both %s and %s", name, prev, label)
		}
		seen[name] = label
	}
	return seen, nil
}

// canonical renders statements sorted by name length, then alphabetically
// (so B comes before AA): "A true, B false".
func canonical(statements map[string]string) string {
	if v, ok := statements[""]; ok && len(statements) == 1 {
		return v
	}
	names := slices.SortedFunc(maps.Keys(statements), func(a, b string) int {
		return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
	})
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = name + " " + statements[name]
	}
	return strings.Join(parts, ", ")
}

// parseAssignment reads "A is True" statements, or the statement that no
// assignment satisfies the formulas, which wins over any statement beside
// it and sits under the empty name.
func parseAssignment(s string) (map[string]string, error) {
	if unsatRE.MatchString(s) {
		return map[string]string{"": "unsatisfiable"}, nil
	}
	return parseLabels(s, assignmentRE)
}

// parseInteger accepts an answer holding exactly one integer (Unicode minus
// and thousands separators included), of any size.
func parseInteger(s string) (map[string]string, error) {
	s = strings.ReplaceAll(s, "−", "-")
	for thousandsSepRE.MatchString(s) { // twice for overlapping groups
		s = thousandsSepRE.ReplaceAllStringFunc(s, func(m string) string { return strings.Replace(m, ",", "", 1) })
	}
	m := integerRE.FindAllString(s, -1)
	if len(m) != 1 {
		return nil, fmt.Errorf("want one integer, found %d", len(m))
	}
	n, ok := new(big.Int).SetString(m[0], 10)
	if !ok {
		return nil, fmt.Errorf("bad integer %q", m[0])
	}
	return map[string]string{"": n.String()}, nil
}
