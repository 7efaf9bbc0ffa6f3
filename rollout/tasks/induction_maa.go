package tasks

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// InductionMAA generates sequence puzzles as Meta-Ability-Alignment's
// released induction files were made. Those files are not what the
// repository's current Data_Synthesis/Induction.py writes (one cycle of 6
// to 10 operations a level) but what its first version did: each level
// mixes rule families, and the level's families, their shares, term counts
// and starts are the ones measured on the files (maaInductionLevels).
//
// Nothing checks that the visible terms determine the hidden one, since
// the released generator did not: a cycle of 3 to 5 operations seen over 5
// to 9 transitions is often explained by other cycles too (by cycles of at
// most 5 of aha's operations, 22% of released level-3 rows predict more
// than one value), and a run of doublings may be a run of +2s. The answer
// is the generator's own next term. Hint adds one sentence naming the
// rule family (without its numbers) after the terms; the released prompt
// has none.
type InductionMAA struct {
	Hint bool
}

// seqFamily is a rule family of the released induction files.
type seqFamily int

const (
	famArithmetic  seqFamily = iota // +d throughout
	famGeometric                    // ×q throughout
	famAlternating                  // −b, +a, −b, …
	famTwoStep                      // +b, +a, +b, …
	famMulDiv                       // ⌊÷d⌋ (at least 1), ×m, ⌊÷d⌋, …
	famMissing                      // arithmetic, a middle term hidden
	famCycle                        // a cycle of random +a, −b, ×c
)

// maaFamily is one family of a level: its share of the level's rows, in
// per mille as measured on the released train and test files together,
// and for famCycle the cycle's length.
type maaFamily struct {
	kind     seqFamily
	perMille int
	steps    int
}

// maaInductionLevels lists each level's families. At levels 1 and 2 the
// shares are those of the released files (level 1: 324 arithmetic, 356
// geometric, 320 alternating; level 2: 308 two-step including the 74
// whose steps are equal, 303 multiply-divide, 389 hidden middle term),
// not the even thirds the generator's uniform choice would give, since the
// files hold 389 hidden middle terms in 1,000, 3.7 standard deviations
// from a third.
var maaInductionLevels = [MaxLevel][]maaFamily{
	{{kind: famArithmetic, perMille: 324}, {kind: famGeometric, perMille: 356}, {kind: famAlternating, perMille: 320}},
	{{kind: famTwoStep, perMille: 308}, {kind: famMulDiv, perMille: 303}, {kind: famMissing, perMille: 389}},
	{{kind: famCycle, perMille: 1000, steps: 3}},
	{{kind: famCycle, perMille: 1000, steps: 4}},
	{{kind: famCycle, perMille: 1000, steps: 5}},
}

// Generate builds one sequence.
func (g InductionMAA) Generate(seed uint64, level, index int) (Instance, error) {
	r, err := newRand(seed, level, index)
	if err != nil {
		return Instance{}, fmt.Errorf("induction: %w", err)
	}
	fam := pickFamily(r, maaInductionLevels[level-1])
	seq, hidden := maaSequence(r, fam)
	return Instance{
		Task: "induction", Level: level, Seed: seed, Index: index,
		System: maaSystem("a numerical pattern recognition question", "give the value at the question mark", "to meet the pattern of squence", "10"),
		Prompt: maaInductionPrompt(seq, hidden, fam, g.Hint),
		Answer: fmt.Sprint(seq[hidden]),
	}, nil
}

// pickFamily draws a family by its share.
func pickFamily(r *rand.Rand, fams []maaFamily) maaFamily {
	x := r.IntN(1000)
	for _, f := range fams {
		if x < f.perMille {
			return f
		}
		x -= f.perMille
	}
	return fams[len(fams)-1]
}

// between draws uniformly from lo..hi, as Python's randint does.
func between(r *rand.Rand, lo, hi int) int64 {
	return int64(lo + r.IntN(hi-lo+1))
}

// maaSequence draws a family's terms and the position of the hidden one,
// with the term counts, starts and steps of the released files: 5–8 terms
// at level 1 (5–7 alternating), 6–9 at level 2 (6–8 with a hidden middle
// term), 7–11 at levels 3–5.
func maaSequence(r *rand.Rand, fam maaFamily) ([]int64, int) {
	var n int
	var start int64
	var next func(i int, x int64) int64 // term i from term i−1
	switch fam.kind {
	case famArithmetic, famMissing:
		if fam.kind == famArithmetic {
			n = int(between(r, 5, 8))
		} else {
			n = int(between(r, 6, 8))
		}
		start = between(r, 1, 5)
		d := between(r, 1, 4)
		next = func(_ int, x int64) int64 { return x + d }
	case famGeometric:
		n, start = int(between(r, 5, 8)), between(r, 1, 3)
		q := between(r, 2, 4)
		next = func(_ int, x int64) int64 { return x * q }
	case famAlternating:
		n, start = int(between(r, 5, 7)), between(r, 1, 10)
		a, b := between(r, 1, 3), between(r, 1, 3)
		next = func(i int, x int64) int64 {
			if i%2 == 0 {
				return x + a
			}
			return x - b
		}
	case famTwoStep:
		n, start = int(between(r, 6, 9)), between(r, 1, 5)
		a, b := between(r, 1, 4), between(r, 1, 4)
		next = func(i int, x int64) int64 {
			if i%2 == 0 {
				return x + a
			}
			return x + b
		}
	case famMulDiv:
		n, start = int(between(r, 6, 9)), between(r, 2, 5)
		m, d := between(r, 2, 4), between(r, 2, 4)
		next = func(i int, x int64) int64 {
			if i%2 == 0 {
				return x * m
			}
			return max(1, x/d) // x ≥ 1, so / rounds down as Python's // does
		}
	case famCycle:
		n, start = int(between(r, 7, 11)), between(r, 1, 5)
		cycle := make([]seqOp, fam.steps)
		for i := range cycle {
			// The kind first, then its argument: a third of the
			// operations multiply, where seqOps would give 3 in 11.
			switch k := "+-*"[r.IntN(3)]; k {
			case '*':
				cycle[i] = seqOp{k, between(r, 2, 4)}
			default:
				cycle[i] = seqOp{k, between(r, 1, 4)}
			}
		}
		next = func(i int, x int64) int64 { return cycle[(i-1)%len(cycle)].apply(x) }
	}
	seq := []int64{start}
	for i := 1; i < n; i++ {
		seq = append(seq, next(i, seq[i-1]))
	}
	if fam.kind == famMissing {
		return seq, int(between(r, 1, n-2))
	}
	return seq, n - 1
}

// maaFamilyHints names each family for --hint, without its numbers.
var maaFamilyHints = map[seqFamily]string{
	famArithmetic:  "each term adds the same number to the one before.",
	famGeometric:   "each term multiplies the one before by the same number.",
	famAlternating: "the steps alternate between subtracting one number and adding another.",
	famTwoStep:     "the steps alternate between adding one number and adding another.",
	famMulDiv:      "the steps alternate between dividing by one number, rounding down (but not below 1), and multiplying by another.",
	famMissing:     "each term adds the same number to the one before.",
	famCycle:       "a fixed cycle of %d operations (add a number, subtract a number or multiply by a number) repeats.",
}

// maaInductionPrompt writes the released puzzle text and the newline the
// released prompts end the user turn with. A hidden last term is shown in
// a Python list of strings, ['1', '2', '?']; a hidden middle term, with
// its own wording, in a list of integers, [1, '?', 3].
func maaInductionPrompt(seq []int64, hidden int, fam maaFamily, hint bool) string {
	terms := make([]string, len(seq))
	wording := "Given the following sequence,\n"
	for i, x := range seq {
		switch {
		case i == hidden:
			terms[i] = "'?'"
		case fam.kind == famMissing:
			terms[i] = fmt.Sprint(x)
		default:
			terms[i] = fmt.Sprintf("'%d'", x)
		}
	}
	if fam.kind == famMissing {
		wording = "Given the following sequence with a missing term,\n"
	}
	var b strings.Builder
	b.WriteString(wording + "[" + strings.Join(terms, ", ") + "]\n")
	if hint {
		h := maaFamilyHints[fam.kind]
		if fam.kind == famCycle {
			h = fmt.Sprintf(h, fam.steps)
		}
		b.WriteString("Hint: " + h + "\n")
	}
	b.WriteString("What is the value at the question mark?\n")
	return b.String()
}
