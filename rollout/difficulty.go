package rollout

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
)

// PassRate is one problem's measured difficulty: how many of its samples
// were correct.
type PassRate struct {
	PromptID int     `json:"prompt_id"`
	Task     string  `json:"task"`
	Level    int     `json:"level"`
	Prompt   string  `json:"prompt"`
	Answer   string  `json:"answer"`
	Samples  int     `json:"samples"`
	Correct  int     `json:"correct"`
	PassRate float64 `json:"pass_rate"`
}

// PassRates gives each problem's pass rate, in prompt order.
func PassRates(recs []Record) []PassRate {
	byID := map[int]*PassRate{}
	for _, r := range recs {
		p := byID[r.PromptID]
		if p == nil {
			p = &PassRate{PromptID: r.PromptID, Task: r.Task, Level: r.Level, Prompt: r.Prompt, Answer: r.Answer}
			byID[r.PromptID] = p
		}
		p.Samples++
		if r.Correct() {
			p.Correct++
		}
	}
	rates := make([]PassRate, 0, len(byID))
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		p := byID[id]
		p.PassRate = float64(p.Correct) / float64(p.Samples)
		rates = append(rates, *p)
	}
	return rates
}

// Bucketed is a problem placed in a difficulty bucket, with every model's
// pass rate on it (smallest model first).
type Bucketed struct {
	PromptID  int       `json:"prompt_id"`
	Task      string    `json:"task"`
	Level     int       `json:"level"`
	Prompt    string    `json:"prompt"`
	Answer    string    `json:"answer"`
	PassRates []float64 `json:"pass_rates"`
}

// Buckets are the stages of difficulty-aware training.
type Buckets struct {
	L1, L2, L3 []Bucketed
	Dropped    int // no model solves them
	Easy       int // the smallest model always solves them and L3 did not draw them
}

// Bucket sorts problems into stages by the pass rates of models ordered
// from smallest to largest, after the rules of difficulty-aware staged RL:
//
//   - problems no model solves are dropped;
//   - L1: the smallest model's pass rate is strictly between 0 and 1;
//   - L2: the smallest model fails every sample and a larger one passes some;
//   - L3: of the rest, every problem the largest model fails, and those it
//     passes each with probability l3Fraction, drawn from (seed, prompt id)
//     so the choice does not depend on file order.
//
// The buckets are disjoint: a problem goes to the first that takes it.
// Every model must have rated the same problems (the prompt ids of one
// task list or data set, sampled by each model).
func Bucket(models [][]PassRate, l3Fraction float64, seed uint64) (Buckets, error) {
	var b Buckets
	if len(models) == 0 {
		return b, fmt.Errorf("no pass rates")
	}
	rates := map[int][]float64{}
	problems := map[int]PassRate{}
	for m, model := range models {
		for _, p := range model {
			if len(rates[p.PromptID]) != m {
				return b, fmt.Errorf("prompt %d: model %d is the %d. to rate it; every model must rate every prompt once", p.PromptID, m+1, len(rates[p.PromptID])+1)
			}
			if q, ok := problems[p.PromptID]; ok && q.Answer != p.Answer {
				return b, fmt.Errorf("prompt %d has answer %q for model 1 but %q for model %d: not the same problems", p.PromptID, q.Answer, p.Answer, m+1)
			}
			problems[p.PromptID] = p
			rates[p.PromptID] = append(rates[p.PromptID], p.PassRate)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(problems)) {
		r := rates[id]
		if len(r) != len(models) {
			return b, fmt.Errorf("prompt %d is rated by %d of the %d models", id, len(r), len(models))
		}
		p := problems[id]
		entry := Bucketed{PromptID: id, Task: p.Task, Level: p.Level, Prompt: p.Prompt, Answer: p.Answer, PassRates: r}
		small, large := r[0], r[len(r)-1]
		switch {
		case slices.Max(r) == 0:
			b.Dropped++
		case small > 0 && small < 1:
			b.L1 = append(b.L1, entry)
		case small == 0:
			b.L2 = append(b.L2, entry)
		case large == 0 || rand.New(rand.NewPCG(seed, uint64(id))).Float64() < l3Fraction:
			b.L3 = append(b.L3, entry)
		default:
			b.Easy++
		}
	}
	return b, nil
}

// Pair is a correct and a wrong completion of one problem: a preference
// pair (TRL's prompt/chosen/rejected) or a positive and a negative route.
type Pair struct {
	PromptID        int     `json:"prompt_id"`
	Task            string  `json:"task"`
	Level           int     `json:"level"`
	Prompt          string  `json:"prompt"`
	Answer          string  `json:"answer"`
	Chosen          string  `json:"chosen"`
	Rejected        string  `json:"rejected"`
	ChosenSample    int     `json:"chosen_sample"`
	RejectedSample  int     `json:"rejected_sample"`
	ChosenReward    float64 `json:"chosen_reward"`
	RejectedReward  float64 `json:"rejected_reward"`
	RejectedVerdict string  `json:"rejected_verdict"`
}

// Pairs draws, per problem, up to correct right and wrong wrong
// completions and pairs each right one with each wrong one. Samples whose
// reward command failed take no part. The draw is seeded per problem and
// independent of record order. skipped counts the problems that lack a
// right or a wrong completion.
func Pairs(recs []Record, correct, wrong int, seed uint64) (pairs []Pair, skipped int) {
	byID := map[int][]Record{}
	for _, r := range recs {
		if r.RewardError == "" {
			byID[r.PromptID] = append(byID[r.PromptID], r)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		rs := byID[id]
		slices.SortFunc(rs, func(a, b Record) int { return cmp.Compare(a.SampleIndex, b.SampleIndex) })
		var pos, neg []Record
		for _, r := range rs {
			if r.Correct() {
				pos = append(pos, r)
			} else {
				neg = append(neg, r)
			}
		}
		if len(pos) == 0 || len(neg) == 0 {
			skipped++
			continue
		}
		rng := rand.New(rand.NewPCG(seed, uint64(id)))
		rng.Shuffle(len(pos), func(i, j int) { pos[i], pos[j] = pos[j], pos[i] })
		rng.Shuffle(len(neg), func(i, j int) { neg[i], neg[j] = neg[j], neg[i] })
		for _, c := range pos[:min(correct, len(pos))] {
			for _, w := range neg[:min(wrong, len(neg))] {
				pairs = append(pairs, Pair{PromptID: id, Task: c.Task, Level: c.Level, Prompt: c.Prompt, Answer: c.Answer,
					Chosen: c.Completion, Rejected: w.Completion, ChosenSample: c.SampleIndex, RejectedSample: w.SampleIndex,
					ChosenReward: c.Reward, RejectedReward: w.Reward, RejectedVerdict: w.Verdict})
			}
		}
	}
	return pairs, skipped
}
