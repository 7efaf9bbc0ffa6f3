package bench

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/quant"
)

// prefillChunk is the most prompt tokens one forward call takes, like
// llama.cpp's default micro-batch and the engine's default MaxBatchTokens,
// so long prompts are timed as both engines really run them.
const prefillChunk = 512

// ModelRunner measures prefill and decode directly on the model's batched
// forward pass: no scheduler, no sampling, synthetic token ids. That is
// what llama-bench and llama-batched-bench time too.
type ModelRunner struct {
	m     *model.Model
	cache *model.Cache
	rng   *rand.Rand
}

// NewModelRunner makes a runner for m with a KV cache of kvType large
// enough for every spec (one at a time). Token ids are drawn from seed.
func NewModelRunner(m *model.Model, specs []Spec, kvType quant.Type, seed uint64) (*ModelRunner, error) {
	tokens := 0
	for _, s := range specs {
		if err := s.validate(m.Config.MaxPositions); err != nil {
			return nil, err
		}
		// Each sequence may waste up to one partly filled block.
		need := max(s.Prompt, s.Batch*(s.Depth+s.Gen+model.DefaultBlockSize))
		tokens = max(tokens, need)
	}
	cache, err := m.NewCache(tokens, 0, kvType)
	if err != nil {
		return nil, err
	}
	return &ModelRunner{m: m, cache: cache, rng: rand.New(rand.NewPCG(seed, 0x62656e6368))}, nil
}

func (s Spec) validate(positions int) error {
	switch {
	case s.Figure == "prefill" && s.Prompt < 1:
		return fmt.Errorf("%s: the prompt needs at least one token", s)
	case s.Figure == "prefill" && s.Prompt > positions:
		return fmt.Errorf("%s: the model holds %d positions", s, positions)
	case s.Figure == "decode" && (s.Gen < 1 || s.Batch < 1 || s.Depth < 0):
		return fmt.Errorf("%s: need at least one token, one sequence and a depth ≥ 0", s)
	case s.Figure == "decode" && s.Depth+s.Gen > positions:
		return fmt.Errorf("%s: depth + tokens exceed the model's %d positions", s, positions)
	case s.Figure != "prefill" && s.Figure != "decode":
		return fmt.Errorf("unknown figure %q", s.Figure)
	}
	return nil
}

// WarmUp runs each spec briefly so that buffers are allocated, weights
// paged in and caches warm before anything is timed: a whole prefill, and
// two decode steps at the spec's batch size.
func (r *ModelRunner) WarmUp(specs []Spec) error {
	for _, s := range specs {
		if s.Figure == "decode" {
			s.Depth, s.Gen = 0, min(s.Gen, 2)
		}
		if _, err := r.Measure(s); err != nil {
			return fmt.Errorf("warm-up, %s: %w", s, err)
		}
	}
	return nil
}

// Measure runs spec once and returns its tokens per second: prompt tokens
// over the prefill's time, or generated tokens (all sequences) over the
// decode steps' time. A decode spec first fills each sequence with Depth
// prompt tokens, untimed; each decode step then feeds one token to every
// sequence in one forward call, asking for its logits.
func (r *ModelRunner) Measure(s Spec) (float64, error) {
	if s.Figure == "prefill" {
		seq := r.cache.NewSeq()
		defer seq.Free()
		start := time.Now()
		if err := r.prefill(seq, s.Prompt); err != nil {
			return 0, err
		}
		return float64(s.Prompt) / time.Since(start).Seconds(), nil
	}

	seqs := make([]*model.Seq, s.Batch)
	for i := range seqs {
		seqs[i] = r.cache.NewSeq()
		defer seqs[i].Free()
		if err := r.prefill(seqs[i], s.Depth); err != nil {
			return 0, err
		}
	}
	steps := make([]model.Step, s.Batch)
	tokens := make([]int, s.Batch)
	start := time.Now()
	for range s.Gen {
		for i, seq := range seqs {
			tokens[i] = r.rng.IntN(r.m.Config.VocabSize)
			steps[i] = model.Step{Seq: seq, Tokens: tokens[i : i+1], Logits: 1}
		}
		if _, err := r.cache.Forward(steps); err != nil {
			return 0, err
		}
	}
	return float64(s.Batch*s.Gen) / time.Since(start).Seconds(), nil
}

// prefill appends n random prompt tokens to seq in chunks of prefillChunk,
// asking for the last token's logits as a real prompt would.
func (r *ModelRunner) prefill(seq *model.Seq, n int) error {
	for done := 0; done < n; {
		k := min(prefillChunk, n-done)
		tokens := make([]int, k)
		for i := range tokens {
			tokens[i] = r.rng.IntN(r.m.Config.VocabSize)
		}
		logits := 0
		if done+k == n {
			logits = 1
		}
		if _, err := r.cache.Forward([]model.Step{{Seq: seq, Tokens: tokens, Logits: logits}}); err != nil {
			return err
		}
		done += k
	}
	return nil
}
