package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/quant"
)

// Options size the engine. Zero values pick the defaults.
type Options struct {
	CacheTokens int   // KV cache capacity in positions; 0: from CacheBytes, else DefaultCacheTokens
	CacheBytes  int64 // KV cache capacity in bytes of KVType (used when CacheTokens is 0)
	// KVType is the element type of cached keys and values, one of
	// kernels.KVTypes; its zero value is quant.F32, the exact one.
	KVType         quant.Type
	BlockSize      int // positions per cache block (model.DefaultBlockSize)
	MaxBatchTokens int // tokens per forward step: decode tokens plus prompt chunks (512)
	MaxSeqs        int // sequences running at once (256)
	Context        int // most positions per sequence: the model's, capped by the cache
	// NewDecoder makes the streaming detokenizer each sample's text and
	// stop strings come from (tokenizer.Tokenizer.NewStream), given the
	// prompt, so that a sample's text is what its tokens add to the
	// prompt's text; nil: no text.
	NewDecoder         func(prompt []int) Decoder
	DisablePrefixCache bool
}

// DefaultCacheTokens is the KV cache size when Options name none.
const DefaultCacheTokens = 32768

// Engine runs requests from many goroutines at once. One scheduler
// goroutine owns the model and the cache: each step it batches one token
// of every decoding sequence with chunks of prompts (continuous batching),
// admits new requests as room allows and finishes sequences independently.
type Engine struct {
	opts Options

	mu       sync.Mutex
	incoming []*request
	control  []func()
	abortAll bool
	closed   bool
	stats    Stats // as publish last saw them (Waiting without incoming)
	wake     chan struct{}
	done     chan struct{}

	// Owned by the scheduler goroutine.
	m       *model.Model
	cache   *model.Cache
	prefix  *prefixCache
	queue   []*request // submitted, not yet admitted, in order
	active  []*request // admitted, unfinished
	units   []*unit
	order   uint64
	context int
	counts  Stats      // the counters; publish adds the gauges
	retired []*request // ended this step: their callers wake once it is published
}

// New starts an engine for m.
func New(m *model.Model, opts Options) (*Engine, error) {
	if opts.BlockSize <= 0 {
		opts.BlockSize = model.DefaultBlockSize
	}
	if opts.MaxBatchTokens <= 0 {
		opts.MaxBatchTokens = 512
	}
	if opts.MaxSeqs <= 0 {
		opts.MaxSeqs = 256
	}
	if opts.CacheTokens <= 0 {
		opts.CacheTokens = DefaultCacheTokens
		if opts.CacheBytes > 0 {
			opts.CacheTokens = int(opts.CacheBytes / m.CacheBytesPerToken(opts.KVType))
		}
	}
	if opts.CacheTokens < opts.BlockSize {
		return nil, fmt.Errorf("engine: a KV cache of %d positions is smaller than one block of %d", opts.CacheTokens, opts.BlockSize)
	}
	e := &Engine{opts: opts, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if err := e.setModel(m); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	go e.loop()
	return e, nil
}

// setModel gives the engine a model and a fresh cache for it.
func (e *Engine) setModel(m *model.Model) error {
	cache, err := m.NewCache(e.opts.CacheTokens, e.opts.BlockSize, e.opts.KVType)
	if err != nil {
		return err
	}
	context := min(m.Config.MaxPositions, cache.Blocks()*cache.BlockSize())
	if e.opts.Context > 0 {
		context = min(context, e.opts.Context)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m, e.cache, e.context, e.prefix = m, cache, context, nil
	if !e.opts.DisablePrefixCache {
		e.prefix = newPrefixCache(cache)
	}
	e.publishLocked()
	return nil
}

// Model is the model being served.
func (e *Engine) Model() *model.Model {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.m
}

// Context is the most positions a sequence may hold (prompt and output).
func (e *Engine) Context() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.context
}

// Close aborts every request and stops the scheduler.
func (e *Engine) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.mu.Unlock()
	e.poke()
	<-e.done
}

// AbortAll ends every request now; their samples finish with FinishAbort.
func (e *Engine) AbortAll() {
	e.mu.Lock()
	e.abortAll = true
	e.mu.Unlock()
	e.poke()
}

// ResetPrefixCache forgets every cached prompt prefix.
func (e *Engine) ResetPrefixCache() {
	e.run(func() { e.prefix.reset() })
}

// run has the scheduler call fn between steps, and waits for it.
func (e *Engine) run(fn func()) {
	ran := make(chan struct{})
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.control = append(e.control, func() { fn(); close(ran) })
	e.mu.Unlock()
	e.poke()
	<-ran
}

func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Generate runs req and returns when every sample is done. It is safe to
// call from many goroutines: concurrent requests run batched together.
// emit, if not nil, receives every token as it is produced, in order, on
// the caller's goroutine; an error from emit aborts the request and is
// returned with the partial output. Cancelling ctx aborts the request:
// the samples end with FinishAbort and hold what was generated.
func (e *Engine) Generate(ctx context.Context, req Request, emit func(Event) error) (*Output, error) {
	r, err := e.submit(ctx, req, nil)
	if err != nil {
		return nil, err
	}
	var emitErr error
	for {
		events, fin := r.wait()
		for _, ev := range events {
			if emit != nil && emitErr == nil {
				if emitErr = emit(ev); emitErr != nil {
					r.cancel()
				}
			}
		}
		if fin {
			break
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return r.out, emitErr
}

// Score returns the logprobs of completion's tokens after prompt, as
// sampling with p would report them in the given mode (the penalties see
// the completion's earlier tokens as generated), with top alternatives.
func (e *Engine) Score(ctx context.Context, prompt, completion []int, p SamplingParams, mode LogprobMode, top int) (*Scores, error) {
	if len(completion) == 0 {
		return nil, errors.New("score: the completion is empty")
	}
	req := Request{Prompt: prompt, Sampling: p, LogprobMode: mode, TopLogprobs: top, N: 1}
	r, err := e.submit(ctx, req, completion)
	if err != nil {
		return nil, err
	}
	for {
		if _, fin := r.wait(); fin {
			break
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if r.scores == nil {
		if err := context.Cause(ctx); err != nil {
			return nil, fmt.Errorf("score: %w", err)
		}
		return nil, ErrAborted // by AbortAll or a swap, not by the caller
	}
	return r.scores, nil
}

func (e *Engine) submit(ctx context.Context, req Request, completion []int) (*request, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	if len(req.Stop) > 0 && e.opts.NewDecoder == nil {
		return nil, errors.New("stop strings need a tokenizer, and the engine has none")
	}
	if req.N == 0 {
		req.N = 1
	}
	if req.LogprobMode == "" {
		req.LogprobMode = LogprobsProcessed
	}
	if req.Sampling.TopP == 0 {
		req.Sampling.TopP = 1
	}
	if err := e.check(&req, completion); err != nil {
		return nil, invalidError{err}
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &request{req: req, ctx: ctx, cancel: cancel, completion: completion, submitted: time.Now(), notify: make(chan struct{}, 1)}
	e.incoming = append(e.incoming, r)
	e.poke()
	return r, nil
}

// loop is the scheduler goroutine.
func (e *Engine) loop() {
	defer close(e.done)
	for {
		e.mu.Lock()
		control := e.control
		e.control = nil
		closed, abortAll := e.closed, e.abortAll
		e.abortAll = false
		e.queue = append(e.queue, e.incoming...)
		e.incoming = nil
		e.publishLocked()
		e.mu.Unlock()

		for _, fn := range control {
			fn()
		}
		if closed || abortAll {
			for _, r := range slices.Clone(e.active) {
				e.abort(r)
			}
			for _, r := range e.queue {
				e.abortQueued(r, closed)
			}
			e.queue = nil
		}
		if closed {
			e.mu.Lock()
			for _, fn := range e.control {
				fn()
			}
			for _, r := range e.incoming {
				e.abortQueued(r, true)
			}
			e.incoming = nil
			e.mu.Unlock()
			e.settle()
			return
		}
		e.settle()
		if len(e.active) == 0 && len(e.queue) == 0 {
			<-e.wake
			continue
		}
		e.step(true)
	}
}

// step runs one forward call: cancelled requests are dropped, the
// scheduler plans the batch, the plan is applied and run, and the logits
// become tokens, logprobs and scores.
func (e *Engine) step(admit bool) {
	defer e.settle()
	for _, r := range slices.Clone(e.active) {
		if r.ctx.Err() != nil {
			e.abort(r)
		}
	}
	for len(e.queue) > 0 && e.queue[0].ctx.Err() != nil {
		e.abortQueued(e.popQueue(), false)
	}

	snap := e.snapshot(admit)
	steps, units := e.apply(snap, schedule(snap.state))
	if len(steps) == 0 {
		// Nothing fits, even alone: the oldest sequence cannot grow, or the
		// next request cannot start in an empty cache.
		err := fmt.Errorf("the KV cache (%d positions) cannot hold this request's sequences: %w", e.cache.Blocks()*e.cache.BlockSize(), model.ErrCacheFull)
		switch {
		case len(e.units) > 0:
			e.fail(slices.MinFunc(e.units, func(a, b *unit) int { return compareAge(a.age, b.age) }).r, err)
		case admit && len(e.queue) > 0:
			e.fail(e.popQueue(), err)
		}
		return
	}
	logits, err := e.cache.Forward(steps)
	if err != nil {
		// The step's requests fail (a backend failure, a device lost);
		// the others go on in the next step. A request with several units
		// in the step fails once.
		for _, u := range units {
			if slices.Contains(e.active, u.r) {
				e.fail(u.r, err)
			}
		}
		return
	}
	e.counts.Steps++
	e.logits(steps, units, logits)
}
