package tasks

import (
	"fmt"
	"strings"
)

// AbductionMAA generates abduction puzzles in the layout of
// Meta-Ability-Alignment's released data: the premises as a Python list of
// "((A AND (NOT B))) => C" rules, the known atoms and three goals as
// lists, the released instruction, and one "(i) X is reachable" line per
// goal. Every level has three goals and as many premises as the released
// level has: 6, 8–10, 12–14, 16–18 and 20–22.
//
// The puzzles are Abduction's, not the released generator's: in every
// released row exactly one goal is reachable, and it is the one listed
// among the known atoms (the others occur nowhere else), so "reachable iff
// known" is right on all of them and "the last goal reachable" on a third,
// against a chance rate of one in eight. Here each goal heads a backward
// chain, labels are dealt in balanced blocks (balancedLabels), no goal is a
// known atom, and reachability is classical entailment.
type AbductionMAA struct{}

// maaAbductionLevels gives the chain depth range, the premise range
// measured on the released files (the chains' rules plus distractors) and
// the cycle probability per level.
var maaAbductionLevels = [MaxLevel]struct {
	depthMin, depthMax, premMin, premMax int
	cycle                                float64
}{
	{1, 2, 6, 6, 0.10},
	{2, 3, 8, 10, 0.15},
	{3, 4, 12, 14, 0.20},
	{4, 5, 16, 18, 0.25},
	{5, 6, 20, 22, 0.30},
}

// maaGoals is the goal count of every released level.
const maaGoals = 3

// Generate builds one puzzle.
func (AbductionMAA) Generate(seed uint64, level, index int) (Instance, error) {
	r, err := newRand(seed, level, index)
	if err != nil {
		return Instance{}, fmt.Errorf("abduction: %w", err)
	}
	lv := maaAbductionLevels[level-1]
	intended := balancedLabels(seed, level, index, maaGoals)
	kb, names, err := consistentBase(r, intended, lv.depthMin, lv.depthMax, lv.cycle, func(chainRules int) int {
		return lv.premMin + r.IntN(lv.premMax-lv.premMin+1) - chainRules
	})
	if err != nil {
		return Instance{}, fmt.Errorf("abduction: %w (seed %d level %d index %d)", err, seed, level, index)
	}
	var answer strings.Builder
	for g, goal := range kb.goals {
		label := "unreachable"
		if intended[g] {
			label = "reachable"
		}
		fmt.Fprintf(&answer, "(%d) %s is %s\n", g+1, names[goal], label)
	}
	return Instance{
		Task: "abduction", Level: level, Seed: seed, Index: index,
		System: maaSystem("a graph analysis problem", "list the reachable judgement of each goal", "to satisfy the formulas", "\n(1) A is reachable\n(2) B is unreachable\n..."),
		Prompt: maaAbductionPrompt(kb, names),
		Answer: strings.TrimSuffix(answer.String(), "\n"),
	}, nil
}

// maaAbductionPrompt writes the released puzzle text.
func maaAbductionPrompt(kb *ruleBase, names []string) string {
	premises := make([]string, len(kb.rules))
	for i, ru := range kb.rules {
		premises[i] = "(" + maaBody(ru, names) + ") => " + names[ru.head]
	}
	known := make([]string, len(kb.facts))
	for i, f := range kb.facts {
		known[i] = names[f]
	}
	goals := make([]string, len(kb.goals))
	for i, g := range kb.goals {
		goals[i] = names[g]
	}
	return "premises: " + pyList(premises) + "\nknown_atoms: " + pyList(known) + "\ngoals: " + pyList(goals) +
		"\nFor each goal, first assume it is true and determine what conditions must be satisfied. " +
		"Identify which premises directly lead to these goals, then trace back what must be established to satisfy those premises. " +
		"Finally, check whether the known atoms can lead to these conditions"
}

// maaBody writes a rule's body as the released premises do: a negated
// atom as (NOT X), and literals joined pairwise, left to right, in
// parentheses: ((A AND B) AND (NOT C)).
func maaBody(ru rule, names []string) string {
	join := " OR "
	if ru.and {
		join = " AND "
	}
	var body string
	for i, l := range ru.body {
		lit := names[l.atom()]
		if l < 0 {
			lit = "(NOT " + lit + ")"
		}
		if i == 0 {
			body = lit
			continue
		}
		body = "(" + body + join + lit + ")"
	}
	return body
}

// pyList writes strings as Python prints a list of them; names and
// premises hold no quotes or backslashes to escape.
func pyList(items []string) string {
	return "['" + strings.Join(items, "', '") + "']"
}
