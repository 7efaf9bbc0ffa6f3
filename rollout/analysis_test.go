package rollout

import (
	"math"
	"reflect"
	"testing"

	"github.com/aha-inference/aha/rollout/verify"
)

// recs makes records: verdicts[p] lists prompt p's samples ('c' correct,
// 'w' wrong, 'f' format error).
func recs(task string, level int, verdicts ...string) []Record {
	names := map[byte]verify.Verdict{'c': verify.Correct, 'w': verify.Wrong, 'f': verify.FormatError}
	var out []Record
	for p, vs := range verdicts {
		for j := range len(vs) {
			r := Record{PromptID: p, SampleIndex: j, Task: task, Level: level, Verdict: names[vs[j]], Answer: "a",
				Completion: string(rune('A'+p)) + string(rune('0'+j)), CompletionTokenIDs: make([]int, j+1), FinishReason: "length"}
			if r.Correct() {
				r.Reward, r.FinishReason = 3, "stop"
			}
			out = append(out, r)
		}
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 }

func TestSummarize(t *testing.T) {
	rs := append(recs("induction", 1, "cw", "ww"), recs("deduction", 2, "ccww", "cwww", "wwww")...)
	groups := Summarize(rs)
	if len(groups) != 3 || groups[0].Task != "deduction" || groups[1].Task != "induction" || groups[2].Task != "all" {
		t.Fatalf("groups %+v", groups)
	}
	d := groups[0]
	// pass@1 = mean of 2/4, 1/4, 0; pass@2 = mean of 1−C(2,2)/C(4,2), 1−C(3,2)/C(4,2), 0.
	want := []float64{0.25, (5.0/6 + 0.5) / 3, (1 + 0.75) / 3, 2.0 / 3}
	if d.Problems != 3 || d.Samples != 12 || len(d.PassAtK) != 4 {
		t.Fatalf("deduction %+v", d)
	}
	for k, w := range want {
		if !near(d.PassAtK[k], w) {
			t.Errorf("pass@%d = %v, want %v", k+1, d.PassAtK[k], w)
		}
	}
	if !near(d.MeanReward, 3*3/12.0) || !near(d.MeanLength, 2.5) || d.MaxLength != 4 ||
		d.FinishReasons["stop"] != 3 || d.FinishReasons["length"] != 9 || d.Verdicts["wrong"] != 9 {
		t.Errorf("deduction %+v", d)
	}
	// The total's pass@k stops at the fewest samples of any problem.
	if all := groups[2]; all.Samples != 16 || all.Problems != 5 || len(all.PassAtK) != 2 {
		t.Errorf("all %+v", all)
	}
	if one := Summarize(recs("abduction", 3, "c")); len(one) != 1 || one[0].PassAtK[0] != 1 {
		t.Errorf("one group: %+v", one)
	}
}

// TestLevels covers every rule of the staged-RL paper and its boundaries.
// Ladders are (1.5B, 7B, 32B); draw 0.9 is outside the default L3 share,
// 0.1 inside it.
func TestLevels(t *testing.T) {
	const out, in = 0.9, 0.1
	for _, c := range []struct {
		name      string
		ladder    []float64
		filter    float64
		hasFilter bool
		draw      float64
		want      []string
		dropped   bool
	}{
		{"L1: the smallest partly solves it", []float64{0.5, 1, 1}, 0, false, out, []string{L1}, false},
		{"L1 boundary: 1 exactly is not partly", []float64{1, 1, 1}, 0, false, out, nil, false},
		{"L1 boundary: just under 1", []float64{0.999, 1, 1}, 0, false, out, []string{L1}, false},
		{"L1 boundary: just over 0", []float64{0.001, 1, 1}, 0, false, out, []string{L1}, false},
		{"L2 branch 1: smallest 0, next sometimes", []float64{0, 0.25, 1}, 0, false, out, []string{L2}, false},
		{"L2 branch 1: smallest 0, next always", []float64{0, 1, 1}, 0, false, out, []string{L2}, false},
		{"L2 branch 1 boundary: next 0 too", []float64{0, 0, 1}, 0, false, out, nil, false},
		{"L2 branch 2 overlaps L1: both partly", []float64{0.5, 0.75, 1}, 0, false, out, []string{L1, L2}, false},
		{"L2 branch 2 boundary: next always", []float64{0.5, 1, 1}, 0, false, out, []string{L1}, false},
		{"L2 branch 2 boundary: next never", []float64{0.5, 0, 1}, 0, false, out, []string{L1}, false},
		{"L3: the largest never solves it", []float64{0, 0, 0}, 0, false, out, []string{L3}, false},
		{"L3: all levels at once", []float64{0.5, 0.5, 0}, 0, false, out, []string{L1, L2, L3}, false},
		{"L3 draw: a solved problem inside the share", []float64{1, 1, 1}, 0, false, in, []string{L3}, false},
		{"L3 draw: the largest partly solves it, outside", []float64{0, 0.5, 0.5}, 0, false, out, []string{L2}, false},
		{"L3 draw boundary: draw equal to the share is out", []float64{1, 1, 1}, 0, false, 0.5, nil, false},
		{"filter never solves it: dropped", []float64{0.5, 0.5, 0}, 0, true, in, nil, true},
		{"filter solves it once: kept", []float64{0, 0, 0}, 0.125, true, out, []string{L3}, false},
		{"filter always solves it", []float64{0.5, 1, 1}, 1, true, out, []string{L1}, false},
		{"one model: L1, and it is the largest for L3", []float64{0.5}, 0, false, out, []string{L1}, false},
		{"one model that fails: L3", []float64{0}, 0, false, out, []string{L3}, false},
		{"two models: L2 from the second", []float64{0, 1}, 0, false, out, []string{L2}, false},
	} {
		got, dropped := Levels(c.ladder, c.filter, c.hasFilter, c.draw, 0.5)
		if !reflect.DeepEqual(got, c.want) || dropped != c.dropped {
			t.Errorf("%s: %v dropped %v, want %v dropped %v", c.name, got, dropped, c.want, c.dropped)
		}
	}
}

func TestStage(t *testing.T) {
	// Prompts: 0 small partly; 1 small fails, large solves; 2 nobody
	// solves, the filter does; 3 nobody, the filter neither; 4..403 every
	// model always solves.
	small := PassRates(recs("math", 0, "cw", "ww", "ww", "ww"))
	large := PassRates(recs("math", 0, "cc", "cw", "ww", "ww"))
	filter := PassRates(recs("math", 0, "cc", "cc", "cw", "ww"))
	for i := 4; i < 404; i++ {
		for _, m := range []*[]PassRate{&small, &large, &filter} {
			*m = append(*m, PassRate{PromptID: i, Answer: "a", Samples: 2, Correct: 2, PassRate: 1})
		}
	}
	if small[0].PassRate != 0.5 || small[0].Samples != 2 || small[0].Correct != 1 {
		t.Fatalf("pass rate %+v", small[0])
	}
	staged, err := Stage([][]PassRate{small, large}, filter, 0.5, 1)
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range [][]string{{L1}, {L2}, {L3}, nil} {
		if id < 2 && L3Draw(1, id) < 0.5 { // the largest model solves 0 and 1: L3 only by the draw
			want = append(want, L3)
		}
		if s := staged[id]; !reflect.DeepEqual(s.Levels, want) || s.Dropped != (id == 3) || len(s.PassRates) != 3 {
			t.Errorf("prompt %d: %+v, want levels %v", id, s, want)
		}
	}
	if s := staged[1]; s.PassRates[0] != 0 || s.PassRates[1] != 0.5 || s.PassRates[2] != 1 {
		t.Errorf("pass rates %v, want small, large, filter", s.PassRates)
	}
	drawn := func(staged []Staged) []int {
		var ids []int
		for _, s := range staged[4:] {
			if len(s.Levels) > 0 {
				ids = append(ids, s.PromptID)
			}
		}
		return ids
	}
	// Of 400 problems every model solves, L3 takes about half.
	if n := len(drawn(staged)); n < 160 || n > 240 {
		t.Errorf("L3 drew %d of 400 solved problems at share 0.5", n)
	}
	again, _ := Stage([][]PassRate{small, large}, filter, 0.5, 1)
	other, _ := Stage([][]PassRate{small, large}, filter, 0.5, 2)
	if !reflect.DeepEqual(drawn(again), drawn(staged)) || reflect.DeepEqual(drawn(other), drawn(staged)) {
		t.Error("the L3 draw does not follow the seed")
	}
	if none, _ := Stage([][]PassRate{small, large}, filter, 0, 1); len(drawn(none)) != 0 {
		t.Error("share 0 drew solved problems")
	}
	// Without the filter model prompt 3 stays, in L3.
	if s, _ := Stage([][]PassRate{small, large}, nil, 0.5, 1); s[3].Dropped || !reflect.DeepEqual(s[3].Levels, []string{L3}) || len(s[3].PassRates) != 2 {
		t.Errorf("no filter: %+v", s[3])
	}
	if _, err := Stage([][]PassRate{small, large[:10]}, nil, 0.5, 1); err == nil {
		t.Error("models rating different problems were accepted")
	}
	if _, err := Stage([][]PassRate{small, large}, filter[:10], 0.5, 1); err == nil {
		t.Error("a filter model rating fewer problems was accepted")
	}
	wrongAnswer := append([]PassRate(nil), large...)
	wrongAnswer[0].Answer = "b"
	if _, err := Stage([][]PassRate{small, wrongAnswer}, nil, 0.5, 1); err == nil {
		t.Error("different answers for one prompt were accepted")
	}
}
