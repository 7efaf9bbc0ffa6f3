package tasks

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strings"
)

// Deduction generates propositional puzzles: a few nested formulas over the
// variables A, B, … that exactly one truth assignment satisfies.
type Deduction struct{}

// deductionLevels gives (variables, formula depth) per level.
var deductionLevels = [MaxLevel]struct{ vars, depth int }{{4, 1}, {6, 2}, {8, 3}, {10, 4}, {12, 5}}

// Connectives of a formula node.
type connective int

const (
	opVar connective = iota
	opNot
	opAnd
	opOr
	opImp
	opIff
	opXor
)

var connectiveSymbol = map[connective]string{opAnd: "∧", opOr: "∨", opImp: "→", opIff: "↔", opXor: "⊕"}

// formula is a propositional formula tree: a variable, a negation (left
// child) or a binary connective.
type formula struct {
	op   connective
	v    int
	l, r *formula
}

func (f *formula) String() string {
	switch f.op {
	case opVar:
		return string(rune('A' + f.v))
	case opNot:
		return "¬" + f.l.String()
	}
	return "(" + f.l.String() + " " + connectiveSymbol[f.op] + " " + f.r.String() + ")"
}

// eval returns the formula's value under one assignment (bit v = variable v).
func (f *formula) eval(assign uint64) bool {
	switch f.op {
	case opVar:
		return assign>>f.v&1 == 1
	case opNot:
		return !f.l.eval(assign)
	}
	a, b := f.l.eval(assign), f.r.eval(assign)
	switch f.op {
	case opAnd:
		return a && b
	case opOr:
		return a || b
	case opImp:
		return !a || b
	case opIff:
		return a == b
	}
	return a != b
}

// randFormula draws a formula of the given depth: a leaf is a variable,
// negated with probability 0.4; an inner node is a negation with probability
// 0.2, else a binary connective drawn uniformly.
func randFormula(r *rand.Rand, vars, depth int) *formula {
	if depth == 0 {
		f := &formula{op: opVar, v: r.IntN(vars)}
		if r.Float64() < 0.4 {
			f = &formula{op: opNot, l: f}
		}
		return f
	}
	if r.Float64() < 0.2 {
		return &formula{op: opNot, l: randFormula(r, vars, depth-1)}
	}
	op := opAnd + connective(r.IntN(5))
	return &formula{op: op, l: randFormula(r, vars, depth-1), r: randFormula(r, vars, depth-1)}
}

// truthTable is a bit set over all 2^vars assignments: bit m is the value
// under assignment m. It lets the generator count models of a whole formula
// set with a few word operations per node instead of one tree walk per
// assignment.
type truthTable []uint64

func newTruthTable(vars int) truthTable { return make(truthTable, (1<<vars+63)/64) }

func (t truthTable) count() int {
	n := 0
	for _, w := range t {
		n += bits.OnesCount64(w)
	}
	return n
}

func (t truthTable) has(m uint64) bool { return t[m/64]>>(m%64)&1 == 1 }

// tables holds the truth tables of the variables and of "true" for one
// variable count.
type tables struct {
	vars []truthTable
	full truthTable
}

func newTables(vars int) tables {
	ts := tables{vars: make([]truthTable, vars), full: newTruthTable(vars)}
	for v := range ts.vars {
		ts.vars[v] = newTruthTable(vars)
	}
	for m := range 1 << vars {
		ts.full[m/64] |= 1 << (m % 64)
		for v := range ts.vars {
			if m>>v&1 == 1 {
				ts.vars[v][m/64] |= 1 << (m % 64)
			}
		}
	}
	return ts
}

// table evaluates f on every assignment at once. The result may share
// memory with ts and must not be modified.
func (f *formula) table(ts tables) truthTable {
	if f.op == opVar {
		return ts.vars[f.v]
	}
	full := ts.full
	t := make(truthTable, len(full))
	switch f.op {
	case opNot:
		a := f.l.table(ts)
		for i := range t {
			t[i] = ^a[i] & full[i]
		}
		return t
	}
	a, b := f.l.table(ts), f.r.table(ts)
	for i := range t {
		switch f.op {
		case opAnd:
			t[i] = a[i] & b[i]
		case opOr:
			t[i] = a[i] | b[i]
		case opImp:
			t[i] = (^a[i] | b[i]) & full[i]
		case opIff:
			t[i] = ^(a[i] ^ b[i]) & full[i]
		case opXor:
			t[i] = a[i] ^ b[i]
		}
	}
	return t
}

// Deduction puzzles have 3 to 6 formulas.
const (
	minFormulas = 3
	maxFormulas = 6
	// candidates is how many random formulas compete for each slot.
	candidates = 64
	// lastCandidates is the larger budget of the last slot, which must
	// rule out every assignment still left.
	lastCandidates = 1024
)

// Generate builds one puzzle. Uniformly random formulas are close to
// balanced (true on about half the assignments), so six of them almost
// never pin down one of 4096 assignments. The generator therefore fixes a
// hidden assignment, draws candidate formulas true under it, and keeps for
// each slot the candidate that rules out the most remaining assignments;
// the formulas themselves are still drawn by the recursive process above.
// A formula set that does not reach exactly one model is thrown away.
func (Deduction) Generate(seed uint64, level, index int) (Instance, error) {
	r, err := newRand(seed, level, index)
	if err != nil {
		return Instance{}, fmt.Errorf("deduction: %w", err)
	}
	lv := deductionLevels[level-1]
	ts := newTables(lv.vars)
	for range maxAttempts {
		hidden := r.Uint64N(1 << lv.vars)
		models := append(truthTable(nil), ts.full...)
		var set []*formula
		for len(set) < maxFormulas && (len(set) < minFormulas || models.count() > 1) {
			var best *formula
			var bestTable truthTable
			bestKilled, remaining := -1, models.count()
			tries := candidates
			if len(set) == maxFormulas-1 {
				if remaining > 8 {
					break // hopeless: one formula rarely splits off more
				}
				tries = lastCandidates
			}
			for seen, draws := 0, 0; seen < tries && draws < 4*tries; draws++ {
				f := randFormula(r, lv.vars, lv.depth)
				t := f.table(ts)
				if !t.has(hidden) {
					continue
				}
				seen++
				killed := 0
				for i := range t {
					killed += bits.OnesCount64(models[i] &^ t[i])
				}
				if killed > bestKilled {
					best, bestTable, bestKilled = f, t, killed
				}
				if killed == remaining-1 {
					break // nothing left to rule out
				}
			}
			if best == nil {
				break
			}
			set = append(set, best)
			for i := range models {
				models[i] &= bestTable[i]
			}
		}
		if len(set) < minFormulas || models.count() != 1 {
			continue
		}
		return Instance{
			Task: "deduction", Level: level, Seed: seed, Index: index,
			Prompt: deductionPrompt(lv.vars, set),
			Answer: assignmentAnswer(lv.vars, hidden),
		}, nil
	}
	return Instance{}, fmt.Errorf("deduction: no unique puzzle in %d attempts (seed %d level %d index %d)", maxAttempts, seed, level, index)
}

func varNames(vars int) string {
	names := make([]string, vars)
	for v := range names {
		names[v] = string(rune('A' + v))
	}
	return strings.Join(names, ", ")
}

func deductionPrompt(vars int, set []*formula) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Each of the variables %s is either True or False. ", varNames(vars))
	b.WriteString("The symbols mean: ¬ not, ∧ and, ∨ or, → implies, ↔ if and only if, ⊕ exclusive or. ")
	b.WriteString("All of the following statements are true:\n")
	for i, f := range set {
		s := f.String()
		if f.op >= opAnd {
			s = s[1 : len(s)-1] // the outermost parentheses add nothing
		}
		fmt.Fprintf(&b, "%d. %s\n", i+1, s)
	}
	b.WriteString("Exactly one assignment of the variables makes every statement true. Find it.\n")
	b.WriteString(formatInstructions)
	fmt.Fprintf(&b, " Write the answer as: %s\n", assignmentExample(vars))
	return b.String()
}

// assignmentAnswer renders an assignment canonically: "(1) A is True (2) B is False …".
func assignmentAnswer(vars int, assign uint64) string {
	parts := make([]string, vars)
	for v := range parts {
		val := "False"
		if assign>>v&1 == 1 {
			val = "True"
		}
		parts[v] = fmt.Sprintf("(%d) %c is %s", v+1, 'A'+v, val)
	}
	return strings.Join(parts, " ")
}

func assignmentExample(vars int) string {
	if vars < 3 {
		return assignmentAnswer(vars, 1)
	}
	return "(1) A is True (2) B is False ... (" + fmt.Sprint(vars) + ") " + string(rune('A'+vars-1)) + " is True"
}
