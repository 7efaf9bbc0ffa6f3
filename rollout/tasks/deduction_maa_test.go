package tasks

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/aha-inference/aha/rollout/data"
)

// maaDeductionFigures are measured on Meta-Ability-Alignment's released
// deduction files, train.parquet and test.parquet of each level together
// (1,000 puzzles a level; there is no level 5): the share in percent of
// puzzles with 3, 4, 5 and 6 formulas, the mean number of variable
// occurrences per formula and its mean length in characters.
// TestMAADeductionFigures recomputes them from the files.
var maaDeductionFigures = map[int]formulaFigures{
	1: {shares: [4]float64{10.0, 24.8, 35.9, 29.3}, leaves: 1.806, runes: 7.13},
	2: {shares: [4]float64{2.5, 11.2, 34.3, 52.0}, leaves: 3.271, runes: 17.56},
	3: {shares: [4]float64{0.8, 8.1, 29.8, 61.3}, leaves: 5.871, runes: 36.08},
	4: {shares: [4]float64{0.7, 7.1, 27.2, 65.0}, leaves: 10.596, runes: 69.73},
}

type formulaFigures struct {
	shares        [4]float64 // percent of puzzles with 3..6 formulas
	leaves, runes float64    // per formula
}

// measureFormulas reads the "  - formula" lines of prompts.
func measureFormulas(t *testing.T, prompts []string) formulaFigures {
	var fig formulaFigures
	var formulas, leaves, runes int
	for _, p := range prompts {
		n := 0
		for _, line := range strings.Split(p, "\n") {
			f, ok := strings.CutPrefix(line, "  - ")
			if !ok {
				continue
			}
			n++
			runes += len([]rune(f))
			for _, r := range f {
				if unicode.IsUpper(r) {
					leaves++
				}
			}
		}
		if n < minFormulas || n > maxFormulas {
			t.Fatalf("%d formulas in %q", n, p)
		}
		fig.shares[n-minFormulas] += 100 / float64(len(prompts))
		formulas += n
	}
	fig.leaves, fig.runes = float64(leaves)/float64(formulas), float64(runes)/float64(formulas)
	return fig
}

// The maa style's distributions match the released data's: formula-count
// shares within ±5 points, mean formula size within ±15%, over 1,000
// puzzles a level.
func TestMAADeductionDistribution(t *testing.T) {
	for level := 1; level <= 4; level++ {
		if testing.Short() && level > 2 {
			break
		}
		prompts := make([]string, 1000)
		for i := range prompts {
			in, err := DeductionMAA{}.Generate(7, level, i)
			if err != nil {
				t.Fatal(err)
			}
			prompts[i] = in.Prompt
		}
		got, want := measureFormulas(t, prompts), maaDeductionFigures[level]
		for k := range got.shares {
			if math.Abs(got.shares[k]-want.shares[k]) > 5 {
				t.Errorf("level %d: %d formulas in %.1f%% of puzzles, released %.1f%%", level, k+minFormulas, got.shares[k], want.shares[k])
			}
		}
		if math.Abs(got.leaves/want.leaves-1) > 0.15 || math.Abs(got.runes/want.runes-1) > 0.15 {
			t.Errorf("level %d: formulas of %.2f variables and %.1f characters, released %.2f and %.1f", level, got.leaves, got.runes, want.leaves, want.runes)
		}
		t.Logf("level %d: shares %.1f, %.2f variables, %.1f characters a formula", level, got.shares, got.leaves, got.runes)
	}
}

func TestMAADeductionLayout(t *testing.T) {
	in, err := DeductionMAA{}.Generate(1, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	// The released system message, as in every released deduction row.
	const system = "You are a helpful assistant. The assistant first thinks about the reasoning process in the mind and then provides the user with the final answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e. <think> reasoning process </think><answer> final answer </answer>.\nNow the user has a logical formula problem. After thorough thinking, once you reach a conclusion, please list the truth value of each variable within <answer>...</answer> to satisfy the formulas, for example:\n<answer>\n(1) A is true\n(2) B is false\n...</answer>.\n"
	if in.System != system {
		t.Errorf("system message %q", in.System)
	}
	if !strings.HasPrefix(in.Prompt, "Below are some nested formulas:\n  - ") || !strings.HasSuffix(in.Prompt, "\nPlease list the truth value of each variable\n\n") {
		t.Errorf("prompt %q", in.Prompt)
	}
	lines := strings.Split(strings.TrimSuffix(in.Answer, "\n"), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[5], "(6) F is ") {
		t.Errorf("answer %q", in.Answer)
	}
}

// TestMAADeductionFigures recomputes maaDeductionFigures from the released
// files, which are not in the shared data: fetch
// github.com/zhiyuanhubj/Meta-Ability-Alignment and run
//
//	AHA_MAA_DATA=path/to/Training/dataset go test ./rollout/tasks -run MAADeductionFigures
func TestMAADeductionFigures(t *testing.T) {
	dir := os.Getenv("AHA_MAA_DATA")
	if dir == "" {
		t.Skip("AHA_MAA_DATA is unset: give it the released Training/dataset folder of Meta-Ability-Alignment")
	}
	for level, want := range maaDeductionFigures {
		var prompts []string
		for _, split := range []string{"train", "test"} {
			problems, err := data.Read(filepath.Join(dir, "Deduction", strconv.Itoa(level), split+".parquet"), data.Fields{})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				prompts = append(prompts, p.Messages[0]["content"].(string))
			}
		}
		got := measureFormulas(t, prompts)
		for k := range got.shares {
			got.shares[k] = math.Round(got.shares[k]*10) / 10
		}
		got.leaves, got.runes = math.Round(got.leaves*1000)/1000, math.Round(got.runes*100)/100
		if got != want {
			t.Errorf("level %d: measured %+v, committed %+v", level, got, want)
		}
	}
}

func TestLookup(t *testing.T) {
	cases := []struct {
		task, style string
		ok          bool
	}{
		{"deduction", "aha", true}, {"abduction", "aha", true}, {"deduction", "maa", true},
		{"induction", "maa", true}, {"abduction", "maa", true}, {"deduction", "paper", false}, {"riddle", "aha", false},
	}
	for _, c := range cases {
		if _, err := Lookup(c.task, c.style, Options{}); (err == nil) != c.ok {
			t.Errorf("Lookup(%q, %q): %v", c.task, c.style, err)
		}
	}
}

// With UnsatShare, about that share of puzzles have no model, checked by
// evaluating the prompt's formulas on every assignment, the rest exactly
// one; every prompt says how to answer an unsatisfiable set.
func TestMAADeductionUnsatisfiable(t *testing.T) {
	for level := 1; level <= 2; level++ {
		unsat := 0
		const n = 400
		for i := range n {
			in := mustGenerate(t, DeductionMAA{UnsatShare: 0.3}, 5, level, i)
			if !strings.Contains(in.Prompt, "\nIf no assignment satisfies the formulas, answer: No satisfying assignment exists.\n\n") {
				t.Fatalf("prompt %q", in.Prompt)
			}
			var fs []func(uint64) bool
			for _, line := range strings.Split(in.Prompt, "\n") {
				if f, ok := strings.CutPrefix(line, "  - "); ok {
					eval, err := parseFormula(f)
					if err != nil {
						t.Fatal(err)
					}
					fs = append(fs, eval)
				}
			}
			models := 0
			for m := range uint64(1) << deductionLevels[level-1].vars {
				all := true
				for _, f := range fs {
					all = all && f(m)
				}
				if all {
					models++
				}
			}
			switch {
			case in.Answer == MAAUnsatisfiable && models == 0:
				unsat++
			case in.Answer != MAAUnsatisfiable && models == 1:
			default:
				t.Fatalf("level %d instance %d: %d models, answer %q", level, i, models, in.Answer)
			}
		}
		if share := float64(unsat) / n; math.Abs(share-0.3) > 0.07 {
			t.Errorf("level %d: %.2f of puzzles unsatisfiable, want 0.3", level, share)
		}
	}
	// Without the option the data set is the one it always was.
	if a, b := mustGenerate(t, DeductionMAA{}, 5, 1, 3), mustGenerate(t, DeductionMAA{UnsatShare: 0}, 5, 1, 3); a != b {
		t.Error("UnsatShare 0 changed an instance")
	}
}

func TestLookupOptions(t *testing.T) {
	cases := []struct {
		task, style string
		opt         Options
		want        Generator // nil: an error
	}{
		{"induction", "aha", Options{}, Induction{}},
		{"induction", "aha", Options{Hint: "show"}, Induction{}},
		{"induction", "aha", Options{Hint: "hide"}, Induction{HideHint: true}},
		{"induction", "maa", Options{}, InductionMAA{}},
		{"induction", "maa", Options{Hint: "show"}, InductionMAA{Hint: true}},
		{"induction", "maa", Options{Hint: "yes"}, nil},
		{"deduction", "maa", Options{UnsatShare: 0.2}, DeductionMAA{UnsatShare: 0.2}},
		{"deduction", "maa", Options{UnsatShare: 1.5}, nil},
		{"deduction", "aha", Options{UnsatShare: 0.2}, nil},
		{"abduction", "aha", Options{UnsatShare: 0.2}, Abduction{}},
	}
	for _, c := range cases {
		got, err := Lookup(c.task, c.style, c.opt)
		if (err == nil) != (c.want != nil) || (err == nil && got != c.want) {
			t.Errorf("Lookup(%q, %q, %+v) = %#v, %v; want %#v", c.task, c.style, c.opt, got, err, c.want)
		}
	}
}
