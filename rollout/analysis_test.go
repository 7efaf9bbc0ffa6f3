package rollout

import (
	"math"
	"reflect"
	"testing"
)

// recs makes records: verdicts[p] lists prompt p's samples ('c' correct,
// 'w' wrong, 'f' format error).
func recs(task string, level int, verdicts ...string) []Record {
	names := map[byte]string{'c': "correct", 'w': "wrong", 'f': "format_error"}
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

func TestBucket(t *testing.T) {
	// Prompts: 0 small in (0,1); 1 small fails, large passes; 2 nobody; 3
	// small always, large fails; 4..103 both always solve.
	small := PassRates(recs("math", 0, "cw", "ww", "ww", "cc"))
	large := PassRates(recs("math", 0, "cc", "cw", "ww", "ww"))
	for i := 4; i < 104; i++ {
		small = append(small, PassRate{PromptID: i, Answer: "a", Samples: 2, Correct: 2, PassRate: 1})
		large = append(large, PassRate{PromptID: i, Answer: "a", Samples: 2, Correct: 2, PassRate: 1})
	}
	if small[0].PassRate != 0.5 || small[0].Samples != 2 || small[0].Correct != 1 {
		t.Fatalf("pass rate %+v", small[0])
	}
	b, err := Bucket([][]PassRate{small, large}, 0.3, 1)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(bs []Bucketed) []int {
		var out []int
		for _, x := range bs {
			out = append(out, x.PromptID)
		}
		return out
	}
	if !reflect.DeepEqual(ids(b.L1), []int{0}) || !reflect.DeepEqual(ids(b.L2), []int{1}) || b.Dropped != 1 || b.L3[0].PromptID != 3 {
		t.Errorf("buckets L1 %v L2 %v L3 %v dropped %d", ids(b.L1), ids(b.L2), ids(b.L3), b.Dropped)
	}
	if drawn := len(b.L3) - 1; drawn < 15 || drawn > 45 || drawn+b.Easy != 100 {
		t.Errorf("L3 drew %d of 100 easy problems at fraction 0.3 (left %d)", drawn, b.Easy)
	}
	again, _ := Bucket([][]PassRate{small, large}, 0.3, 1)
	other, _ := Bucket([][]PassRate{small, large}, 0.3, 2)
	if !reflect.DeepEqual(ids(again.L3), ids(b.L3)) || reflect.DeepEqual(ids(other.L3), ids(b.L3)) {
		t.Error("the L3 draw does not follow the seed")
	}
	if b.L2[0].PassRates[0] != 0 || b.L2[0].PassRates[1] != 0.5 {
		t.Errorf("L2 entry %+v", b.L2[0])
	}
	if _, err := Bucket([][]PassRate{small, large[:10]}, 0.3, 1); err == nil {
		t.Error("models rating different problems were accepted")
	}
	wrongAnswer := append([]PassRate(nil), large...)
	wrongAnswer[0].Answer = "b"
	if _, err := Bucket([][]PassRate{small, wrongAnswer}, 0.3, 1); err == nil {
		t.Error("different answers for one prompt were accepted")
	}
}

func TestPairs(t *testing.T) {
	rs := recs("induction", 1, "ccwf", "cccc", "wfww", "cw")
	rs[7].RewardError = "timeout" // prompt 1 sample 3 no longer counts
	pairs, skipped := Pairs(rs, 2, 2, 9)
	if skipped != 2 || len(pairs) != 4+1 {
		t.Fatalf("%d pairs, %d skipped", len(pairs), skipped)
	}
	for _, p := range pairs {
		if p.Chosen[0] != p.Rejected[0] || p.RejectedVerdict == "correct" || p.ChosenReward != 3 || p.RejectedReward != 0 {
			t.Errorf("pair %+v", p)
		}
	}
	// Record order does not change the draw.
	rev := append([]Record(nil), rs...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	if again, _ := Pairs(rev, 2, 2, 9); !reflect.DeepEqual(again, pairs) {
		t.Error("pairs depend on record order")
	}
	if one, _ := Pairs(rs, 1, 1, 9); len(one) != 2 {
		t.Errorf("1:1 gave %d pairs", len(one))
	}
}
