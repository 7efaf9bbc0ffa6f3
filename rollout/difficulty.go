package rollout

import (
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

// The levels of difficulty-aware staged RL, easiest first.
const (
	L1 = "L1"
	L2 = "L2"
	L3 = "L3"
)

// Levels places one problem in the levels of "How Difficulty-Aware Staged
// Reinforcement Learning Enhances LLMs' Reasoning Capabilities" (arXiv
// 2504.00829), with the criteria its data set card
// (a-m-team/AM-Math-Difficulty-RL) states. ladder holds the pass rates of
// the models from smallest to largest (1.5B, 7B, 32B in the paper);
// filter is the pass rate of the filter model, when there is one (hasFilter).
//
//   - dropped: the filter model never solves it (a wrong reference, or out
//     of reach); without a filter model nothing is dropped;
//   - L1: the smallest model's pass rate is strictly between 0 and 1;
//   - L2: the smallest model never solves it and the next one does at
//     least once (sometimes or always), or both are strictly between 0
//     and 1 — so L2 overlaps L1;
//   - L3: the largest model never solves it, or it does and the problem is
//     among the share l3Share of those it solves: draw is the problem's
//     uniform draw in [0, 1) (see L3Draw), taken when draw < l3Share.
//
// A problem may belong to several levels or to none.
func Levels(ladder []float64, filter float64, hasFilter bool, draw, l3Share float64) (levels []string, dropped bool) {
	if hasFilter && filter == 0 {
		return nil, true
	}
	partly := func(p float64) bool { return p > 0 && p < 1 }
	small := ladder[0]
	if partly(small) {
		levels = append(levels, L1)
	}
	if len(ladder) > 1 {
		if next := ladder[1]; small == 0 && next > 0 || partly(small) && partly(next) {
			levels = append(levels, L2)
		}
	}
	if large := ladder[len(ladder)-1]; large == 0 || draw < l3Share {
		levels = append(levels, L3)
	}
	return levels, false
}

// L3Draw is problem id's uniform draw for L3, from (seed, id) alone, so
// the choice does not depend on file order or on the other problems.
func L3Draw(seed uint64, id int) float64 {
	return rand.New(rand.NewPCG(seed, uint64(id))).Float64()
}

// Staged is a problem with the pass rates of every model and its levels.
type Staged struct {
	PromptID  int       `json:"prompt_id"`
	Task      string    `json:"task"`
	Level     int       `json:"level"`
	Prompt    string    `json:"prompt"`
	Answer    string    `json:"answer"`
	PassRates []float64 `json:"pass_rates"` // the ladder's, smallest model first, then the filter model's
	Levels    []string  `json:"difficulty_level"`
	Dropped   bool      `json:"dropped,omitempty"`
}

// Stage applies Levels to every problem. ladder holds each model's pass
// rates, smallest model first; filter, when not nil, the filter model's.
// Every model must have rated the same problems (the prompt ids of one
// task list or data set, sampled by each model). The problems come back
// in prompt order.
func Stage(ladder [][]PassRate, filter []PassRate, l3Share float64, seed uint64) ([]Staged, error) {
	if len(ladder) == 0 {
		return nil, fmt.Errorf("no pass rates")
	}
	models := ladder
	if filter != nil {
		models = append(slices.Clip(ladder), filter)
	}
	rates := map[int][]float64{}
	problems := map[int]PassRate{}
	for m, model := range models {
		for _, p := range model {
			if len(rates[p.PromptID]) != m {
				return nil, fmt.Errorf("prompt %d: model %d is the %d. to rate it; every model must rate every prompt once", p.PromptID, m+1, len(rates[p.PromptID])+1)
			}
			if q, ok := problems[p.PromptID]; ok && q.Answer != p.Answer {
				return nil, fmt.Errorf("prompt %d has answer %q for model 1 but %q for model %d: not the same problems", p.PromptID, q.Answer, p.Answer, m+1)
			}
			problems[p.PromptID] = p
			rates[p.PromptID] = append(rates[p.PromptID], p.PassRate)
		}
	}
	var staged []Staged
	for _, id := range slices.Sorted(maps.Keys(problems)) {
		r := rates[id]
		if len(r) != len(models) {
			return nil, fmt.Errorf("prompt %d is rated by %d of the %d models", id, len(r), len(models))
		}
		p := problems[id]
		s := Staged{PromptID: id, Task: p.Task, Level: p.Level, Prompt: p.Prompt, Answer: p.Answer, PassRates: r}
		f := 0.0
		if filter != nil {
			f = r[len(ladder)]
		}
		s.Levels, s.Dropped = Levels(r[:len(ladder)], f, filter != nil, L3Draw(seed, id), l3Share)
		staged = append(staged, s)
	}
	return staged, nil
}
