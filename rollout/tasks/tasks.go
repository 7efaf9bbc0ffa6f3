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
	"slices"
	"strings"
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

// task is a registered task: its name and its generators' constructors
// by style.
type task struct {
	name   string
	styles map[string]func(Options) Generator
}

// registry holds every task with its generators' constructors in each
// style: "aha" (the default) and "maa", the distributions, prompt wording
// and answer layout of Meta-Ability-Alignment's released data. The
// options are checked by Lookup.
var registry = []task{
	{"deduction", map[string]func(Options) Generator{
		"aha": func(Options) Generator { return Deduction{} },
		"maa": func(o Options) Generator { return DeductionMAA{UnsatShare: o.UnsatShare} },
	}},
	{"induction", map[string]func(Options) Generator{
		"aha": func(o Options) Generator { return Induction{HideHint: o.Hint == "hide"} },
		"maa": func(o Options) Generator { return InductionMAA{Hint: o.Hint == "show"} },
	}},
	{"abduction", map[string]func(Options) Generator{
		"aha": func(Options) Generator { return Abduction{} },
		"maa": func(Options) Generator { return AbductionMAA{} },
	}},
}

// Names lists the tasks, "deduction, induction or abduction", for error
// messages.
func Names() string {
	names := make([]string, len(registry))
	for i, t := range registry {
		names[i] = t.name
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Known reports whether a task of that name can be generated.
func Known(name string) bool {
	return slices.ContainsFunc(registry, func(t task) bool { return t.name == name })
}

// Lookup returns the generator of a task in a style, with options.
func Lookup(name, style string, opt Options) (Generator, error) {
	i := slices.IndexFunc(registry, func(t task) bool { return t.name == name })
	if i < 0 {
		return nil, fmt.Errorf("unknown task %q (want %s)", name, Names())
	}
	gen, ok := registry[i].styles[style]
	switch {
	case !ok:
		return nil, fmt.Errorf("unknown style %q (want aha or maa)", style)
	case opt.Hint != "" && opt.Hint != "show" && opt.Hint != "hide":
		return nil, fmt.Errorf("hint %q: want show or hide", opt.Hint)
	case opt.UnsatShare < 0 || opt.UnsatShare > 1:
		return nil, fmt.Errorf("unsatisfiable share %g: want 0 to 1", opt.UnsatShare)
	case opt.UnsatShare > 0 && name == "deduction" && style != "maa":
		// aha's deduction builds every formula true under a hidden
		// assignment, so it has no unsatisfiable sets to offer.
		return nil, fmt.Errorf("unsatisfiable deduction puzzles come in the maa style only")
	}
	return gen(opt), nil
}

// MaxLevel is the hardest difficulty level of every task.
const MaxLevel = 5

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
