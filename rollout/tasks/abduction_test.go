package tasks

import (
	"regexp"
	"strings"
	"testing"
)

// bruteForceEntailed parses an abduction prompt and decides each goal by
// enumerating all 2^atoms assignments as bit-set truth tables, independently
// of the generator's clause form and DPLL. ok is false above maxBruteAtoms.
func bruteForceEntailed(t *testing.T, prompt string) (answer string, ok bool) {
	t.Helper()
	ids := map[string]int{}
	id := func(name string) int {
		if _, seen := ids[name]; !seen {
			ids[name] = len(ids)
		}
		return ids[name]
	}
	type parsed struct {
		lits []int // atom id, or ^id when negated
		and  bool
		head int
	}
	var facts, goals []int
	var rules []parsed
	for _, line := range strings.Split(prompt, "\n") {
		switch {
		case strings.HasPrefix(line, "Known facts: "):
			for _, f := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(line, "Known facts: "), "."), ", ") {
				facts = append(facts, id(f))
			}
		case strings.Contains(line, ") => "):
			body, head, _ := strings.Cut(line[strings.Index(line, "(")+1:], ") => ")
			p := parsed{head: id(head), and: strings.Contains(body, " and ")}
			for _, lit := range strings.Split(strings.NewReplacer(" and ", "|", " or ", "|").Replace(body), "|") {
				if name, negated := strings.CutPrefix(lit, "not "); negated {
					p.lits = append(p.lits, ^id(name))
				} else {
					p.lits = append(p.lits, id(lit))
				}
			}
			rules = append(rules, p)
		}
		if _, rest, found := strings.Cut(line, "Goals: "); found {
			list, _, _ := strings.Cut(rest, ".")
			for _, g := range strings.Split(list, ", ") {
				goals = append(goals, id(g))
			}
		}
	}
	n := len(ids)
	if n > maxBruteAtoms {
		return "", false
	}
	// Word w of an atom's truth table holds assignments 64w … 64w+63: the
	// low six atoms follow fixed bit patterns, the others are constant
	// across a word. Going word by word keeps the 2^20-assignment case fast
	// and needs no tables.
	lowPatterns := [6]uint64{0xAAAAAAAAAAAAAAAA, 0xCCCCCCCCCCCCCCCC, 0xF0F0F0F0F0F0F0F0, 0xFF00FF00FF00FF00, 0xFFFF0000FFFF0000, 0xFFFFFFFF00000000}
	atomWord := func(atom, w int) uint64 {
		if atom < 6 {
			return lowPatterns[atom]
		}
		return -(uint64(w) >> (atom - 6) & 1)
	}
	words := max(1, (1<<n)/64)
	full := ^uint64(0)
	if n < 6 {
		full = 1<<(1<<n) - 1
	}
	entailed := make([]bool, len(goals))
	for g := range entailed {
		entailed[g] = true
	}
	for w := range words {
		kb := full
		for _, f := range facts {
			kb &= atomWord(f, w)
		}
		for _, p := range rules {
			var body uint64
			for k, l := range p.lits {
				var v uint64
				if l >= 0 {
					v = atomWord(l, w)
				} else {
					v = ^atomWord(^l, w)
				}
				switch {
				case k == 0:
					body = v
				case p.and:
					body &= v
				default:
					body |= v
				}
			}
			kb &^= body &^ atomWord(p.head, w) // keep the models where body → head
		}
		for g, goal := range goals {
			entailed[g] = entailed[g] && kb&^atomWord(goal, w) == 0
		}
	}
	names := map[int]string{}
	for name, i := range ids {
		names[i] = name
	}
	var parts []string
	for i, g := range goals {
		if entailed[i] {
			parts = append(parts, names[g]+" is reachable")
		} else {
			parts = append(parts, names[g]+" is unreachable")
		}
	}
	return strings.Join(parts, ", "), true
}

func TestAbductionMatchesBruteForce(t *testing.T) {
	checked := make([]int, MaxLevel+1)
	reachable := 0
	for level := 1; level <= MaxLevel; level++ {
		for i := range instancesPerLevel() {
			in := mustGenerate(t, Abduction{}, 7, level, i)
			reachable += strings.Count(in.Answer, " is reachable")
			if got, ok := bruteForceEntailed(t, in.Prompt); ok {
				checked[level]++
				if got != in.Answer {
					t.Fatalf("level %d instance %d: answer %q, brute force %q\n%s", level, i, in.Answer, got, in.Prompt)
				}
			}
		}
	}
	if checked[1]+checked[2] < instancesPerLevel() {
		t.Errorf("only %v instances per level had few enough atoms", checked)
	}
	t.Logf("brute-force checked per level: %v; reachable goals: %d", checked[1:], reachable)
	if reachable == 0 {
		t.Error("no reachable goal generated")
	}
}

func TestAbductionDeterministic(t *testing.T) {
	// Regression pins, computed once.
	pins := map[int]string{1: "F is unreachable", 3: "D is reachable, L is reachable", 5: "A is unreachable, AR is reachable, AI is reachable"}
	for level, want := range pins {
		a := mustGenerate(t, Abduction{}, 2024, level, 3)
		if b := mustGenerate(t, Abduction{}, 2024, level, 3); a != b {
			t.Errorf("level %d: regenerated instance differs", level)
		}
		if a.Answer != want {
			t.Errorf("level %d: answer %q, pinned %q", level, a.Answer, want)
		}
	}
}

// maxBruteAtoms bounds the brute-force cross-check: every instance of up
// to 20 atoms (2^20 assignments) is checked.
const maxBruteAtoms = 20

// labelPattern reads the reachability judgements of an answer, in goal
// order, as bits: goal g reachable sets bit g.
func labelPattern(answer string) (pattern, goals int) {
	for _, m := range judgementRE.FindAllString(answer, -1) {
		if m == "reachable" {
			pattern |= 1 << goals
		}
		goals++
	}
	return pattern, goals
}

var judgementRE = regexp.MustCompile(`\b(?:un)?reachable\b`)

// checkNoShortcut asserts that over 1,000 instances a level no constant
// answer (all reachable, all unreachable, or any other fixed pattern of
// judgements) is right more often than the chance rate 2^−goals.
func checkNoShortcut(t *testing.T, gen Generator, levels int) {
	for level := 1; level <= levels; level++ {
		counts := map[int]int{}
		goals := 0
		const n = 1000
		for i := range n {
			p, g := labelPattern(mustGenerate(t, gen, 7, level, i).Answer)
			if goals != 0 && g != goals {
				t.Fatalf("level %d: %d goals, then %d", level, goals, g)
			}
			counts[p], goals = counts[p]+1, g
		}
		chance := float64(n) / float64(int(1)<<goals)
		for p, c := range counts {
			if float64(c) > chance {
				t.Errorf("level %d: the constant answer %0*b (bit g: goal g reachable) is right on %d of %d puzzles, above the chance rate %.0f", level, goals, p, c, n, chance)
			}
		}
		t.Logf("level %d: %d goals; all reachable right on %d, all unreachable on %d of %d (chance %.0f)", level, goals, counts[1<<goals-1], counts[0], n, chance)
	}
}

func TestAbductionNoShortcut(t *testing.T) { checkNoShortcut(t, Abduction{}, MaxLevel) }
