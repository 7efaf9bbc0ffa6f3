package engine

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
)

// SamplingParams are the knobs of the sampler. The zero value is not
// neutral (it is greedy, Temperature 0); DefaultSampling is: plain sampling
// from the model's distribution, nothing truncated.
type SamplingParams struct {
	Temperature float64 // below GreedyBelow (0 included) = greedy
	TopK        int     // ≤ 0 = off (-1 is vLLM's way to say so; below is refused)
	TopP        float64 // 1 = off; must be in (0, 1]
	MinP        float64 // 0 = off; must be in [0, 1)

	// RepetitionPenalty divides positive logits and multiplies negative
	// ones of every token seen in the prompt or the output (0 or 1 = off).
	RepetitionPenalty float64
	// PresencePenalty is subtracted once from the logit of every token
	// already generated, FrequencyPenalty once per occurrence.
	PresencePenalty, FrequencyPenalty float64
	// LogitBias is added to the named tokens' logits.
	LogitBias map[int]float32
	// AllowedIDs, when not empty, are the only tokens that may be drawn:
	// every other logit is −∞ (vLLM's allowed_token_ids).
	AllowedIDs []int
	// BadWords are token sequences never to be generated: the last token
	// of each is masked wherever the tokens generated just before it are
	// the rest of it, so a one-token word is never drawn (vLLM's
	// bad_words, as its sampler applies them: the prompt does not count).
	BadWords [][]int

	Seed uint64
}

// DefaultSampling samples from the unmodified distribution: aha's defaults
// are neutral, so RL runs and reference comparisons see the model as it is.
func DefaultSampling() SamplingParams { return SamplingParams{Temperature: 1, TopP: 1} }

// GreedyBelow is the temperature under which sampling is greedy, as in
// vLLM. Logits are divided by the temperature in float32, where smaller
// ones overflow or underflow (1e-40 gave NaN distributions, 1e-50 counted
// as 1); nobody means anything but greedy by them.
const GreedyBelow = 1e-5

// Greedy reports whether p picks the most likely token (Temperature below
// GreedyBelow); the processed distribution then has temperature 1 and the
// scaled logprobs count it as 1.
func (p *SamplingParams) Greedy() bool { return p.Temperature < GreedyBelow }

// ParamError is a sampling parameter out of its range. Param names it as
// the OpenAI and vLLM APIs do (top_p, logit_bias), and so does the
// message.
type ParamError struct {
	Param string
	msg   string
}

func (e *ParamError) Error() string { return e.msg }

func paramError(param, format string, args ...any) *ParamError {
	return &ParamError{Param: param, msg: fmt.Sprintf(format, args...)}
}

// Validate checks the ranges (vLLM's, which the server's clients expect);
// vocab bounds the token ids. Its errors are *ParamError.
func (p *SamplingParams) Validate(vocab int) error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case p.Temperature < 0 || p.Temperature > math.MaxFloat32 || !finite(p.Temperature):
		return paramError("temperature", "temperature %g must be ≥ 0 and finite in float32", p.Temperature)
	case !(p.TopP > 0 && p.TopP <= 1):
		return paramError("top_p", "top_p %g must be in (0, 1]", p.TopP)
	case p.TopK < -1:
		return paramError("top_k", "top_k %d must be ≥ 1, or 0 or -1 for no limit", p.TopK)
	case !(p.MinP >= 0 && p.MinP < 1):
		return paramError("min_p", "min_p %g must be in [0, 1)", p.MinP)
	case !(p.RepetitionPenalty >= 0) || !finite(p.RepetitionPenalty):
		return paramError("repetition_penalty", "repetition_penalty %g must be > 0 (1 = off)", p.RepetitionPenalty)
	case !(p.PresencePenalty >= -2 && p.PresencePenalty <= 2):
		return paramError("presence_penalty", "presence_penalty %g must be in [-2, 2]", p.PresencePenalty)
	case !(p.FrequencyPenalty >= -2 && p.FrequencyPenalty <= 2):
		return paramError("frequency_penalty", "frequency_penalty %g must be in [-2, 2]", p.FrequencyPenalty)
	}
	for _, id := range slices.Sorted(maps.Keys(p.LogitBias)) {
		if id < 0 || id >= vocab {
			return paramError("logit_bias", "logit_bias: token %d is outside the vocabulary (0…%d)", id, vocab-1)
		}
		if b := p.LogitBias[id]; !(b >= -100 && b <= 100) {
			return paramError("logit_bias", "logit_bias for token %d is %g; it must be in [-100, 100]", id, b)
		}
	}
	if p.AllowedIDs != nil && len(p.AllowedIDs) == 0 {
		return paramError("allowed_token_ids", "allowed_token_ids is empty: no token could be generated")
	}
	for _, id := range p.AllowedIDs {
		if id < 0 || id >= vocab {
			return paramError("allowed_token_ids", "allowed_token_ids: token id %d is outside the vocabulary (0…%d)", id, vocab-1)
		}
	}
	for _, w := range p.BadWords {
		if len(w) == 0 {
			return paramError("bad_words", "bad_words: a word has no tokens")
		}
		for _, id := range w {
			if id < 0 || id >= vocab {
				return paramError("bad_words", "bad_words: token id %d is outside the vocabulary (0…%d)", id, vocab-1)
			}
		}
	}
	return nil
}

// Sampler draws one sequence's tokens. It owns the sequence's random
// stream and its history (for the penalties), so a sample depends only on
// its seed, its prompt and its logits — not on what else is batched.
type Sampler struct {
	p         SamplingParams
	rng       *rand.Rand
	prompt    map[int]bool // tokens in the prompt (repetition penalty)
	counts    map[int]int  // generated tokens and how often
	output    []int        // generated tokens in order, kept only for bad words
	generated int
	minTokens int
	stopIDs   []int // masked while fewer than minTokens are generated

	// The distribution last computed by next.
	z    []float32   // processed logits
	e    []float64   // exp(z − max) for kept tokens (0 for removed ones)
	cand []candidate // kept tokens, best first, when any truncation applies
	kept []float64   // scratch for truncate
	max  float32
	sum  float64 // of e
	all  bool    // no truncation: every token is kept
	// ready says e, cand, max and sum belong to the current z: they are
	// computed only when sampling or processed logprobs need them.
	ready bool
}

type candidate struct {
	id int
	z  float32
}

// NewSampler makes a sampler for one sequence after prompt; stopIDs are
// masked until minTokens tokens are generated.
func NewSampler(p SamplingParams, prompt []int, minTokens int, stopIDs []int) *Sampler {
	s := &Sampler{p: p, rng: rand.New(rand.NewPCG(p.Seed, 0x61686121)), counts: map[int]int{}, minTokens: minTokens, stopIDs: stopIDs}
	if p.RepetitionPenalty != 0 && p.RepetitionPenalty != 1 {
		s.prompt = map[int]bool{}
		for _, id := range prompt {
			s.prompt[id] = true
		}
	}
	return s
}

// Accept records id as generated.
func (s *Sampler) Accept(id int) {
	s.counts[id]++
	s.generated++
	if len(s.p.BadWords) > 0 {
		s.output = append(s.output, id)
	}
}

// Sample computes the next-token distribution from logits and draws from it.
func (s *Sampler) Sample(logits []float32) int {
	s.next(logits)
	if s.p.Greedy() {
		// Truncation always keeps the best token, so greedy needs no
		// probabilities (unless processed logprobs ask for them).
		return Argmax(s.z)
	}
	s.probabilities()
	r := s.rng.Float64() * s.sum
	if s.all {
		for id, e := range s.e {
			if r -= e; r < 0 {
				return id
			}
		}
		return len(s.e) - 1 // rounding left r ≥ 0 after the last token
	}
	for _, c := range s.cand {
		if r -= s.e[c.id]; r < 0 {
			return c.id
		}
	}
	return s.cand[len(s.cand)-1].id
}

// next computes the processed logits: the allowed tokens and bad words
// masks, logit bias, the min_tokens mask, penalties and temperature
// (probabilities adds top-k, top-p and min-p).
func (s *Sampler) next(logits []float32) {
	p := &s.p
	s.z = append(s.z[:0], logits...)
	z := s.z
	inf := float32(math.Inf(-1))
	if len(p.AllowedIDs) > 0 {
		for i := range z {
			z[i] = inf
		}
		for _, id := range p.AllowedIDs {
			z[id] = logits[id]
		}
	}
	for _, w := range p.BadWords {
		if rest := w[:len(w)-1]; len(rest) <= len(s.output) && slices.Equal(s.output[len(s.output)-len(rest):], rest) {
			z[w[len(w)-1]] = inf
		}
	}
	for id, b := range p.LogitBias {
		z[id] += b
	}
	if s.generated < s.minTokens {
		for _, id := range s.stopIDs {
			z[id] = inf
		}
	}
	if rp := float32(p.RepetitionPenalty); rp != 0 && rp != 1 {
		penalize := func(id int) {
			if z[id] > 0 {
				z[id] /= rp
			} else {
				z[id] *= rp
			}
		}
		for id := range s.prompt {
			penalize(id)
		}
		for id := range s.counts {
			if !s.prompt[id] {
				penalize(id)
			}
		}
	}
	if p.PresencePenalty != 0 || p.FrequencyPenalty != 0 {
		for id, n := range s.counts {
			z[id] -= float32(p.FrequencyPenalty*float64(n) + p.PresencePenalty)
		}
	}
	if t := float32(p.Temperature); !p.Greedy() && t != 1 {
		for i := range z {
			z[i] /= t
		}
	}

	s.ready = false
}

// probabilities computes, once per next, exp(z − max) for the tokens
// top-k, top-p and min-p keep, and their sum.
func (s *Sampler) probabilities() {
	if s.ready {
		return
	}
	s.ready = true
	p, z := &s.p, s.z
	s.max = z[Argmax(z)]
	if cap(s.e) < len(z) {
		s.e = make([]float64, len(z))
	}
	s.e = s.e[:len(z)]
	s.sum = 0
	for i, v := range z {
		e := math.Exp(float64(v - s.max))
		s.e[i] = e
		s.sum += e
	}
	s.all = p.TopK <= 0 && p.TopP >= 1 && p.MinP <= 0
	if s.all {
		return
	}
	s.truncate()
}

// truncate keeps the tokens top-k, top-p and min-p allow (in that order,
// each on the distribution the previous left, renormalized), best first
// with ties broken by id, and zeroes the rest of e.
func (s *Sampler) truncate() {
	p := &s.p
	// Only tokens that can survive need sorting. A token whose probability
	// is below floor·max is dropped by min-p; top-p needs only the tokens
	// down to where the mass is reached, so widen the threshold until the
	// tokens above it hold enough mass (or every token is in).
	floor := 0.0
	if p.MinP > 0 {
		floor = p.MinP
	}
	thresh := max(floor, 1e-4)
	for {
		s.cand = s.cand[:0]
		var mass float64
		for id, e := range s.e {
			if e >= thresh {
				s.cand = append(s.cand, candidate{id, s.z[id]})
				mass += e
			}
		}
		enough := p.TopP >= 1 || mass >= p.TopP*s.sum
		if p.TopK > 0 && len(s.cand) >= p.TopK {
			enough = true // top-k keeps no token below the k-th
		}
		if enough || thresh <= floor || thresh == 0 {
			break
		}
		thresh /= 1000
		if thresh < 1e-30 {
			thresh = floor
		}
	}
	if p.TopK > 0 && len(s.cand) > p.TopK {
		selectBest(s.cand, p.TopK)
		s.cand = s.cand[:p.TopK]
	}
	slices.SortFunc(s.cand, better)
	keep := len(s.cand)
	if p.TopK > 0 && p.TopK < keep {
		keep = p.TopK
	}
	if p.TopP < 1 {
		var kept, cum float64
		for _, c := range s.cand[:keep] {
			kept += s.e[c.id]
		}
		for i, c := range s.cand[:keep] {
			cum += s.e[c.id]
			if cum >= p.TopP*kept {
				keep = i + 1
				break
			}
		}
	}
	if p.MinP > 0 {
		// Relative to the best token, which has e = 1.
		for i := 1; i < keep; i++ {
			if s.e[s.cand[i].id] < p.MinP {
				keep = i
				break
			}
		}
	}
	s.cand = s.cand[:keep]
	// Zero the removed tokens: clear everything, then restore the kept.
	kept := s.kept[:0]
	for _, c := range s.cand {
		kept = append(kept, s.e[c.id])
	}
	clear(s.e)
	s.sum = 0
	for i, c := range s.cand {
		s.e[c.id] = kept[i]
		s.sum += kept[i]
	}
	s.kept = kept
}

// better orders candidates best first, ties by id, so the order is total
// and the kept set never depends on the sort's whims.
func better(a, b candidate) int {
	switch {
	case a.z > b.z:
		return -1
	case a.z < b.z:
		return 1
	}
	return a.id - b.id
}

// selectBest moves the k best candidates (by better) to the front of c,
// in no particular order: quickselect, so top-k costs a pass over the
// candidates rather than a sort of all of them.
func selectBest(c []candidate, k int) {
	lo, hi := 0, len(c)-1
	for lo < hi {
		// Median of three as the pivot, moved to hi.
		mid := lo + (hi-lo)/2
		if better(c[mid], c[lo]) < 0 {
			c[mid], c[lo] = c[lo], c[mid]
		}
		if better(c[hi], c[lo]) < 0 {
			c[hi], c[lo] = c[lo], c[hi]
		}
		if better(c[mid], c[hi]) < 0 {
			c[mid], c[hi] = c[hi], c[mid]
		}
		pivot, store := c[hi], lo
		for i := lo; i < hi; i++ {
			if better(c[i], pivot) < 0 {
				c[i], c[store] = c[store], c[i]
				store++
			}
		}
		c[store], c[hi] = c[hi], c[store]
		switch {
		case store == k-1 || store == k:
			return
		case store < k:
			lo = store + 1
		default:
			hi = store - 1
		}
	}
}

// Logprob returns id's log-probability under the last distribution next
// computed (processed mode) or under logits itself (raw, scaled), with the
// top most likely alternatives in the same distribution.
func (s *Sampler) Logprob(mode LogprobMode, logits []float32, id, top int) (float32, []TokenLogprob) {
	var lp func(int) float32
	switch mode {
	case LogprobsRaw, LogprobsScaled:
		t := float32(1)
		if mode == LogprobsScaled && !s.p.Greedy() {
			t = float32(s.p.Temperature)
		}
		mx := logits[Argmax(logits)] / t
		var sum float64
		for _, v := range logits {
			sum += math.Exp(float64(v/t - mx))
		}
		lse := float64(mx) + math.Log(sum)
		lp = func(i int) float32 { return float32(float64(logits[i]/t) - lse) }
		return lp(id), topBy(len(logits), top, lp)
	}
	s.probabilities()
	lse := float64(s.max) + math.Log(s.sum)
	lp = func(i int) float32 {
		if s.e[i] == 0 && !s.all {
			return float32(math.Inf(-1))
		}
		return float32(float64(s.z[i]) - lse)
	}
	if !s.all && top > 0 && top <= len(s.cand) {
		out := make([]TokenLogprob, 0, top)
		for _, c := range s.cand[:top] {
			out = append(out, TokenLogprob{c.id, lp(c.id)})
		}
		return lp(id), out
	}
	if s.all {
		return lp(id), topBy(len(s.z), top, lp)
	}
	// Truncation kept fewer tokens than asked for. The list still holds top
	// entries, as vLLM's do: the kept tokens, then the best of the removed
	// ones at −∞. Ranking by the processed logits puts the kept ones first
	// (truncation keeps a prefix of that order, ties by id) and ranks the
	// removed ones deterministically, so scoring reports what sampling did.
	out := topBy(len(s.z), top, func(i int) float32 { return s.z[i] })
	for i := range out {
		out[i].Logprob = lp(out[i].ID)
	}
	return lp(id), out
}

// topBy returns the n tokens with the largest lp, best first, ties by id.
func topBy(vocab, n int, lp func(int) float32) []TokenLogprob {
	if n <= 0 {
		return nil
	}
	top := make([]TokenLogprob, 0, n+1)
	for id := 0; id < vocab; id++ {
		v := lp(id)
		if len(top) == n && v <= top[n-1].Logprob {
			continue
		}
		i, _ := slices.BinarySearchFunc(top, v, func(t TokenLogprob, v float32) int {
			if t.Logprob >= v {
				return -1
			}
			return 1
		})
		top = slices.Insert(top, i, TokenLogprob{id, v})
		if len(top) > n {
			top = top[:n]
		}
	}
	return top
}

// Argmax is the index of the largest value (the first, on ties).
func Argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}
