package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/quant"
)

// idDecoder stands in for the tokenizer: every id becomes "<id>".
type idDecoder struct{}

func (idDecoder) Add(id int) string { return fmt.Sprintf("<%d>", id) }
func (idDecoder) Flush() string     { return "" }

// newEngine runs the embedded stories260K model on the CPU backend.
func newEngine(t *testing.T, threads int, opts Options) *Engine {
	t.Helper()
	cpu := kernels.NewCPU(threads)
	t.Cleanup(cpu.Close)
	return newEngineOn(t, cpu, opts)
}

// newEngineOn runs the embedded stories260K model on backend b.
func newEngineOn(t *testing.T, b kernels.Backend, opts Options) *Engine {
	t.Helper()
	m, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	m.SetBackend(b)
	if opts.NewDecoder == nil {
		opts.NewDecoder = func([]int) Decoder { return idDecoder{} }
	}
	e, err := New(m, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close()
		m.Close()
	})
	return e
}

// forEachKVType runs test once per KV type, each a subtest.
func forEachKVType(t *testing.T, test func(*testing.T, quant.Type)) {
	for _, kt := range kernels.KVTypes {
		t.Run(kt.String(), func(t *testing.T) { test(t, kt) })
	}
}

// checkBlocksFree asserts that, the prefix cache dropped, every KV block
// is back on the free list.
func checkBlocksFree(t *testing.T, e *Engine) {
	t.Helper()
	e.ResetPrefixCache()
	if s := e.Stats(); s.BlocksUsed != 0 || e.cache.FreeBlocks() != e.cache.Blocks() {
		t.Errorf("%d blocks still held (%d of %d free)", s.BlocksUsed, e.cache.FreeBlocks(), e.cache.Blocks())
	}
}

func generate(t *testing.T, e *Engine, req Request) *Output {
	t.Helper()
	out, err := e.Generate(context.Background(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGenerateStories greedy-decodes the embedded stories260K model from
// "Once upon a time" and expects llama.cpp's 64 tokens.
func TestGenerateStories(t *testing.T) {
	var ref struct {
		Prompt    []int `json:"prompt_token_ids_with_bos"`
		Generated []int `json:"generated_token_ids"`
	}
	data, err := os.ReadFile(shared.Path(t, "models/stories260K/reference-greedy-llama.cpp.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, 2, Options{})
	var streamed strings.Builder
	var ids []int
	out, err := e.Generate(context.Background(), Request{
		Prompt: ref.Prompt, Sampling: SamplingParams{TopP: 1}, MaxTokens: len(ref.Generated), Logprobs: true, TopLogprobs: 2,
	}, func(ev Event) error {
		streamed.WriteString(ev.Text)
		ids = append(ids, ev.ID)
		if len(ev.Top) != 2 || ev.Top[0].ID != ev.ID || ev.Top[0].Logprob != ev.Logprob {
			t.Errorf("token %d: top %v, logprob %v", ev.ID, ev.Top, ev.Logprob)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s := out.Samples[0]
	if !reflect.DeepEqual(s.Tokens, ref.Generated) || !reflect.DeepEqual(ids, s.Tokens) {
		t.Errorf("tokens\n got %v\nwant %v", s.Tokens, ref.Generated)
	}
	if s.FinishReason != FinishLength || streamed.String() != s.Text || len(s.Logprobs) != len(s.Tokens) {
		t.Errorf("finish %q, streamed %q, text %q, %d logprobs", s.FinishReason, streamed.String(), s.Text, len(s.Logprobs))
	}

	// A stop string ends the text before it (or after it, if asked); a stop
	// token ends at once.
	stopAt := fmt.Sprintf("<%d>", ref.Generated[5])
	req := Request{Prompt: ref.Prompt, Sampling: SamplingParams{TopP: 1}, MaxTokens: 64, Stop: []string{stopAt}}
	s = generate(t, e, req).Samples[0]
	if s.FinishReason != FinishStop || strings.Contains(s.Text, stopAt) || len(s.Tokens) != 6 {
		t.Errorf("stop string: finish %q, %d tokens, text %q", s.FinishReason, len(s.Tokens), s.Text)
	}
	req.IncludeStop = true
	if s := generate(t, e, req).Samples[0]; !strings.HasSuffix(s.Text, stopAt) {
		t.Errorf("include stop: text %q should end with %q", s.Text, stopAt)
	}
	req = Request{Prompt: ref.Prompt, Sampling: SamplingParams{TopP: 1}, MaxTokens: 64, StopIDs: []int{ref.Generated[3]}}
	if s := generate(t, e, req).Samples[0]; s.FinishReason != FinishStop || len(s.Tokens) != 4 {
		t.Errorf("stop id: finish %q after %d tokens", s.FinishReason, len(s.Tokens))
	}
	// min_tokens holds the stop id back: it cannot be sampled before.
	req.MinTokens = 10
	if s := generate(t, e, req).Samples[0]; len(s.Tokens) < 10 || slices.Contains(s.Tokens[:9], ref.Generated[3]) {
		t.Errorf("min tokens: %d tokens %v", len(s.Tokens), s.Tokens)
	}
	checkBlocksFree(t, e)
}

// TestAbortReturnsPartial cancels a request midway and by AbortAll.
func TestAbortReturnsPartial(t *testing.T) {
	e := newEngine(t, 2, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	out, err := e.Generate(ctx, Request{Prompt: []int{1, 403, 407}, N: 2, Sampling: DefaultSampling(), MaxTokens: 200, IgnoreEOS: true}, func(ev Event) error {
		if n++; n == 6 {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range out.Samples {
		if s.FinishReason != FinishAbort || len(s.Tokens) < 3 || len(s.Tokens) >= 200 {
			t.Errorf("sample %d: finish %q after %d tokens, want abort partway", s.Index, s.FinishReason, len(s.Tokens))
		}
	}
	// An error from emit aborts too, and is returned with the output.
	boom := fmt.Errorf("client went away")
	out, err = e.Generate(context.Background(), Request{Prompt: []int{1, 403}, Sampling: DefaultSampling(), MaxTokens: 200, IgnoreEOS: true}, func(Event) error { return boom })
	if err != boom || out == nil || out.Samples[0].FinishReason != FinishAbort {
		t.Errorf("emit error: %v, %+v", err, out)
	}

	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var once sync.Once
		out, err := e.Generate(context.Background(), Request{Prompt: []int{1, 403}, Sampling: DefaultSampling(), MaxTokens: 1000, IgnoreEOS: true}, func(Event) error {
			once.Do(func() { close(started) })
			return nil
		})
		if err != nil || out.Samples[0].FinishReason != FinishAbort {
			t.Errorf("AbortAll: %v %+v", err, out)
		}
	}()
	<-started
	e.AbortAll()
	wg.Wait()
	checkBlocksFree(t, e)
}

// TestScoreAborted aborts a scoring request waiting behind a generation
// (one sequence at a time): Score says it was aborted.
func TestScoreAborted(t *testing.T) {
	e := newEngine(t, 2, Options{MaxSeqs: 1})
	started := make(chan struct{})
	var once sync.Once
	done := make(chan error)
	go func() {
		_, err := e.Generate(context.Background(), Request{Prompt: []int{1, 403}, Sampling: DefaultSampling(), MaxTokens: 1000, IgnoreEOS: true}, func(Event) error {
			once.Do(func() { close(started) })
			return nil
		})
		done <- err
	}()
	<-started
	scored := make(chan error)
	go func() {
		_, err := e.Score(context.Background(), []int{1, 403}, []int{407, 261}, DefaultSampling(), LogprobsProcessed, 0)
		scored <- err
	}()
	for e.Stats().Waiting == 0 {
		time.Sleep(time.Millisecond)
	}
	e.AbortAll()
	if err := <-scored; !errors.Is(err, ErrAborted) {
		t.Errorf("Score: %v, want ErrAborted", err)
	}
	if err := <-done; err != nil {
		t.Errorf("Generate: %v", err)
	}
	checkBlocksFree(t, e)
}

func TestGenerateErrors(t *testing.T) {
	e := newEngine(t, 1, Options{})
	long := make([]int, 2048)
	for _, tc := range []struct {
		req  Request
		want string
	}{
		{Request{Sampling: DefaultSampling()}, "prompt is empty"},
		{Request{Prompt: long, Sampling: DefaultSampling()}, "the context holds 2048"},
		{Request{Prompt: []int{1, 9999}, Sampling: DefaultSampling()}, "outside the vocabulary"},
		{Request{Prompt: []int{1}, Sampling: SamplingParams{Temperature: -1, TopP: 1}}, "temperature"},
		{Request{Prompt: []int{1}, N: 100000, Sampling: DefaultSampling()}, "exceeds"},
		{Request{Prompt: []int{1}, Sampling: DefaultSampling(), LogprobMode: "fancy"}, "logprob mode"},
		{Request{Prompt: []int{1}, Sampling: DefaultSampling(), MinTokens: 5, MaxTokens: 2}, "min_tokens"},
	} {
		_, err := e.Generate(context.Background(), tc.req, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
}

// rlRequest is a request as RL rollouts send them: sampling at
// temperature 1 with a seed, several samples, penalties and truncation on.
func rlRequest(prompt []int, n int, seed uint64) Request {
	return Request{Prompt: prompt, N: n, MaxTokens: 24, IgnoreEOS: true, Logprobs: true,
		Sampling: SamplingParams{Temperature: 0.9, TopK: 40, TopP: 0.95, MinP: 0.01, PresencePenalty: 0.2, Seed: seed}}
}

var testPrompts = [][]int{
	{1, 403, 407, 261, 378, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 311, 312, 313},
	{1, 67, 89},
	{1, 403, 407, 261, 378, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 311, 400, 401, 402},
	{1, 9, 10, 11, 12, 13},
}

// TestDeterminismAcrossBatches runs each request alone at one thread, then
// all together in different orders and batch limits at one and two
// threads: every sample's tokens and logprobs must be identical.
func TestDeterminismAcrossBatches(t *testing.T) { forEachKVType(t, testDeterminismAcrossBatches) }

func testDeterminismAcrossBatches(t *testing.T, kvType quant.Type) {
	alone := newEngine(t, 1, Options{KVType: kvType, MaxSeqs: 1, DisablePrefixCache: true})
	var want []*Output
	for i, p := range testPrompts {
		req := rlRequest(p, 1, uint64(10*i))
		want = append(want, generate(t, alone, req))
	}
	for _, tc := range []struct {
		threads, maxSeqs, budget int
		reverse                  bool
	}{
		{1, 64, 512, false},
		{2, 64, 512, true},
		{2, 3, 7, false}, // small steps: prompts split into chunks beside decodes
	} {
		e := newEngine(t, tc.threads, Options{KVType: kvType, MaxSeqs: tc.maxSeqs, MaxBatchTokens: tc.budget})
		got := make([]*Output, len(testPrompts))
		var wg sync.WaitGroup
		for k := range testPrompts {
			i := k
			if tc.reverse {
				i = len(testPrompts) - 1 - k
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := e.Generate(context.Background(), rlRequest(testPrompts[i], 1, uint64(10*i)), nil)
				if err != nil {
					t.Error(err)
					return
				}
				got[i] = out
			}()
		}
		wg.Wait()
		for i := range want {
			if got[i] == nil {
				continue
			}
			g, w := got[i].Samples[0], want[i].Samples[0]
			if !reflect.DeepEqual(g.Tokens, w.Tokens) || !reflect.DeepEqual(g.Logprobs, w.Logprobs) {
				t.Errorf("%+v prompt %d: batched\n %v\nalone\n %v", tc, i, g.Tokens, w.Tokens)
			}
		}
		checkBlocksFree(t, e)
	}
}

// TestForkMatchesSeparateRuns checks that n samples sharing one prefill
// give exactly the tokens of n separate requests with seeds s…s+n−1, and
// that a prefix-cache hit gives the same tokens as a miss.
func TestForkMatchesSeparateRuns(t *testing.T) { forEachKVType(t, testForkMatchesSeparateRuns) }

func testForkMatchesSeparateRuns(t *testing.T, kvType quant.Type) {
	e := newEngine(t, 2, Options{KVType: kvType})
	const n, seed = 5, 100
	prompt := testPrompts[0]
	forked := generate(t, e, rlRequest(prompt, n, seed))
	if forked.CachedTokens != 0 {
		t.Errorf("first request: %d cached tokens, want 0", forked.CachedTokens)
	}
	for i := 0; i < n; i++ {
		one := generate(t, e, rlRequest(prompt, 1, seed+uint64(i)))
		if one.CachedTokens != 16 {
			t.Errorf("repeat of a 19-token prompt: %d cached tokens, want 16 (one block)", one.CachedTokens)
		}
		s := forked.Samples[i]
		if s.Seed != seed+uint64(i) || !reflect.DeepEqual(s.Tokens, one.Samples[0].Tokens) || !reflect.DeepEqual(s.Logprobs, one.Samples[0].Logprobs) {
			t.Errorf("sample %d (seed %d): forked %v, alone %v", i, s.Seed, s.Tokens, one.Samples[0].Tokens)
		}
	}
	if reflect.DeepEqual(forked.Samples[0].Tokens, forked.Samples[1].Tokens) {
		t.Error("samples with different seeds gave the same tokens")
	}
	miss := newEngine(t, 2, Options{KVType: kvType, DisablePrefixCache: true})
	if out := generate(t, miss, rlRequest(prompt, 1, seed)); !reflect.DeepEqual(out.Samples[0].Tokens, forked.Samples[0].Tokens) {
		t.Error("a prefix-cache hit gave other tokens than a miss")
	}
	checkBlocksFree(t, e)
}

// TestPreemption runs more work than a tiny cache holds: sequences are
// evicted and recomputed, and every sample still gets its own tokens.
func TestPreemption(t *testing.T) { forEachKVType(t, testPreemption) }

func testPreemption(t *testing.T, kvType quant.Type) {
	big := newEngine(t, 2, Options{KVType: kvType})
	small := newEngine(t, 2, Options{KVType: kvType, CacheTokens: 96, BlockSize: 8})
	var wg sync.WaitGroup
	for i, p := range testPrompts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := rlRequest(p, 3, uint64(i))
			req.MaxTokens = 40
			want, err := big.Generate(context.Background(), req, nil)
			if err != nil {
				t.Error(err)
				return
			}
			got, err := small.Generate(context.Background(), req, nil)
			if err != nil {
				t.Error(err)
				return
			}
			for j := range want.Samples {
				if !reflect.DeepEqual(got.Samples[j].Tokens, want.Samples[j].Tokens) {
					t.Errorf("prompt %d sample %d: with preemption %v, without %v", i, j, got.Samples[j].Tokens, want.Samples[j].Tokens)
				}
			}
		}()
	}
	wg.Wait()
	if small.Stats().Preemptions == 0 {
		t.Error("the small cache never preempted: the test does not test preemption")
	}
	checkBlocksFree(t, small)
	// A request that cannot fit even alone fails with a clear error.
	_, err := small.Generate(context.Background(), Request{Prompt: testPrompts[0], N: 20, Sampling: DefaultSampling(), MaxTokens: 200, IgnoreEOS: true}, nil)
	if err == nil || !strings.Contains(err.Error(), "KV cache") {
		t.Errorf("oversized request: %v", err)
	}
	checkBlocksFree(t, small)
}

// TestPreemptionAmongSiblings: one request whose samples fit the cache one
// at a time but not together. Its samples preempt each other (the newest
// sample first) instead of failing the request, and every sample gets the
// tokens it gets in a large cache.
func TestPreemptionAmongSiblings(t *testing.T) { forEachKVType(t, testPreemptionAmongSiblings) }

func testPreemptionAmongSiblings(t *testing.T, kvType quant.Type) {
	big := newEngine(t, 2, Options{KVType: kvType})
	small := newEngine(t, 2, Options{KVType: kvType, CacheTokens: 96, BlockSize: 8})
	req := rlRequest(testPrompts[0], 4, 9)
	req.MaxTokens = 60 // one sample needs 79 of the 96 positions; four need ~260
	want := generate(t, big, req)
	got := generate(t, small, req)
	for j := range want.Samples {
		if !reflect.DeepEqual(got.Samples[j].Tokens, want.Samples[j].Tokens) {
			t.Errorf("sample %d: with preemption %v, without %v", j, got.Samples[j].Tokens, want.Samples[j].Tokens)
		}
	}
	if small.Stats().Preemptions == 0 {
		t.Error("the small cache never preempted: the test does not test preemption")
	}
	checkBlocksFree(t, small)
}

// TestQueueReleasesRequests: once finished, no request stays reachable
// from the scheduler (each holds its samplers and outputs: megabytes over a
// real vocabulary, once per prompt of a large batch).
func TestQueueReleasesRequests(t *testing.T) {
	e := newEngine(t, 2, Options{MaxSeqs: 2})
	var refs []weak.Pointer[request]
	func() {
		var reqs []*request
		for i := range 32 {
			r, err := e.submit(context.Background(), rlRequest(testPrompts[i%len(testPrompts)], 2, uint64(i)), nil)
			if err != nil {
				t.Fatal(err)
			}
			reqs = append(reqs, r)
			refs = append(refs, weak.Make(r))
		}
		for _, r := range reqs {
			for {
				if _, fin := r.wait(); fin {
					break
				}
			}
			if r.err != nil {
				t.Fatal(r.err)
			}
		}
	}()
	runtime.GC()
	runtime.GC()
	held := 0
	for _, w := range refs {
		if w.Value() != nil {
			held++
		}
	}
	if held > 0 {
		t.Errorf("%d of %d finished requests are still reachable", held, len(refs))
	}
	checkBlocksFree(t, e)
}

// TestScoreAgreesWithSampling scores sampled completions and expects the
// logprobs sampling reported, in every mode, with fewer top logprobs than
// top-k keeps and with more (the list is then filled with removed tokens);
// prompt logprobs must agree with scoring the prompt's tail.
func TestScoreAgreesWithSampling(t *testing.T) { forEachKVType(t, testScoreAgreesWithSampling) }

func testScoreAgreesWithSampling(t *testing.T, kvType quant.Type) {
	e := newEngine(t, 2, Options{KVType: kvType})
	for _, mode := range []LogprobMode{LogprobsProcessed, LogprobsRaw, LogprobsScaled} {
		for _, top := range []int{3, 50} { // rlRequest's top-k is 40
			req := rlRequest(testPrompts[1], 2, 7)
			req.LogprobMode, req.TopLogprobs = mode, top
			out := generate(t, e, req)
			for _, s := range out.Samples {
				p := req.Sampling
				p.Seed = s.Seed
				sc, err := e.Score(context.Background(), req.Prompt, s.Tokens, p, mode, top)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(sc.Logprobs, s.Logprobs) || !reflect.DeepEqual(sc.TopLogprobs, s.TopLogprobs) {
					t.Errorf("%s top %d sample %d: scored %v, sampled %v", mode, top, s.Index, sc.Logprobs, s.Logprobs)
				}
				for pos, alts := range s.TopLogprobs {
					if len(alts) != top {
						t.Errorf("%s top %d sample %d position %d: %d alternatives", mode, top, s.Index, pos, len(alts))
					}
				}
			}
		}
	}
	// Allowed tokens and bad words hold in sampling, and scoring sees them
	// (the bad words through the completion's earlier tokens).
	free := generate(t, e, rlRequest(testPrompts[1], 1, 3)).Samples[0].Tokens
	req := rlRequest(testPrompts[1], 4, 3)
	req.TopLogprobs = 5
	req.Sampling.BadWords = [][]int{{free[0]}, {free[2], free[3]}}
	for id := range 300 {
		req.Sampling.AllowedIDs = append(req.Sampling.AllowedIDs, id+100)
	}
	for _, s := range generate(t, e, req).Samples {
		for i, id := range s.Tokens {
			if id < 100 || id >= 400 || id == free[0] || i > 0 && s.Tokens[i-1] == free[2] && id == free[3] {
				t.Errorf("sample %d: token %d at %d is not allowed (%v)", s.Index, id, i, s.Tokens)
			}
		}
		p := req.Sampling
		p.Seed = s.Seed
		sc, err := e.Score(context.Background(), req.Prompt, s.Tokens, p, LogprobsProcessed, 5)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(sc.Logprobs, s.Logprobs) || !reflect.DeepEqual(sc.TopLogprobs, s.TopLogprobs) {
			t.Errorf("masked sample %d: scored %v, sampled %v", s.Index, sc.Logprobs, s.Logprobs)
		}
	}

	prompt := testPrompts[0]
	out := generate(t, e, Request{Prompt: prompt, Sampling: DefaultSampling(), MaxTokens: 1, PromptLogprobs: true, LogprobMode: LogprobsRaw})
	sc, err := e.Score(context.Background(), prompt[:1], prompt[1:], DefaultSampling(), LogprobsRaw, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out.PromptLogprobs[1:], sc.Logprobs) || out.PromptLogprobs[0] != 0 {
		t.Errorf("prompt logprobs %v, scored %v", out.PromptLogprobs, sc.Logprobs)
	}
	for _, lp := range sc.Logprobs {
		if lp > 0 || math.IsNaN(float64(lp)) {
			t.Errorf("logprob %v", lp)
		}
	}
	checkBlocksFree(t, e)
}

// TestSwap replaces the weights between requests: the same weights give
// the same tokens after the swap, and a model of another shape is refused.
func TestSwap(t *testing.T) { forEachKVType(t, testSwap) }

func testSwap(t *testing.T, kvType quant.Type) {
	e := newEngine(t, 1, Options{KVType: kvType})
	req := rlRequest(testPrompts[0], 2, 9)
	before := generate(t, e, req)
	m2, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	m2.SetBackend(e.Model().Backend())
	old, err := e.Swap(context.Background(), m2)
	if err != nil {
		t.Fatal(err)
	}
	if old == m2 || e.Model() != m2 {
		t.Fatal("swap did not replace the model")
	}
	after := generate(t, e, req)
	if after.CachedTokens != 0 {
		t.Errorf("the prefix cache survived a swap: %d cached tokens", after.CachedTokens)
	}
	for i := range before.Samples {
		if !reflect.DeepEqual(before.Samples[i].Tokens, after.Samples[i].Tokens) {
			t.Errorf("sample %d changed across a swap to the same weights", i)
		}
	}
	other := *m2
	other.Config.Layers++
	if _, err := e.Swap(context.Background(), &other); err == nil || !strings.Contains(err.Error(), "shape") {
		t.Errorf("swap to another shape: %v", err)
	}
	checkBlocksFree(t, e)
}

// TestStatsAfterAbort checks the gauges drop as soon as the last running
// request is aborted, without waiting for another step.
func TestStatsAfterAbort(t *testing.T) {
	e := newEngine(t, 1, Options{DisablePrefixCache: true})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := e.Generate(ctx, Request{Prompt: testPrompts[0], Sampling: DefaultSampling(), MaxTokens: 500, IgnoreEOS: true}, func(Event) error {
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := e.Stats(); s.Running != 0 || s.BlocksUsed != 0 {
		t.Errorf("after the abort: %+v", s)
	}
}

// BenchmarkDecode measures the engine's decode loop on the embedded model,
// one sequence and eight samples of one prompt: with a model this small
// the figure is the engine's own overhead per step.
func BenchmarkDecode(b *testing.B) {
	for _, n := range []int{1, 8} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			m, err := model.Load("")
			if err != nil {
				b.Fatal(err)
			}
			cpu := kernels.NewCPU(2)
			defer cpu.Close()
			m.SetBackend(cpu)
			e, err := New(m, Options{NewDecoder: func([]int) Decoder { return idDecoder{} }})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			tokens := 0
			for b.Loop() {
				out, err := e.Generate(context.Background(), rlRequest(testPrompts[0], n, 1), nil)
				if err != nil {
					b.Fatal(err)
				}
				for _, s := range out.Samples {
					tokens += len(s.Tokens)
				}
			}
			b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tok/s")
		})
	}
}

// TestKVTypeSizes: a byte budget holds twice the positions in a 16-bit
// cache, and a type the cache cannot hold is refused.
func TestKVTypeSizes(t *testing.T) {
	for _, tc := range []struct {
		kvType quant.Type
		blocks int
	}{{quant.F32, 16}, {quant.F16, 32}, {quant.BF16, 32}} {
		m, err := model.Load("")
		if err != nil {
			t.Fatal(err)
		}
		m.SetBackend(kernels.Reference{})
		bytes := int64(16*model.DefaultBlockSize) * m.CacheBytesPerToken(quant.F32)
		e, err := New(m, Options{CacheBytes: bytes, KVType: tc.kvType})
		if err != nil {
			t.Fatal(err)
		}
		if got := e.Stats().BlocksTotal; got != tc.blocks {
			t.Errorf("%v: %d bytes hold %d blocks, want %d", tc.kvType, bytes, got, tc.blocks)
		}
		e.Close()
		if _, err := New(m, Options{KVType: quant.Q8_0}); err == nil {
			t.Error("a Q8_0 KV cache was accepted")
		}
		m.Close()
	}
}
