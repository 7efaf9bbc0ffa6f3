package tasks

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aha-inference/aha/rollout/data"
	"github.com/aha-inference/aha/rollout/verify"
)

// maaInductionFigures are measured on Meta-Ability-Alignment's released
// induction files, train.parquet and test.parquet of each level together
// (1,000 puzzles a level), by measureSequences: the share in percent of
// puzzles with 5 … 11 terms (the "?" included), of each rule class
// (classifySequence, on the terms with the answer filled in), and of
// puzzles worded "with a missing term". TestMAAInductionFigures recomputes
// them from the files.
var maaInductionFigures = map[int]sequenceFigures{
	1: {terms: [7]float64{27.5, 28.4, 27.2, 16.9, 0, 0, 0}, classes: [numClasses]float64{32.4, 35.3, 32.3, 0, 0, 0, 0}, missing: 0},
	2: {terms: [7]float64{0, 26.9, 26.4, 30.6, 16.1, 0, 0}, classes: [numClasses]float64{46.3, 0, 30.0, 0, 0, 4.4, 19.3}, missing: 38.9},
	3: {terms: [7]float64{0, 0, 20.7, 19.3, 21.0, 20.1, 18.9}, classes: [numClasses]float64{1.2, 0.5, 0, 98.3, 0, 0, 0}, missing: 0},
	4: {terms: [7]float64{0, 0, 21.5, 18.9, 18.4, 21.6, 19.6}, classes: [numClasses]float64{0.1, 0, 1.1, 0, 98.8, 0, 0}, missing: 0},
	5: {terms: [7]float64{0, 0, 20.3, 19.4, 20.4, 19.2, 20.7}, classes: [numClasses]float64{0, 0, 0, 0, 0.4, 99.6, 0}, missing: 0},
}

// Rule classes of classifySequence.
const (
	classDifference = iota // a constant difference
	classRatio             // a constant integer ratio
	classCycle2            // the shortest cycle of aha's operations that fits has 2
	classCycle3
	classCycle4
	classCycle5
	classOther // no cycle of at most 5 fits
	numClasses
)

type sequenceFigures struct {
	terms   [7]float64 // percent of puzzles with 5..11 terms
	classes [numClasses]float64
	missing float64 // percent worded "with a missing term"
}

// classifySequence sorts complete terms into a rule class, independently
// of how they were generated.
func classifySequence(seq []int64) int {
	constant := func(f func(a, b int64) (int64, bool)) bool {
		first, ok := f(seq[0], seq[1])
		for i := 1; ok && i+1 < len(seq); i++ {
			var v int64
			v, ok = f(seq[i], seq[i+1])
			ok = ok && v == first
		}
		return ok
	}
	switch {
	case constant(func(a, b int64) (int64, bool) { return b - a, true }):
		return classDifference
	case constant(func(a, b int64) (int64, bool) { return b / max(a, 1), a > 0 && b%a == 0 }):
		return classRatio
	}
	for L := 2; L <= 5; L++ {
		if fitsCycle(seq, L) {
			return classCycle2 + L - 2
		}
	}
	return classOther
}

// fitsCycle reports whether a cycle of L of aha's operations produces seq.
func fitsCycle(seq []int64, L int) bool {
	for class := range L {
		fits := false
		for _, o := range seqOps {
			ok := true
			for t := class; t+1 < len(seq); t += L {
				ok = ok && o.apply(seq[t]) == seq[t+1]
			}
			fits = fits || ok
		}
		if !fits {
			return false
		}
	}
	return true
}

// parseMAASequence reads the terms of a released-style prompt, with the
// hidden one filled in from the answer, and whether the prompt says a
// term is missing.
func parseMAASequence(t *testing.T, prompt, answer string) ([]int64, bool) {
	t.Helper()
	_, rest, ok := strings.Cut(prompt, "Given the following sequence")
	list, _, _ := strings.Cut(rest, "]")
	_, list, ok2 := strings.Cut(list, "[")
	if !ok || !ok2 {
		t.Fatalf("no sequence in %q", prompt)
	}
	var seq []int64
	for _, f := range strings.Split(list, ", ") {
		f = strings.Trim(f, "'")
		if f == "?" {
			f = answer
		}
		x, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatalf("prompt %q: %v", prompt, err)
		}
		seq = append(seq, x)
	}
	return seq, strings.HasPrefix(rest, " with a missing term,\n")
}

func measureSequences(t *testing.T, prompts, answers []string) sequenceFigures {
	var fig sequenceFigures
	share := 100 / float64(len(prompts))
	for i, p := range prompts {
		seq, missing := parseMAASequence(t, p, answers[i])
		if len(seq) < 5 || len(seq) > 11 {
			t.Fatalf("%d terms in %q", len(seq), p)
		}
		fig.terms[len(seq)-5] += share
		fig.classes[classifySequence(seq)] += share
		if missing {
			fig.missing += share
		}
	}
	return fig
}

// The maa style's distributions match the released files': every share of
// term counts, rule classes and hidden middle terms within ±5 points, over
// 1,000 puzzles a level.
func TestMAAInductionDistribution(t *testing.T) {
	for level := 1; level <= MaxLevel; level++ {
		var prompts, answers []string
		for i := range 1000 {
			in := mustGenerate(t, InductionMAA{}, 7, level, i)
			prompts, answers = append(prompts, in.Prompt), append(answers, in.Answer)
		}
		got, want := measureSequences(t, prompts, answers), maaInductionFigures[level]
		check := func(what string, got, want float64) {
			if math.Abs(got-want) > 5 {
				t.Errorf("level %d: %s in %.1f%% of puzzles, released %.1f%%", level, what, got, want)
			}
		}
		for k := range got.terms {
			check(strconv.Itoa(k+5)+" terms", got.terms[k], want.terms[k])
		}
		for c := range got.classes {
			check("rule class "+strconv.Itoa(c), got.classes[c], want.classes[c])
		}
		check("a missing term", got.missing, want.missing)
		t.Logf("level %d: terms %.1f, classes %.1f, missing %.1f", level, got.terms, got.classes, got.missing)
	}
}

func TestMAAInductionLayout(t *testing.T) {
	// The released system message, as in every released induction row.
	const system = "You are a helpful assistant. The assistant first thinks about the reasoning process in the mind and then provides the user with the final answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e. <think> reasoning process </think><answer> final answer </answer>.\nNow the user has a numerical pattern recognition question. After thorough thinking, once you reach a conclusion, please give the value at the question mark within <answer>...</answer> to meet the pattern of squence, for example:\n<answer>10</answer>.\n"
	cases := []struct {
		seq     []int64
		hidden  int
		fam     maaFamily
		hint    bool
		want    string
		comment string
	}{
		{[]int64{1, -1, 2, 0, 3}, 4, maaFamily{kind: famAlternating}, false,
			"Given the following sequence,\n['1', '-1', '2', '0', '?']\nWhat is the value at the question mark?\n", "the first released row"},
		{[]int64{4, 8, 12, 16, 20, 24, 28}, 4, maaFamily{kind: famMissing}, false,
			"Given the following sequence with a missing term,\n[4, 8, 12, 16, '?', 24, 28]\nWhat is the value at the question mark?\n", "the second released row of level 2"},
		{[]int64{1, 2, 4, 8}, 3, maaFamily{kind: famCycle, steps: 3}, true,
			"Given the following sequence,\n['1', '2', '4', '?']\nHint: a fixed cycle of 3 operations (add a number, subtract a number or multiply by a number) repeats.\nWhat is the value at the question mark?\n", "a hint"},
	}
	for _, c := range cases {
		if got := maaInductionPrompt(c.seq, c.hidden, c.fam, c.hint); got != c.want {
			t.Errorf("%s: prompt %q, want %q", c.comment, got, c.want)
		}
	}
	for level := 1; level <= MaxLevel; level++ {
		for i := range 200 {
			in := mustGenerate(t, InductionMAA{}, 3, level, i)
			if in.System != system {
				t.Fatalf("system message %q", in.System)
			}
			// The instance's answer, fed back, scores +3 under the
			// reference reward, as in the released rows' rendering.
			text := "<|im_start|>user\n" + in.Prompt + "<|im_end|>\n<|im_start|>assistant\n<think>\n…</think>\n<answer>" + in.Answer + "</answer>"
			res, err := verify.MAA(text, in.Answer, verify.DefaultOptions())
			if err != nil || res.Reward != 3 {
				t.Fatalf("level %d instance %d: answer %q scores %v (%v)", level, i, in.Answer, res.Reward, err)
			}
			if hinted := mustGenerate(t, InductionMAA{Hint: true}, 3, level, i); hinted.Answer != in.Answer || !strings.Contains(hinted.Prompt, "\nHint: ") {
				t.Fatalf("level %d instance %d: hinted %q, %q", level, i, hinted.Prompt, hinted.Answer)
			}
		}
	}
}

// TestMAAInductionFigures recomputes maaInductionFigures from the released
// files, which are not in the shared data: fetch
// github.com/zhiyuanhubj/Meta-Ability-Alignment and run
//
//	AHA_MAA_DATA=path/to/Training/dataset go test ./rollout/tasks -run MAAInductionFigures
func TestMAAInductionFigures(t *testing.T) {
	dir := os.Getenv("AHA_MAA_DATA")
	if dir == "" {
		t.Skip("AHA_MAA_DATA is unset: give it the released Training/dataset folder of Meta-Ability-Alignment")
	}
	round := func(x float64) float64 { return math.Round(x*10) / 10 }
	for level, want := range maaInductionFigures {
		var prompts, answers []string
		for _, split := range []string{"train", "test"} {
			problems, err := data.Read(filepath.Join(dir, "Induction", strconv.Itoa(level), split+".parquet"), data.Fields{})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				prompts, answers = append(prompts, p.Messages[0]["content"].(string)), append(answers, p.Answer)
			}
		}
		got := measureSequences(t, prompts, answers)
		for k := range got.terms {
			got.terms[k] = round(got.terms[k])
		}
		for c := range got.classes {
			got.classes[c] = round(got.classes[c])
		}
		got.missing = round(got.missing)
		if got != want {
			t.Errorf("level %d: measured %+v, committed %+v", level, got, want)
		}
	}
}
