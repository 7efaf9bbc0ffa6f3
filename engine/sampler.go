// Package engine turns a model's logits into generated sequences: the
// sampler, per-token logprobs, stop conditions, and the generation loop.
package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
)

// SamplingParams are the knobs of the sampler. The zero value is not
// neutral (it is greedy, Temperature 0); DefaultSampling is: plain sampling
// from the model's distribution, nothing truncated.
type SamplingParams struct {
	Temperature float64 // 0 = greedy
	TopK        int     // ≤ 0 = off
	TopP        float64 // 1 = off; must be in (0, 1]
	MinP        float64 // 0 = off; must be in [0, 1)
	Seed        uint64
}

// DefaultSampling samples from the unmodified distribution: aha's defaults
// are neutral, so RL runs and reference comparisons see the model as it is.
func DefaultSampling() SamplingParams { return SamplingParams{Temperature: 1, TopP: 1} }

// Validate checks the ranges.
func (p *SamplingParams) Validate() error {
	switch {
	case p.Temperature < 0 || math.IsNaN(p.Temperature):
		return fmt.Errorf("temperature %g must be ≥ 0", p.Temperature)
	case !(p.TopP > 0 && p.TopP <= 1):
		return fmt.Errorf("top_p %g must be in (0, 1]", p.TopP)
	case !(p.MinP >= 0 && p.MinP < 1):
		return fmt.Errorf("min_p %g must be in [0, 1)", p.MinP)
	}
	return nil
}

// Sampler draws tokens from logits. It owns its random stream, so a
// sequence's tokens depend only on its seed and its logits.
type Sampler struct {
	p   SamplingParams
	rng *rand.Rand
	// scratch
	cand []candidate
}

type candidate struct {
	id int
	p  float64
}

// NewSampler makes a sampler; the seed fixes its random stream.
func NewSampler(p SamplingParams) (*Sampler, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Sampler{p: p, rng: rand.New(rand.NewPCG(p.Seed, 0x61686121))}, nil
}

// Sample picks the next token from logits.
func (s *Sampler) Sample(logits []float32) int {
	if s.p.Temperature == 0 {
		return Argmax(logits)
	}
	// Candidates with probabilities at this temperature, best first; ties
	// keep id order so the result does not depend on the sort's whims.
	s.cand = s.cand[:0]
	max := logits[Argmax(logits)]
	var sum float64
	for id, l := range logits {
		e := math.Exp(float64(l-max) / s.p.Temperature)
		s.cand = append(s.cand, candidate{id, e})
		sum += e
	}
	for i := range s.cand {
		s.cand[i].p /= sum
	}
	sort.SliceStable(s.cand, func(i, j int) bool { return s.cand[i].p > s.cand[j].p })

	keep := len(s.cand)
	if s.p.TopK > 0 && s.p.TopK < keep {
		keep = s.p.TopK
	}
	if s.p.TopP < 1 {
		var cum float64
		for i := 0; i < keep; i++ {
			cum += s.cand[i].p
			if cum >= s.p.TopP {
				keep = i + 1
				break
			}
		}
	}
	if s.p.MinP > 0 {
		floor := s.p.MinP * s.cand[0].p
		for i := 1; i < keep; i++ {
			if s.cand[i].p < floor {
				keep = i
				break
			}
		}
	}
	var total float64
	for _, c := range s.cand[:keep] {
		total += c.p
	}
	r := s.rng.Float64() * total
	for _, c := range s.cand[:keep] {
		r -= c.p
		if r < 0 {
			return c.id
		}
	}
	return s.cand[keep-1].id
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
