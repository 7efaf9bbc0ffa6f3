package rollout

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/internal/progress"
	"github.com/aha-inference/aha/rollout/data"
	"github.com/aha-inference/aha/rollout/verify"
)

// A Sampler draws samples of a request, streaming their tokens as events;
// *engine.Engine is one.
type Sampler interface {
	Generate(ctx context.Context, req engine.Request, emit func(engine.Event) error) (*engine.Output, error)
}

// Options configure Run.
type Options struct {
	// Out is the rollout file; its manifest goes beside it (ManifestPath).
	// It is resumed when its manifest matches Manifest (the arguments
	// named in MayDiffer may differ), replaced when Force is set.
	Out       string
	Manifest  Manifest
	MayDiffer []string
	Force     bool

	N     int   // samples per problem
	Shard Shard // the problems this run samples (the zero Shard is All)

	// Request is what every request starts from: sampling parameters,
	// token limits, stop strings. Sampling.Seed is the run's seed: sample
	// j of problem i draws with SampleSeed(seed, i, N, j). Run sets the
	// prompt, the number of samples, their seed and Logprobs.
	Request engine.Request
	Prompts Prompts

	Rewards verify.Rewards
	Scorer  Scorer // a reward program over the verifier (nil: none)

	// Concurrency is the number of requests in flight at once (at least
	// 1): enough of them keep the engine's batch full.
	Concurrency int
	// Log receives the progress bar and notes on resuming (nil: none).
	Log io.Writer
}

// Summary is what a run did.
type Summary struct {
	Records int // in the file at the end
	Resumed int // in the file before the run
	Samples int // drawn by this run
	Tokens  int // completion tokens of those samples
	Reward  float64
	Elapsed time.Duration
}

// String reads "12 samples, 288 tokens in 1.2s, mean reward -3.000".
func (s Summary) String() string {
	if s.Samples == 0 {
		return "nothing left to sample"
	}
	return fmt.Sprintf("%d samples, %d tokens in %v, mean reward %.3f", s.Samples, s.Tokens, s.Elapsed.Round(time.Millisecond), s.Reward/float64(s.Samples))
}

// Run samples opt.N completions of every problem of the shard, verifies
// and scores each, and appends its record to opt.Out as soon as it is
// done, so a long sample never holds back, or when the run is killed
// loses, its finished siblings. problems[i] is the problem with prompt id
// i; the problems outside the shard are not read. A file already holding
// some of the records is resumed: only the missing samples are drawn,
// with the seeds they would have had, so the file ends as an
// uninterrupted run would leave it. Run stops at the first error, or when
// ctx ends, leaving every finished record in the file.
func Run(ctx context.Context, s Sampler, problems []data.Problem, opt Options) (Summary, error) {
	if opt.N < 1 {
		return Summary{}, fmt.Errorf("%d samples per problem: want at least one", opt.N)
	}
	if opt.Shard.N == 0 {
		opt.Shard = All
	}
	log := opt.Log
	if log == nil {
		log = io.Discard
	}
	out, err := Open(opt.Out, opt.Manifest, opt.Force, opt.MayDiffer)
	if err != nil {
		return Summary{}, err
	}
	defer out.Close()
	if out.Dropped > 0 {
		fmt.Fprintf(log, "dropped a half-written last line (%d bytes) of %s\n", out.Dropped, opt.Out)
	}
	sum := Summary{Resumed: out.Len()}

	jobs, total, done, err := plan(problems, out, opt)
	if err != nil {
		return sum, err
	}
	if sum.Resumed > 0 {
		fmt.Fprintf(log, "resuming %s: %d samples already done, %d prompts to go\n", opt.Out, sum.Resumed, total-done)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	bar := progress.New(log, "rollout", int64(total))
	bar.Add(int64(done))
	st := &stats{start: time.Now()}
	queue := make(chan job)
	var wg sync.WaitGroup
	for range min(max(opt.Concurrency, 1), max(len(jobs), 1)) {
		wg.Go(func() {
			for j := range queue {
				if err := sample(ctx, s, out, j, opt, st); err != nil {
					cancel(err)
					continue
				}
				if j.prompt.pending.Add(-1) == 0 {
					bar.Add(1)
				}
				bar.SetInfo(st.info())
			}
		})
	}
feed:
	for _, j := range jobs {
		select {
		case queue <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	st.summarize(&sum)
	sum.Records = out.Len()
	if err := context.Cause(ctx); err != nil {
		return sum, err
	}
	bar.Finish()
	return sum, nil
}

// job is one request: samples [start, end) of a prompt.
type job struct {
	prompt     *prompt
	start, end int
}

// prompt is a problem ready to sample.
type prompt struct {
	id      int
	problem data.Problem
	text    string
	ids     []int
	pending atomic.Int32 // jobs not yet finished
}

// plan renders the prompts of the shard that still need samples and
// splits what they need into requests; total counts the shard's prompts,
// done those already complete.
func plan(problems []data.Problem, out *Output, opt Options) (jobs []job, total, done int, err error) {
	for id, p := range problems {
		if !opt.Shard.Has(id) {
			continue
		}
		total++
		runs := Missing(out.Done, id, opt.N)
		if len(runs) == 0 {
			done++
			continue
		}
		rp := &prompt{id: id, problem: p}
		if rp.text, rp.ids, err = opt.Prompts.Render(p); err != nil {
			return nil, 0, 0, fmt.Errorf("prompt %d: %w", id, err)
		}
		rp.pending.Store(int32(len(runs)))
		for _, r := range runs {
			jobs = append(jobs, job{rp, r[0], r[1]})
		}
	}
	return jobs, total, done, nil
}

// sample draws one request's samples; each is scored and its record
// appended as soon as that sample finishes.
func sample(ctx context.Context, s Sampler, out *Output, j job, opt Options, st *stats) error {
	p := j.prompt
	req := opt.Request
	req.Prompt, req.N, req.Logprobs = p.ids, j.end-j.start, true
	req.Sampling.Seed = SampleSeed(opt.Request.Sampling.Seed, p.id, opt.N, j.start)
	start := time.Now()
	type partial struct {
		ids  []int
		lps  []float32
		text strings.Builder
	}
	samples := make([]partial, req.N)
	_, err := s.Generate(ctx, req, func(ev engine.Event) error {
		sp := &samples[ev.Sample]
		if ev.ID >= 0 {
			sp.ids = append(sp.ids, ev.ID)
			sp.lps = append(sp.lps, ev.Logprob)
		}
		sp.text.WriteString(ev.Text)
		switch ev.Finish {
		case "":
			return nil
		case engine.FinishAbort:
			return ctx.Err() // interrupted: an unfinished sample is not a record
		}
		rec := &Record{
			PromptID: p.id, SampleIndex: j.start + ev.Sample, Seed: req.Sampling.Seed + uint64(ev.Sample),
			Task: p.problem.Task, Level: p.problem.Level, Prompt: p.text, Answer: p.problem.Answer,
			Completion: sp.text.String(), PromptTokenIDs: p.ids, CompletionTokenIDs: sp.ids,
			Logprobs: JSONLogprobs(sp.lps), FinishReason: ev.Finish,
			Elapsed: time.Since(start).Seconds(),
		}
		if err := Score(ctx, rec, opt.Rewards, opt.Scorer); err != nil {
			return err
		}
		if err := out.Append(rec); err != nil {
			return fmt.Errorf("%s: %w", opt.Out, err)
		}
		st.add(rec)
		return nil
	})
	if err != nil {
		return fmt.Errorf("prompt %d: %w", p.id, err)
	}
	return nil
}

// stats are a run's running totals, which the progress bar shows.
type stats struct {
	mu      sync.Mutex
	start   time.Time
	samples int
	tokens  int
	reward  float64
}

func (s *stats) add(rec *Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples++
	s.tokens += len(rec.CompletionTokenIDs)
	s.reward += rec.Reward
}

func (s *stats) info() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := time.Since(s.start).Seconds()
	return fmt.Sprintf("%.1f samples/s, %.0f tok/s, mean reward %.3f", float64(s.samples)/sec, float64(s.tokens)/sec, s.reward/float64(max(s.samples, 1)))
}

func (s *stats) summarize(sum *Summary) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum.Samples, sum.Tokens, sum.Reward, sum.Elapsed = s.samples, s.tokens, s.reward, time.Since(s.start)
}
