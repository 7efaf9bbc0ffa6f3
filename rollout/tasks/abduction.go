package tasks

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Abduction generates rule-base puzzles: known atoms, rules "(body) => head"
// whose bodies join literals with "and" or "or", and goals to classify as
// reachable or unreachable. Each goal has a backward chain of rules of some
// depth; the chains of intended-reachable goals end in a known atom, the
// others in an atom nothing supports. Cycles and distractor rules are added
// on top, and an instance is kept only if exactly the intended goals are
// entailed.
//
// Reachable means classically entailed: true in every model of the known
// atoms and the rules read as implications. The generator decides it with
// DPLL on the clause form (a rule "(l1 and l2) => h" is the clause
// ¬l1 ∨ ¬l2 ∨ h, and "(l1 or l2) => h" the clauses ¬l1 ∨ h and ¬l2 ∨ h),
// asking whether knowledge base ∧ ¬goal is unsatisfiable.
type Abduction struct{}

// abductionLevels gives the chain depth range, number of goals, distractor
// range and cycle probability per level.
var abductionLevels = [MaxLevel]struct {
	depthMin, depthMax, goals, distMin, distMax int
	cycle                                       float64
}{
	{2, 3, 1, 3, 5, 0.10},
	{3, 4, 1, 5, 7, 0.15},
	{4, 5, 2, 6, 8, 0.20},
	{5, 6, 2, 8, 10, 0.25},
	{6, 7, 3, 10, 12, 0.30},
}

// rule is "(body) => head"; a body of several literals is a conjunction
// when and is set, else a disjunction.
type rule struct {
	body []literal
	and  bool
	head int
}

// ruleBase is a generated puzzle before naming.
type ruleBase struct {
	atoms int
	facts []int
	rules []rule
	goals []int
}

func (kb *ruleBase) newAtom() int {
	kb.atoms++
	return kb.atoms - 1
}

// clauses returns the clause form of the facts and rules.
func (kb *ruleBase) clauses() [][]literal {
	var cs [][]literal
	for _, f := range kb.facts {
		cs = append(cs, []literal{pos(f)})
	}
	for _, r := range kb.rules {
		if r.and || len(r.body) == 1 {
			c := []literal{pos(r.head)}
			for _, l := range r.body {
				c = append(c, -l)
			}
			cs = append(cs, c)
			continue
		}
		for _, l := range r.body {
			cs = append(cs, []literal{-l, pos(r.head)})
		}
	}
	return cs
}

// entailed reports whether the rule base forces atom to be true.
func (kb *ruleBase) entailed(atom int) bool {
	return !satisfiable(kb.atoms, append(kb.clauses(), []literal{neg(atom)}))
}

// Generate builds one puzzle.
func (Abduction) Generate(seed uint64, level, index int) (Instance, error) {
	r, err := newRand(seed, level, index)
	if err != nil {
		return Instance{}, fmt.Errorf("abduction: %w", err)
	}
	lv := abductionLevels[level-1]
	intended := balancedLabels(seed, level, index, lv.goals)
	kb, names, err := consistentBase(r, intended, lv.depthMin, lv.depthMax, lv.cycle, func(int) int {
		return lv.distMin + r.IntN(lv.distMax-lv.distMin+1)
	})
	if err != nil {
		return Instance{}, fmt.Errorf("abduction: %w (seed %d level %d index %d)", err, seed, level, index)
	}
	answer := make([]string, len(kb.goals))
	for g, goal := range kb.goals {
		answer[g] = names[goal] + " is unreachable"
		if intended[g] {
			answer[g] = names[goal] + " is reachable"
		}
	}
	return Instance{
		Task: "abduction", Level: level, Seed: seed, Index: index,
		Prompt: abductionPrompt(kb, names),
		Answer: strings.Join(answer, ", "),
	}, nil
}

// consistentBase draws rule bases, one chain per goal of a depth in
// depthMin..depthMax plus the distractor rules distractors asks for given
// the chains' rule count (a negative count rejects the draw), until one
// entails exactly the intended goals. It returns it with its rules and
// facts shuffled, and its atoms' names.
func consistentBase(r *rand.Rand, intended []bool, depthMin, depthMax int, cycle float64, distractors func(chainRules int) int) (*ruleBase, []string, error) {
	for range maxAttempts {
		kb := &ruleBase{}
		for g := range intended {
			depth := depthMin + r.IntN(depthMax-depthMin+1)
			kb.goals = append(kb.goals, kb.chain(r, depth, intended[g], cycle))
		}
		for range 1 + r.IntN(2) { // known atoms no chain needs
			kb.facts = append(kb.facts, kb.newAtom())
		}
		n := distractors(len(kb.rules))
		if n < 0 {
			continue
		}
		for range n {
			kb.rules = append(kb.rules, kb.distractor(r))
		}
		ok := true
		for g, goal := range kb.goals {
			ok = ok && kb.entailed(goal) == intended[g]
		}
		if !ok {
			continue
		}
		names := atomNames(r, kb.atoms)
		r.Shuffle(len(kb.rules), func(i, j int) { kb.rules[i], kb.rules[j] = kb.rules[j], kb.rules[i] })
		r.Shuffle(len(kb.facts), func(i, j int) { kb.facts[i], kb.facts[j] = kb.facts[j], kb.facts[i] })
		return kb, names, nil
	}
	return nil, nil, fmt.Errorf("no consistent puzzle in %d attempts", maxAttempts)
}

// balancedLabels returns which of the goals of instance index are to be
// reachable. Drawing each label at random and keeping the puzzles that came
// out consistent favoured reachable goals, since a distractor rule supports
// an unreachable chain more often than anything cuts a reachable one:
// answering "all reachable" was right on 66% of level-1 puzzles. Instead
// the 2^goals label patterns are dealt in blocks: instances
// 2^goals·b … 2^goals·(b+1)−1 take each pattern once, in an order drawn
// from (seed, level, b). Every constant answer is then right on exactly
// the chance rate 2^−goals of each whole block, and a shard, which takes
// every Nth instance, still meets the patterns in random order.
func balancedLabels(seed uint64, level, index, goals int) []bool {
	n := 1 << goals
	r := rand.New(rand.NewPCG(seed, uint64(level)<<56^labelStream^uint64(index/n)))
	pattern := r.Perm(n)[index%n]
	labels := make([]bool, goals)
	for g := range labels {
		labels[g] = pattern>>g&1 == 1
	}
	return labels
}

// labelStream sets the label blocks' PCG streams apart from the instances'
// (newRand), whose indexes stay far below 2^55.
const labelStream = 1 << 55

// chain adds a backward chain of depth rules to a new goal atom and returns
// the goal. Each link's body holds the next atom of the chain, alone, with a
// known atom ("and") or with a literal of an unsupported atom ("or"); the
// last atom is known exactly when the goal should be reachable. With
// probability cycle per link a rule from the link back to a deeper chain
// atom closes a loop, which adds no support.
func (kb *ruleBase) chain(r *rand.Rand, depth int, reachable bool, cycle float64) int {
	goal := kb.newAtom()
	links := []int{goal}
	for range depth {
		next := kb.newAtom()
		body := []literal{pos(next)}
		and := false
		switch r.IntN(3) {
		case 1:
			known := kb.newAtom()
			kb.facts = append(kb.facts, known)
			body, and = append(body, pos(known)), true
		case 2:
			l := pos(kb.newAtom())
			if r.IntN(2) == 0 {
				l = -l
			}
			body = append(body, l)
		}
		r.Shuffle(len(body), func(i, j int) { body[i], body[j] = body[j], body[i] })
		kb.rules = append(kb.rules, rule{body: body, and: and, head: links[len(links)-1]})
		links = append(links, next)
	}
	if reachable {
		kb.facts = append(kb.facts, links[len(links)-1])
	}
	for i := range len(links) - 1 {
		if r.Float64() < cycle {
			j := i + 1 + r.IntN(len(links)-1-i)
			kb.rules = append(kb.rules, rule{body: []literal{pos(links[i])}, head: links[j]})
		}
	}
	return goal
}

// distractor returns a random rule over the existing atoms, sometimes with a
// new head, with one to three distinct body atoms each negated with
// probability 0.3.
func (kb *ruleBase) distractor(r *rand.Rand) rule {
	head := r.IntN(kb.atoms)
	if r.Float64() < 0.3 {
		head = kb.newAtom()
	}
	var body []literal
	for _, a := range r.Perm(kb.atoms)[:min(kb.atoms, 1+r.IntN(3))] {
		if a == head {
			continue // a rule about its own head says nothing
		}
		l := pos(a)
		if r.Float64() < 0.3 {
			l = -l
		}
		body = append(body, l)
	}
	if len(body) == 0 {
		body = []literal{neg((head + 1) % kb.atoms)}
	}
	return rule{body: body, and: r.IntN(2) == 0, head: head}
}

// atomNames gives the atoms shuffled names A..Z, then AA, AB, …, so the
// chains do not read off in alphabetical order.
func atomNames(r *rand.Rand, n int) []string {
	names := make([]string, n)
	for i, p := range r.Perm(n) {
		if p < 26 {
			names[i] = string(rune('A' + p))
		} else {
			names[i] = string(rune('A'+p/26-1)) + string(rune('A'+p%26))
		}
	}
	return names
}

func abductionPrompt(kb *ruleBase, names []string) string {
	var b strings.Builder
	facts := make([]string, len(kb.facts))
	for i, f := range kb.facts {
		facts[i] = names[f]
	}
	fmt.Fprintf(&b, "Known facts: %s.\nRules:\n", strings.Join(facts, ", "))
	for i, ru := range kb.rules {
		lits := make([]string, len(ru.body))
		for j, l := range ru.body {
			lits[j] = names[l.atom()]
			if l < 0 {
				lits[j] = "not " + lits[j]
			}
		}
		join := " or "
		if ru.and {
			join = " and "
		}
		fmt.Fprintf(&b, "%d. (%s) => %s\n", i+1, strings.Join(lits, join), names[ru.head])
	}
	goals := make([]string, len(kb.goals))
	for i, g := range kb.goals {
		goals[i] = names[g]
	}
	b.WriteString("Read each rule as a logical implication: whenever its condition holds, its conclusion holds. ")
	b.WriteString("An atom is reachable if it is true in every situation where all known facts are true and all rules hold; otherwise it is unreachable. ")
	fmt.Fprintf(&b, "Decide for each goal whether it is reachable. Goals: %s.\n", strings.Join(goals, ", "))
	b.WriteString(formatInstructions)
	fmt.Fprintf(&b, " Write one statement per goal, in the order given, as: %s is reachable, or %s is unreachable\n", goals[0], goals[0])
	return b.String()
}
