package rollout

import (
	"cmp"
	"maps"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/aha-inference/aha/rollout/verify"
)

// Usable reports whether a sample may be a side of a pair or a route:
// its reward command did not fail and, unless kept, it was not cut off at
// the token limit (its verdict judges a fragment) nor failed the format
// (its answer was never read). Both would teach the contrast between a
// whole answer and a broken one rather than between right and wrong
// reasoning.
func Usable(r *Record, keepTruncated, keepFormatFailed bool) bool {
	switch {
	case r.RewardError != "":
		return false
	case r.FinishReason == "length" && !keepTruncated:
		return false
	case r.Verdict == verify.FormatError && !keepFormatFailed:
		return false
	}
	return true
}

// Routes are one problem's usable completions, right and wrong, each list
// in an order drawn from (seed, prompt id), so what is taken from them
// does not depend on record order.
type Routes struct {
	PromptID     int
	Task         string
	Level        int
	Prompt       string
	Answer       string
	Right, Wrong []Record
}

// GroupRoutes gathers the usable records of every problem, in prompt
// order (a problem whose records are all refused is there, empty);
// dropped counts the records Usable refused.
func GroupRoutes(recs []Record, keepTruncated, keepFormatFailed bool, seed uint64) (routes []Routes, dropped int) {
	byID := map[int][]Record{}
	for _, r := range recs {
		byID[r.PromptID] = append(byID[r.PromptID], r)
	}
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		rs := byID[id]
		slices.SortFunc(rs, func(a, b Record) int { return cmp.Compare(a.SampleIndex, b.SampleIndex) })
		g := Routes{PromptID: id, Task: rs[0].Task, Level: rs[0].Level, Prompt: rs[0].Prompt, Answer: rs[0].Answer}
		for _, r := range rs {
			switch {
			case !Usable(&r, keepTruncated, keepFormatFailed):
				dropped++
			case r.Correct():
				g.Right = append(g.Right, r)
			default:
				g.Wrong = append(g.Wrong, r)
			}
		}
		rng := rand.New(rand.NewPCG(seed, uint64(id)))
		rng.Shuffle(len(g.Right), func(i, j int) { g.Right[i], g.Right[j] = g.Right[j], g.Right[i] })
		rng.Shuffle(len(g.Wrong), func(i, j int) { g.Wrong[i], g.Wrong[j] = g.Wrong[j], g.Wrong[i] })
		routes = append(routes, g)
	}
	return routes, dropped
}

// Pair is a correct and a wrong completion of one problem: a preference
// pair (TRL's prompt/chosen/rejected).
type Pair struct {
	Chosen, Rejected Record
}

// Pairs takes, per problem, up to correct right and wrong wrong
// completions and pairs each right one with each wrong one. skipped
// counts the problems that lack a right or a wrong completion.
func Pairs(routes []Routes, correct, wrong int) (pairs []Pair, skipped int) {
	for _, g := range routes {
		if len(g.Right) == 0 || len(g.Wrong) == 0 {
			skipped++
			continue
		}
		for _, c := range g.Right[:min(correct, len(g.Right))] {
			for _, w := range g.Wrong[:min(wrong, len(g.Wrong))] {
				pairs = append(pairs, Pair{c, w})
			}
		}
	}
	return pairs, skipped
}

// EAAISchedule is how many routes stage s (from 0) of n keeps of k, pos
// of them correct, when the routes in the prompt fade as in ReaLM's
// Enabling Autonomy via Asymptotic Induction: all k at the first stage,
// none at the last, linearly between; the correct ones keep their share
// of what is left as nearly as rounding allows. Both counts only shrink
// from stage to stage, so each stage's routes can be a subset of the
// last's.
func EAAISchedule(k, pos, s, n int) (keep, keepPos int) {
	if n <= 1 || k == 0 {
		return k, pos
	}
	keep = int(math.Round(float64(k*(n-1-s)) / float64(n-1)))
	return keep, int(math.Round(float64(keep*pos) / float64(k)))
}

// MRPVRoutes picks one problem's routes for each of stages EAAI stages:
// the first stage shows pos right and k−pos wrong completions, in an
// order drawn from (seed, prompt id); each later stage shows the
// EAAISchedule counts, the first right and wrong ones of that order, so
// a faded route never comes back. ok is false when the problem has too
// few right or wrong usable completions.
func MRPVRoutes(g Routes, k, pos, stages int, seed uint64) (perStage [][]Record, ok bool) {
	if len(g.Right) < pos || len(g.Wrong) < k-pos {
		return nil, false
	}
	type ranked struct {
		rec  Record
		rank int // among the routes of its kind: lower fades later
	}
	all := make([]ranked, 0, k)
	for i, r := range g.Right[:pos] {
		all = append(all, ranked{r, i})
	}
	for i, r := range g.Wrong[:k-pos] {
		all = append(all, ranked{r, i})
	}
	// A second stream: the order in the prompt is not the order of fading.
	rng := rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, uint64(g.PromptID)))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	for s := range max(stages, 1) {
		keep, keepPos := EAAISchedule(k, pos, s, stages)
		var shown []Record
		for _, r := range all {
			if r.rec.Correct() && r.rank < keepPos || !r.rec.Correct() && r.rank < keep-keepPos {
				shown = append(shown, r.rec)
			}
		}
		perStage = append(perStage, shown)
	}
	return perStage, true
}
