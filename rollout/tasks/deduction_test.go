package tasks

import (
	"fmt"
	"strings"
	"testing"
)

// instancesPerLevel is how many instances the uniqueness and determinacy
// tests check per level. It does not shrink under -short: the proofs are
// the point of these tests, and each instance takes well under a
// millisecond.
func instancesPerLevel() int { return 1000 }

// parseFormula parses the prompt's rendering of a formula, independently of
// the generator's tree: formula = term [op term]; term = ¬term | VAR | (formula).
func parseFormula(s string) (func(assign uint64) bool, error) {
	toks := []rune(strings.ReplaceAll(s, " ", ""))
	pos := 0
	var formula, term func() (func(uint64) bool, error)
	term = func() (func(uint64) bool, error) {
		if pos >= len(toks) {
			return nil, fmt.Errorf("unexpected end of %q", s)
		}
		c := toks[pos]
		pos++
		switch {
		case c == '¬':
			f, err := term()
			if err != nil {
				return nil, err
			}
			return func(a uint64) bool { return !f(a) }, nil
		case c >= 'A' && c <= 'Z':
			v := uint(c - 'A')
			return func(a uint64) bool { return a>>v&1 == 1 }, nil
		case c == '(':
			f, err := formula()
			if err != nil {
				return nil, err
			}
			if pos >= len(toks) || toks[pos] != ')' {
				return nil, fmt.Errorf("missing ) in %q", s)
			}
			pos++
			return f, nil
		}
		return nil, fmt.Errorf("unexpected %q in %q", c, s)
	}
	formula = func() (func(uint64) bool, error) {
		l, err := term()
		if err != nil || pos >= len(toks) || toks[pos] == ')' {
			return l, err
		}
		op := toks[pos]
		pos++
		r, err := term()
		if err != nil {
			return nil, err
		}
		switch op {
		case '∧':
			return func(a uint64) bool { return l(a) && r(a) }, nil
		case '∨':
			return func(a uint64) bool { return l(a) || r(a) }, nil
		case '→':
			return func(a uint64) bool { return !l(a) || r(a) }, nil
		case '↔':
			return func(a uint64) bool { return l(a) == r(a) }, nil
		case '⊕':
			return func(a uint64) bool { return l(a) != r(a) }, nil
		}
		return nil, fmt.Errorf("unknown connective %q in %q", op, s)
	}
	f, err := formula()
	if err == nil && pos != len(toks) {
		err = fmt.Errorf("trailing text in %q", s)
	}
	return f, err
}

// promptFormulas extracts the numbered statements of a deduction prompt.
func promptFormulas(t *testing.T, prompt string) []func(uint64) bool {
	t.Helper()
	var fs []func(uint64) bool
	for _, line := range strings.Split(prompt, "\n") {
		var n int
		if _, err := fmt.Sscanf(line, "%d.", &n); err != nil {
			continue
		}
		f, err := parseFormula(line[strings.Index(line, ".")+1:])
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	return fs
}

func TestDeductionUniqueModel(t *testing.T) {
	for level := 1; level <= MaxLevel; level++ {
		t.Run(fmt.Sprint("level", level), func(t *testing.T) {
			t.Parallel()
			vars := deductionLevels[level-1].vars
			for i := range instancesPerLevel() {
				in, err := Deduction{}.Generate(7, level, i)
				if err != nil {
					t.Fatal(err)
				}
				fs := promptFormulas(t, in.Prompt)
				if len(fs) < 3 || len(fs) > 6 {
					t.Fatalf("instance %d: %d formulas, want 3..6", i, len(fs))
				}
				models := 0
				var model uint64
			assignments:
				for a := range uint64(1) << vars {
					for _, f := range fs {
						if !f(a) {
							continue assignments
						}
					}
					models++
					model = a
				}
				if models != 1 {
					t.Fatalf("instance %d: %d models, want 1\n%s", i, models, in.Prompt)
				}
				if want := assignmentAnswer(vars, model); in.Answer != want {
					t.Fatalf("instance %d: answer %q, brute force %q", i, in.Answer, want)
				}
			}
		})
	}
}

func TestDeductionDeterministic(t *testing.T) {
	// Regression pins, computed once: a change here changes every data set.
	pins := []struct {
		level  int
		answer string
	}{
		{1, "(1) A is True (2) B is False (3) C is True (4) D is True"},
		{3, "(1) A is True (2) B is False (3) C is True (4) D is False (5) E is True (6) F is True (7) G is False (8) H is False"},
		{5, "(1) A is True (2) B is True (3) C is True (4) D is False (5) E is True (6) F is True (7) G is True (8) H is False (9) I is True (10) J is True (11) K is False (12) L is True"},
	}
	for _, p := range pins {
		a, err := Deduction{}.Generate(2024, p.level, 3)
		if err != nil {
			t.Fatal(err)
		}
		// Instance 3 must not depend on instances 0..2 having been drawn.
		for i := range 3 {
			if _, err := (Deduction{}).Generate(2024, p.level, i); err != nil {
				t.Fatal(err)
			}
		}
		b, _ := Deduction{}.Generate(2024, p.level, 3)
		if a != b {
			t.Errorf("level %d: regenerated instance differs", p.level)
		}
		if a.Answer != p.answer {
			t.Errorf("level %d: answer %q, pinned %q", p.level, a.Answer, p.answer)
		}
		if a.Task != "deduction" || a.Level != p.level || a.Seed != 2024 || a.Index != 3 {
			t.Errorf("level %d: bad metadata %+v", p.level, a)
		}
	}
	if c, _ := (Deduction{}).Generate(2025, 3, 3); c.Prompt == mustGenerate(t, Deduction{}, 2024, 3, 3).Prompt {
		t.Error("different seeds gave the same puzzle")
	}
}

func mustGenerate(t *testing.T, g Generator, seed uint64, level, index int) Instance {
	t.Helper()
	in, err := g.Generate(seed, level, index)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestGenerateRejectsBadArguments(t *testing.T) {
	for _, task := range registry {
		g, err := Lookup(task.name, "aha", Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ level, index int }{{0, 0}, {MaxLevel + 1, 0}, {1, -1}} {
			if _, err := g.Generate(1, c.level, c.index); err == nil {
				t.Errorf("%s: level %d index %d accepted", task.name, c.level, c.index)
			}
		}
	}
}
