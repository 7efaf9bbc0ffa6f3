package verify

import (
	"fmt"
	"strconv"
	"strings"
)

// Task is the verifier of one task's answers, registered by name in
// tasks, the one place where task names are known to the verifiers.
type Task struct {
	Name string
	// Logic marks the logic tasks of package rollout/tasks: scored with
	// the logic weights, and by the maa scheme when a run asks for it.
	Logic bool
	// parse reads a logic answer into name → value statements (the
	// integer answer of induction has the empty name), so answers compare
	// whatever their case, spacing, order or numbering.
	parse func(string) (map[string]string, error)
	// maa reads a logic truth into the judge of an answer, as the
	// reference's reward code does.
	maa func(truth string) (func(answer string) Verdict, error)
}

// tasks are the verifiers, in the order error messages list them.
var tasks = []Task{
	{Name: "math"},
	{Name: "deduction", Logic: true, parse: parseAssignment, maa: labels("true", "false")},
	{Name: "induction", Logic: true, parse: parseInteger, maa: maaInteger},
	{Name: "abduction", Logic: true, parse: func(s string) (map[string]string, error) { return parseLabels(s, reachRE) },
		maa: labels("reachable", "unreachable")},
}

// labels is the maa judge of "NAME is LABEL" answers.
func labels(label1, label2 string) func(string) (func(string) Verdict, error) {
	return func(truth string) (func(string) Verdict, error) { return labelScorer(truth, label1, label2), nil }
}

// For returns the verifier of the named task.
func For(name string) (Task, bool) {
	for _, t := range tasks {
		if t.Name == name {
			return t, true
		}
	}
	return Task{}, false
}

// Names lists the tasks with a verifier, "math, deduction, induction or
// abduction", for error messages.
func Names() string {
	names := make([]string, len(tasks))
	for i, t := range tasks {
		names[i] = t.Name
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Scheme selects how the logic tasks are rewarded.
type Scheme string

const (
	SchemeAha Scheme = "aha" // Logic, on the completion
	SchemeMAA Scheme = "maa" // MAA, the reference's reward, on the prompt and completion
)

// ParseScheme reads a scheme's name.
func ParseScheme(s string) (Scheme, error) {
	if s := Scheme(s); s == SchemeAha || s == SchemeMAA {
		return s, nil
	}
	return "", fmt.Errorf("reward scheme %q: want aha or maa", s)
}

// Rewards are a run's scoring choices: the scheme of the logic tasks and
// the weights of the logic and math rewards.
type Rewards struct {
	Scheme      Scheme
	Logic, Math Options
}

// DefaultRewards are aha's scheme with the default weights of both.
func DefaultRewards() Rewards {
	return Rewards{Scheme: SchemeAha, Logic: DefaultOptions(), Math: DefaultMathOptions()}
}

// Verify scores a completion of the task against its ground truth. The
// prompt is read by the maa scheme only, which scores the text the
// reference's trainer decodes: prompt and completion together. The error
// reports a truth the task cannot read, never a bad completion.
func (t Task) Verify(prompt, completion, truth string, r Rewards) (Result, error) {
	switch {
	case !t.Logic:
		return Math(completion, truth, r.Math), nil
	case r.Scheme == SchemeMAA:
		return MAA(prompt+completion, truth, r.Logic)
	}
	return t.logic(completion, truth, r.Logic)
}

// ParseWeights reads the five weights "format ok, format bad, correct,
// wrong, unparseable" into Options.
func ParseWeights(s string) (Options, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 5 {
		return Options{}, fmt.Errorf("%q: want five numbers: format ok, format bad, correct, wrong, unparseable", s)
	}
	var w [5]float64
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return Options{}, fmt.Errorf("%q is not a number", p)
		}
		w[i] = v
	}
	return Options{FormatOK: w[0], FormatBad: w[1], Correct: w[2], Wrong: w[3], Unparseable: w[4]}, nil
}
