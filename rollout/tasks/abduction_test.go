package tasks

import (
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
	ts := newTables(n)
	lit := func(l int) truthTable { // a fresh copy: the caller modifies it
		out := make(truthTable, len(ts.full))
		for i := range out {
			if l >= 0 {
				out[i] = ts.vars[l][i]
			} else {
				out[i] = ^ts.vars[^l][i] & ts.full[i]
			}
		}
		return out
	}
	kb := append(truthTable(nil), ts.full...)
	for _, f := range facts {
		for i := range kb {
			kb[i] &= ts.vars[f][i]
		}
	}
	for _, p := range rules {
		body := lit(p.lits[0])
		for _, l := range p.lits[1:] {
			other := lit(l)
			for i := range body {
				if p.and {
					body[i] &= other[i]
				} else {
					body[i] |= other[i]
				}
			}
		}
		for i := range kb { // keep the models where body → head
			kb[i] &^= body[i] &^ ts.vars[p.head][i]
		}
	}
	names := map[int]string{}
	for name, i := range ids {
		names[i] = name
	}
	var parts []string
	for _, g := range goals {
		entailed := true
		for i := range kb {
			entailed = entailed && kb[i]&^ts.vars[g][i] == 0
		}
		if entailed {
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
	pins := map[int]string{1: "D is reachable", 3: "S is unreachable, J is reachable", 5: "W is reachable, L is reachable, AI is reachable"}
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

// maxBruteAtoms bounds the brute-force cross-check: 2^16 assignments keep
// the test fast, and levels 1 and 2 stay under it.
const maxBruteAtoms = 16
