package tasks

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strings"
)

// DeductionMAA generates deduction puzzles as Meta-Ability-Alignment's
// released data was made (its Data_Synthesis/Deduction.py): 3 to 6
// formulas drawn independently by the same recursive process as
// Deduction's, over the level's variables and depth, kept only when
// exactly one assignment of all the variables satisfies them. Nothing
// steers the draw, so a level-1 set holds 3, 4, 5 or 6 formulas about 10%,
// 25%, 36% and 29% of the time (the rejection favours more formulas) and
// formulas may be tautologies such as (A ∨ ¬A). Prompt and answer are
// written as in the released files: a negated subformula keeps its
// parentheses, ¬(C), and the answer has one "(i) A is True" line per
// variable.
//
// With UnsatShare above 0, that share of the puzzles (drawn per puzzle)
// are sets no assignment satisfies, kept by the same rejection, as the
// released generator's solution text allows ("No satisfying assignment
// exists.", the answer here), and every prompt of the data set says that
// this is an answer, so the sentence tells nothing about its puzzle. The
// released files hold none, and the reference reward cannot score one:
// its deduction scorer counts "true" and "false" in the truth.
type DeductionMAA struct {
	UnsatShare float64
}

// MAAUnsatisfiable is the answer of a deduction puzzle that no assignment
// satisfies, as the released generator writes it.
const MAAUnsatisfiable = "No satisfying assignment exists."

// Generate builds one puzzle. The released generator draws from Python's
// random module; this one draws the same distribution from the instance's
// PCG stream.
func (g DeductionMAA) Generate(seed uint64, level, index int) (Instance, error) {
	r, err := newRand(seed, level, index)
	if err != nil {
		return Instance{}, fmt.Errorf("deduction: %w", err)
	}
	lv := deductionLevels[level-1]
	// Drawn only when asked for, so data sets without unsatisfiable
	// puzzles keep their instances.
	wantModels := 1
	if g.UnsatShare > 0 && r.Float64() < g.UnsatShare {
		wantModels = 0
	}
	ts := newTables(lv.vars)
	for range maxAttempts {
		set := make([]string, minFormulas+r.IntN(maxFormulas-minFormulas+1))
		models := append(truthTable(nil), ts.full...)
		for i := range set {
			var f *formula
			f, set[i] = randMAAFormula(r, lv.vars, lv.depth)
			t := f.table(ts)
			for w := range models {
				models[w] &= t[w]
			}
		}
		if models.count() != wantModels {
			continue
		}
		answer := MAAUnsatisfiable
		if wantModels == 1 {
			answer = maaAssignment(lv.vars, onlyModel(models))
		}
		return Instance{
			Task: "deduction", Level: level, Seed: seed, Index: index,
			System: maaSystem("a logical formula problem", "list the truth value of each variable", "to satisfy the formulas", "\n(1) A is true\n(2) B is false\n..."),
			Prompt: maaDeductionPrompt(set, g.UnsatShare > 0),
			Answer: answer,
		}, nil
	}
	return Instance{}, fmt.Errorf("deduction: no unique puzzle in %d attempts (seed %d level %d index %d)", maxAttempts, seed, level, index)
}

// randMAAFormula draws a formula as randFormula does and renders it as the
// released data does, where a negation above a leaf keeps its
// parentheses.
func randMAAFormula(r *rand.Rand, vars, depth int) (*formula, string) {
	if depth == 0 {
		f := &formula{op: opVar, v: r.IntN(vars)}
		if r.Float64() < 0.4 {
			return &formula{op: opNot, l: f}, "¬" + f.String()
		}
		return f, f.String()
	}
	if r.Float64() < 0.2 {
		f, s := randMAAFormula(r, vars, depth-1)
		return &formula{op: opNot, l: f}, "¬(" + s + ")"
	}
	op := maaConnectives[r.IntN(len(maaConnectives))]
	l, ls := randMAAFormula(r, vars, depth-1)
	rt, rs := randMAAFormula(r, vars, depth-1)
	return &formula{op: op, l: l, r: rt}, "(" + ls + " " + connectiveSymbol[op] + " " + rs + ")"
}

var maaConnectives = []connective{opImp, opAnd, opOr, opIff, opXor}

// onlyModel returns the assignment of a table that holds exactly one.
func onlyModel(t truthTable) uint64 {
	for i, w := range t {
		if w != 0 {
			return uint64(i*64 + bits.TrailingZeros64(w))
		}
	}
	return 0
}

// maaDeductionPrompt writes the released puzzle text; with unsat, the
// data set's puzzles may have no solution, and the prompt says how to
// answer then.
func maaDeductionPrompt(set []string, unsat bool) string {
	var b strings.Builder
	b.WriteString("Below are some nested formulas:\n")
	for _, f := range set {
		b.WriteString("  - " + f + "\n")
	}
	b.WriteString("Please list the truth value of each variable\n")
	if unsat {
		b.WriteString("If no assignment satisfies the formulas, answer: " + MAAUnsatisfiable + "\n")
	}
	b.WriteString("\n")
	return b.String()
}

// maaAssignment writes one "(i) A is True" line per variable.
func maaAssignment(vars int, assign uint64) string {
	var b strings.Builder
	for v := range vars {
		fmt.Fprintf(&b, "(%d) %c is %s\n", v+1, 'A'+v, map[bool]string{true: "True", false: "False"}[assign>>v&1 == 1])
	}
	return b.String()
}

// maaSystem is the system message of the released prompts, which differ
// only in the problem's name, what to list, why, and the example answer.
func maaSystem(problem, ask, purpose, example string) string {
	return "You are a helpful assistant. The assistant first thinks about the reasoning process in the mind and then provides the user with the final answer. " +
		"The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e. <think> reasoning process </think><answer> final answer </answer>.\n" +
		"Now the user has " + problem + ". After thorough thinking, once you reach a conclusion, please " + ask + " within <answer>...</answer> " + purpose + ", for example:\n<answer>" + example + "</answer>.\n"
}
