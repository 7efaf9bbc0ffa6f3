package rollout

import (
	"cmp"
	"maps"
	"slices"

	"github.com/aha-inference/aha/rollout/verify"
)

// Correct reports whether a record's answer was verified right.
func (r *Record) Correct() bool { return r.Verdict == verify.Correct }

// Group is the statistics of the records of one task and level (Task "all"
// for every record).
type Group struct {
	Task     string `json:"task"`
	Level    int    `json:"level"`
	Problems int    `json:"problems"`
	Samples  int    `json:"samples"`
	// PassAtK[k-1] is the mean over problems of the unbiased pass@k, for k
	// up to the fewest samples any problem has.
	PassAtK       []float64              `json:"pass_at_k"`
	MeanReward    float64                `json:"mean_reward"`
	MeanLength    float64                `json:"mean_length"` // completion tokens
	MaxLength     int                    `json:"max_length"`
	FinishReasons map[string]int         `json:"finish_reasons"`
	Verdicts      map[verify.Verdict]int `json:"verdicts"`
}

// Summarize computes the statistics per task and level, sorted, followed
// by the total over all records.
func Summarize(recs []Record) []Group {
	type key struct {
		task  string
		level int
	}
	byGroup := map[key][]Record{}
	for _, r := range recs {
		k := key{r.Task, r.Level}
		byGroup[k] = append(byGroup[k], r)
	}
	keys := slices.SortedFunc(maps.Keys(byGroup), func(a, b key) int {
		return cmp.Or(cmp.Compare(a.task, b.task), cmp.Compare(a.level, b.level))
	})
	var groups []Group
	for _, k := range keys {
		groups = append(groups, summarize(k.task, k.level, byGroup[k]))
	}
	if len(groups) != 1 {
		groups = append(groups, summarize("all", 0, recs))
	}
	return groups
}

func summarize(task string, level int, recs []Record) Group {
	g := Group{Task: task, Level: level, Samples: len(recs), FinishReasons: map[string]int{}, Verdicts: map[verify.Verdict]int{}}
	type tally struct{ n, c int }
	type problem struct {
		task      string
		level, id int
	}
	// Files of different runs may reuse prompt ids: a problem is all three.
	perProblem := map[problem]*tally{}
	var length int
	for _, r := range recs {
		k := problem{r.Task, r.Level, r.PromptID}
		t := perProblem[k]
		if t == nil {
			t = &tally{}
			perProblem[k] = t
		}
		t.n++
		if r.Correct() {
			t.c++
		}
		g.MeanReward += r.Reward
		length += len(r.CompletionTokenIDs)
		g.MaxLength = max(g.MaxLength, len(r.CompletionTokenIDs))
		g.FinishReasons[r.FinishReason]++
		g.Verdicts[r.Verdict]++
	}
	g.Problems = len(perProblem)
	if len(recs) == 0 {
		return g
	}
	g.MeanReward /= float64(len(recs))
	g.MeanLength = float64(length) / float64(len(recs))
	kMax := len(recs)
	for _, t := range perProblem {
		kMax = min(kMax, t.n)
	}
	g.PassAtK = make([]float64, kMax)
	for k := 1; k <= kMax; k++ {
		for _, t := range perProblem {
			g.PassAtK[k-1] += PassAtK(t.n, t.c, k)
		}
		g.PassAtK[k-1] /= float64(len(perProblem))
	}
	return g
}
