package tasks

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// bruteForcePredictions enumerates every cycle of every length ≤ kMax and
// every start, independently of the constraint propagation of predictions,
// and returns the hidden values of the cycles that reproduce visible.
func bruteForcePredictions(visible []int64, kMax int) map[int64]bool {
	preds := map[int64]bool{}
	for L := 1; L <= kMax; L++ {
		cycle := make([]int, L) // odometer over seqOps
		for {
			x, ok := visible[0], true
			for i := 1; i < len(visible) && ok; i++ {
				x = seqOps[cycle[(i-1)%L]].apply(x)
				ok = x == visible[i]
			}
			if ok {
				preds[seqOps[cycle[(len(visible)-1)%L]].apply(x)] = true
			}
			i := 0
			for i < L && cycle[i] == len(seqOps)-1 {
				cycle[i] = 0
				i++
			}
			if i == L {
				break
			}
			cycle[i]++
		}
	}
	return preds
}

// promptSequence reads the visible terms back from an induction prompt.
func promptSequence(t *testing.T, prompt string) []int64 {
	t.Helper()
	list, _, _ := strings.Cut(strings.TrimPrefix(prompt, "The sequence "), ", ?")
	var seq []int64
	for _, f := range strings.Split(list, ", ") {
		x, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			t.Fatalf("prompt %q: %v", prompt, err)
		}
		seq = append(seq, x)
	}
	return seq
}

func TestInductionDeterminate(t *testing.T) {
	for level := 1; level <= MaxLevel; level++ {
		t.Run(fmt.Sprint("level", level), func(t *testing.T) {
			t.Parallel()
			lv := inductionLevels[level-1]
			for i := range instancesPerLevel() {
				in := mustGenerate(t, Induction{}, 7, level, i)
				seq := promptSequence(t, in.Prompt)
				if len(seq) != lv.n-1 || seq[0] < 1 || seq[0] > 5 {
					t.Fatalf("instance %d: bad visible terms %v", i, seq)
				}
				for _, x := range seq {
					if x > maxTerm || x < -maxTerm {
						t.Fatalf("instance %d: term %d over the cap", i, x)
					}
				}
				preds := bruteForcePredictions(seq, lv.k)
				if len(preds) != 1 || !preds[mustInt(t, in.Answer)] {
					t.Fatalf("instance %d: %v predicts %v, answer %s", i, seq, preds, in.Answer)
				}
			}
		})
	}
}

func mustInt(t *testing.T, s string) int64 {
	t.Helper()
	x, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestPredictionsAmbiguous(t *testing.T) {
	// 2, 4: +2 and ×2 both fit, and predict 6 and 8.
	if got := predictions([]int64{2, 4}, 1); len(got) != 2 || !got[6] || !got[8] {
		t.Errorf("predictions(2, 4) = %v, want {6, 8}", got)
	}
	if got := bruteForcePredictions([]int64{2, 4}, 1); len(got) != 2 {
		t.Errorf("bruteForcePredictions(2, 4) = %v, want 2 values", got)
	}
}

func TestInductionDeterministic(t *testing.T) {
	// Regression pins, computed once.
	pins := map[int]string{1: "48", 3: "15", 5: "117"}
	for level, want := range pins {
		a := mustGenerate(t, Induction{}, 2024, level, 3)
		if b := mustGenerate(t, Induction{}, 2024, level, 3); a != b {
			t.Errorf("level %d: regenerated instance differs", level)
		}
		if a.Answer != want {
			t.Errorf("level %d: answer %q (%s), pinned %q", level, a.Answer, strings.SplitN(a.Prompt, " starts", 2)[0], want)
		}
	}
}

// Hiding the hint keeps the terms and the answer and drops the rule
// family: the start range, the operations and the cycle bound.
func TestInductionHideHint(t *testing.T) {
	for level := 1; level <= MaxLevel; level++ {
		shown, hidden := mustGenerate(t, Induction{}, 11, level, 2), mustGenerate(t, Induction{HideHint: true}, 11, level, 2)
		if shown.Answer != hidden.Answer || fmt.Sprint(promptSequence(t, shown.Prompt)) != fmt.Sprint(promptSequence(t, hidden.Prompt)) {
			t.Errorf("level %d: %q and %q differ beyond the hint", level, shown.Prompt, hidden.Prompt)
		}
		if !strings.Contains(shown.Prompt, "operation") || strings.Contains(hidden.Prompt, "operation") || strings.Contains(hidden.Prompt, "between 1 and 5") {
			t.Errorf("level %d: hint shown in %q, hidden in %q", level, shown.Prompt, hidden.Prompt)
		}
	}
}
