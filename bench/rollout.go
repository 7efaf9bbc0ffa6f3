package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aha-inference/aha/engine"
)

// RolloutSpec is an RL rollout step: Prompts prompts of PromptTokens
// random tokens, each sampled Samples times for exactly Gen tokens.
type RolloutSpec struct {
	Prompts, Samples, PromptTokens, Gen int
}

// Rollout measures the engine e on spec over reps repetitions after a
// warm-up, two ways, alternating: all prompts submitted at once, one
// Generate call per prompt with N = Samples, from concurrent goroutines
// (the engine batches them), and the same samples as Prompts·Samples
// requests of one sample each, run one after another with the prefix
// cache emptied before each, as independent single-sequence runs would.
// Both rows count generated tokens per second of wall time, prefill
// included. The engine's options are the caller's: a KV cache too small
// for every sample at once makes the engine preempt, as it would in a
// real rollout.
func Rollout(ctx context.Context, e *engine.Engine, spec RolloutSpec, reps int, seed uint64, progress func(int64)) ([]Row, error) {
	if spec.Prompts < 1 || spec.Samples < 1 || spec.PromptTokens < 1 || spec.Gen < 1 {
		return nil, fmt.Errorf("rollout: need at least one prompt, sample, prompt token and generated token (got %+v)", spec)
	}
	m := e.Model()
	rng := rand.New(rand.NewPCG(seed, 0x726f6c6c6f7574))
	prompts := make([][]int, spec.Prompts)
	for i := range prompts {
		prompts[i] = make([]int, spec.PromptTokens)
		for j := range prompts[i] {
			prompts[i][j] = rng.IntN(m.Config.VocabSize)
		}
	}
	request := func(prompt []int, n int, seed uint64) engine.Request {
		p := engine.DefaultSampling()
		p.Seed = seed
		return engine.Request{Prompt: prompt, N: n, MaxTokens: spec.Gen, IgnoreEOS: true, Sampling: p}
	}

	// batched submits every prompt at once and returns generated tokens/s.
	batched := func(gen int) (float64, error) {
		e.ResetPrefixCache()
		var wg sync.WaitGroup
		tokens := make([]int, len(prompts))
		errs := make([]error, len(prompts))
		start := time.Now()
		for i, p := range prompts {
			wg.Go(func() {
				req := request(p, spec.Samples, seed+uint64(i*spec.Samples))
				req.MaxTokens = gen
				out, err := e.Generate(ctx, req, nil)
				if err != nil {
					errs[i] = err
					return
				}
				for _, s := range out.Samples {
					tokens[i] += len(s.Tokens)
				}
			})
		}
		wg.Wait()
		elapsed := time.Since(start)
		total := 0
		for i := range prompts {
			if errs[i] != nil {
				return 0, errs[i]
			}
			total += tokens[i]
		}
		return float64(total) / elapsed.Seconds(), nil
	}
	// single runs the same samples one request at a time.
	single := func() (float64, error) {
		total := 0
		var elapsed time.Duration
		for i, p := range prompts {
			for j := range spec.Samples {
				e.ResetPrefixCache()
				start := time.Now()
				out, err := e.Generate(ctx, request(p, 1, seed+uint64(i*spec.Samples+j)), nil)
				if err != nil {
					return 0, err
				}
				elapsed += time.Since(start)
				total += len(out.Samples[0].Tokens)
			}
		}
		return float64(total) / elapsed.Seconds(), nil
	}

	if _, err := batched(min(spec.Gen, 2)); err != nil {
		return nil, fmt.Errorf("rollout warm-up: %w", err)
	}
	var all, one []float64
	for rep := range reps {
		first, second := func() error {
			tps, err := batched(spec.Gen)
			all = append(all, tps)
			return err
		}, func() error {
			tps, err := single()
			one = append(one, tps)
			return err
		}
		if rep%2 == 1 {
			first, second = second, first
		}
		for _, run := range []func() error{first, second} {
			if err := run(); err != nil {
				return nil, fmt.Errorf("rollout: %w", err)
			}
			tick(progress)
		}
	}
	r := Row{Figure: "rollout", PromptTokens: spec.PromptTokens, GenTokens: spec.Gen, Batch: spec.Prompts * spec.Samples, TokensPerSec: Summarize(all)}
	s := Row{Figure: "rollout_single", PromptTokens: spec.PromptTokens, GenTokens: spec.Gen, Batch: 1, TokensPerSec: Summarize(one)}
	r.compare("single", s.TokensPerSec)
	return []Row{r, s}, nil
}
