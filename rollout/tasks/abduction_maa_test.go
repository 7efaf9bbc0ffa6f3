package tasks

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aha-inference/aha/rollout/data"
)

// maaAbductionFigures are measured on Meta-Ability-Alignment's released
// abduction files, train.parquet and test.parquet of each level together
// (2,000 puzzles a level): the mean number of premises, and the share of
// puzzles (in percent) whose reachable goals are exactly the goals listed
// among the known atoms. Every released puzzle has three goals, one of them
// reachable. TestMAAAbductionFigures recomputes them from the files.
var maaAbductionFigures = map[int]struct{ premises, knownIsReachable float64 }{
	1: {5.98, 100}, 2: {8.93, 100}, 3: {12.97, 100}, 4: {16.93, 100}, 5: {20.92, 100},
}

// abductionLists reads the premises, known atoms and goals of a released
// puzzle text.
func abductionLists(t *testing.T, prompt string) (premises, known, goals []string) {
	t.Helper()
	list := func(line, prefix string) []string {
		s, ok := strings.CutPrefix(line, prefix+"['")
		if !ok {
			t.Fatalf("no %s list in %q", prefix, prompt)
		}
		return strings.Split(strings.TrimSuffix(s, "']"), "', '")
	}
	lines := strings.Split(prompt, "\n")
	if len(lines) < 4 {
		t.Fatalf("prompt %q", prompt)
	}
	return list(lines[0], "premises: "), list(lines[1], "known_atoms: "), list(lines[2], "goals: ")
}

// abductionFigures measures puzzles: the mean premise count and the share
// of puzzles whose reachable goals are exactly the known ones.
func abductionFigures(t *testing.T, prompts, answers []string) (premises, knownIsReachable float64) {
	for i, p := range prompts {
		prem, known, goals := abductionLists(t, p)
		premises += float64(len(prem)) / float64(len(prompts))
		pattern, n := labelPattern(answers[i])
		if n != len(goals) || n != maaGoals {
			t.Fatalf("%d goals and %d judgements in %q", len(goals), n, p)
		}
		same := true
		for g, goal := range goals {
			isKnown := strings.Contains(","+strings.Join(known, ",")+",", ","+goal+",")
			same = same && isKnown == (pattern>>g&1 == 1)
		}
		if same {
			knownIsReachable += 100 / float64(len(prompts))
		}
	}
	return premises, knownIsReachable
}

// The maa style's puzzles have the released premise counts (mean within
// ±5%) and three goals; unlike the released ones, no goal is a known atom,
// and no constant answer beats the chance rate.
func TestMAAAbductionDistribution(t *testing.T) {
	for level := 1; level <= MaxLevel; level++ {
		prompts, answers := make([]string, 1000), make([]string, 1000)
		for i := range prompts {
			in := mustGenerate(t, AbductionMAA{}, 7, level, i)
			prompts[i], answers[i] = in.Prompt, in.Answer
		}
		premises, knownIsReachable := abductionFigures(t, prompts, answers)
		want := maaAbductionFigures[level]
		if math.Abs(premises/want.premises-1) > 0.05 {
			t.Errorf("level %d: %.2f premises a puzzle, released %.2f", level, premises, want.premises)
		}
		for _, p := range prompts {
			_, known, goals := abductionLists(t, p)
			for _, g := range goals {
				for _, k := range known {
					if g == k {
						t.Fatalf("level %d: goal %s is a known atom in %q", level, g, p)
					}
				}
			}
		}
		t.Logf("level %d: %.2f premises; reachable goals are the known ones in %.1f%% (only where none is reachable)", level, premises, knownIsReachable)
	}
	checkNoShortcut(t, AbductionMAA{}, MaxLevel)
}

func TestMAAAbductionLayout(t *testing.T) {
	in := mustGenerate(t, AbductionMAA{}, 1, 2, 3)
	const system = "You are a helpful assistant. The assistant first thinks about the reasoning process in the mind and then provides the user with the final answer. The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e. <think> reasoning process </think><answer> final answer </answer>.\nNow the user has a graph analysis problem. After thorough thinking, once you reach a conclusion, please list the reachable judgement of each goal within <answer>...</answer> to satisfy the formulas, for example:\n<answer>\n(1) A is reachable\n(2) B is unreachable\n...</answer>.\n"
	if in.System != system {
		t.Errorf("system message %q", in.System)
	}
	if !strings.HasPrefix(in.Prompt, "premises: ['(") || !strings.HasSuffix(in.Prompt, "\nFor each goal, first assume it is true and determine what conditions must be satisfied. Identify which premises directly lead to these goals, then trace back what must be established to satisfy those premises. Finally, check whether the known atoms can lead to these conditions") {
		t.Errorf("prompt %q", in.Prompt)
	}
	if lines := strings.Split(in.Answer, "\n"); len(lines) != 3 || !strings.HasPrefix(lines[2], "(3) ") {
		t.Errorf("answer %q", in.Answer)
	}
	cases := []struct {
		ru   rule
		want string
	}{
		{rule{body: []literal{pos(0)}, head: 1}, "A"},
		{rule{body: []literal{neg(0)}, head: 1}, "(NOT A)"},
		{rule{body: []literal{pos(0), neg(2)}, and: true, head: 1}, "(A AND (NOT C))"},
		{rule{body: []literal{neg(0), pos(1), pos(2)}, head: 1}, "(((NOT A) OR B) OR C)"},
	}
	for _, c := range cases {
		if got := maaBody(c.ru, []string{"A", "B", "C"}); got != c.want {
			t.Errorf("body %v: %q, want %q", c.ru, got, c.want)
		}
	}
}

// TestMAAAbductionFigures recomputes maaAbductionFigures from the released
// files, which are not in the shared data: fetch
// github.com/zhiyuanhubj/Meta-Ability-Alignment and run
//
//	AHA_MAA_DATA=path/to/Training/dataset go test ./rollout/tasks -run MAAAbductionFigures
func TestMAAAbductionFigures(t *testing.T) {
	dir := os.Getenv("AHA_MAA_DATA")
	if dir == "" {
		t.Skip("AHA_MAA_DATA is unset: give it the released Training/dataset folder of Meta-Ability-Alignment")
	}
	for level, want := range maaAbductionFigures {
		var prompts, answers []string
		for _, split := range []string{"train", "test"} {
			problems, err := data.Read(filepath.Join(dir, "Abduction", strconv.Itoa(level), split+".parquet"), data.Fields{})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range problems {
				text := p.Messages[0]["content"].(string)
				_, user, _ := strings.Cut(text, "<|im_start|>user\n")
				user, _, _ = strings.Cut(user, "\n<|im_end|>")
				prompts, answers = append(prompts, user), append(answers, p.Answer)
			}
		}
		premises, knownIsReachable := abductionFigures(t, prompts, answers)
		if got := math.Round(premises*100) / 100; got != want.premises || math.Round(knownIsReachable*10)/10 != want.knownIsReachable {
			t.Errorf("level %d: measured %.2f premises, %.1f%% reachable iff known; committed %+v", level, premises, knownIsReachable, want)
		}
	}
}
