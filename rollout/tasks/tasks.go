// Package tasks generates self-verifiable reasoning puzzles for reinforcement
// learning: deduction (find the unique satisfying assignment of a set of
// propositional formulas), induction (complete a sequence built by a hidden
// cycle of arithmetic operations) and abduction (decide which goals a rule
// base entails). Every instance carries its canonical ground truth, and every
// generator is a pure function of (seed, level, index), so a data set can be
// regenerated, sharded or extended without storing it.
package tasks

import (
	"fmt"
	"math/rand/v2"
)

// Instance is one generated puzzle.
type Instance struct {
	Task   string // "deduction", "induction" or "abduction"
	Level  int    // difficulty, 1..MaxLevel
	Seed   uint64 // the data set seed it was generated from
	Index  int    // its position in the data set
	System string // the system message the style asks for; "" leaves it to the caller
	Prompt string // the problem statement, as the user turn's text
	Answer string // the canonical ground truth, in the format the prompt asks for
}

// Generator builds instance index of the data set seed at a difficulty level.
// The result depends only on its arguments.
type Generator interface {
	Generate(seed uint64, level, index int) (Instance, error)
}

// Options are the choices a data set makes beyond its style.
type Options struct {
	// Hint shows ("show") or hides ("hide") induction's rule family in
	// the prompt; "" keeps the style's own choice: aha's prompt names the
	// operations and the cycle bound, the released prompt does not.
	Hint string
	// UnsatShare is the share of deduction puzzles, 0 to 1, that no
	// assignment satisfies (maa style only).
	UnsatShare float64
}

// Styles maps a style to its generators' constructors: "aha" (the
// default, the generators of Generators) and "maa", the distributions,
// prompt wording and answer layout of Meta-Ability-Alignment's released
// data. The options are checked by Lookup.
var Styles = map[string]map[string]func(Options) Generator{
	"aha": {
		"deduction": func(Options) Generator { return Deduction{} },
		"induction": func(o Options) Generator { return Induction{HideHint: o.Hint == "hide"} },
		"abduction": func(Options) Generator { return Abduction{} },
	},
	"maa": {
		"deduction": func(o Options) Generator { return DeductionMAA{UnsatShare: o.UnsatShare} },
		"induction": func(o Options) Generator { return InductionMAA{Hint: o.Hint == "show"} },
		"abduction": func(Options) Generator { return AbductionMAA{} },
	},
}

// Lookup returns the generator of a task in a style, with options.
func Lookup(task, style string, opt Options) (Generator, error) {
	gens, ok := Styles[style]
	if !ok {
		return nil, fmt.Errorf("unknown style %q (want aha or maa)", style)
	}
	gen, ok := gens[task]
	switch {
	case !ok:
		return nil, fmt.Errorf("unknown task %q (want deduction, induction or abduction)", task)
	case opt.Hint != "" && opt.Hint != "show" && opt.Hint != "hide":
		return nil, fmt.Errorf("hint %q: want show or hide", opt.Hint)
	case opt.UnsatShare < 0 || opt.UnsatShare > 1:
		return nil, fmt.Errorf("unsatisfiable share %g: want 0 to 1", opt.UnsatShare)
	case opt.UnsatShare > 0 && task == "deduction" && style != "maa":
		// aha's deduction builds every formula true under a hidden
		// assignment, so it has no unsatisfiable sets to offer.
		return nil, fmt.Errorf("unsatisfiable deduction puzzles come in the maa style only")
	}
	return gen(opt), nil
}

// MaxLevel is the hardest difficulty level of every task.
const MaxLevel = 5

// Generators maps each task name to its generator.
var Generators = map[string]Generator{
	"deduction": Deduction{},
	"induction": Induction{},
	"abduction": Abduction{},
}

// newRand returns the random stream of one instance. Seeding the PCG from the
// (seed, level, index) triple rather than advancing one shared stream makes
// instance i independent of how many instances were generated before it.
func newRand(seed uint64, level, index int) (*rand.Rand, error) {
	if level < 1 || level > MaxLevel {
		return nil, fmt.Errorf("level %d out of range 1..%d", level, MaxLevel)
	}
	if index < 0 {
		return nil, fmt.Errorf("negative index %d", index)
	}
	return rand.New(rand.NewPCG(seed, uint64(level)<<56^uint64(index))), nil
}

// maxAttempts bounds the rejection sampling of every generator; with the
// acceptance rates measured in the tests it is never reached.
const maxAttempts = 100000

// formatInstructions is the shared tail of every prompt.
const formatInstructions = "Think step by step inside <think> </think>, then give only the final answer inside <answer> </answer>."
