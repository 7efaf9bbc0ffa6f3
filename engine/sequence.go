package engine

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aha-inference/aha/model"
)

// A request's life: submitted, queued, admitted (its root unit computes
// the prompt), forked into N samples (a unit each) that decode until they
// finish, then retired. Units may be preempted and recomputed on the way.

// request is a submitted Request as the scheduler tracks it.
type request struct {
	req        Request
	ctx        context.Context
	cancel     context.CancelFunc
	completion []int // scoring: the tokens to score, nothing sampled
	submitted  time.Time

	// Delivery to the caller, guarded by mu.
	mu       sync.Mutex
	events   []Event
	finished bool
	notify   chan struct{}
	out      *Output
	scores   *Scores
	err      error

	// Scheduler state.
	samples  []*sample
	left     int // samples not finished
	root     *unit
	started  time.Time
	firstTok time.Time
	promptLP *Sampler // computes prompt logprobs and scores
}

func (r *request) push(ev Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	r.signal()
}

func (r *request) signal() {
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// wait returns the events so far, and whether the request is finished.
func (r *request) wait() ([]Event, bool) {
	<-r.notify
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	// The scheduler pushes a request's last events before it finishes it,
	// so once finished is seen with the queue emptied nothing more comes.
	return ev, r.finished
}

func (r *request) finish() {
	r.mu.Lock()
	r.finished = true
	r.mu.Unlock()
	r.cancel()
	r.signal()
}

// sample is one of a request's samples.
type sample struct {
	r       *request
	index   int
	seed    uint64
	sampler *Sampler
	tokens  []int
	lps     []float32
	tops    [][]TokenLogprob
	out     *output
	finish  string
	unit    *unit
}

// unit is a sequence in the cache and the tokens it must still be fed:
// a request's prompt before it forks (root), or a sample's last token (or,
// after a preemption, its whole prompt and output again).
type unit struct {
	r        *request
	s        *sample // nil for a root
	seq      *model.Seq
	feed     []int
	rowsFrom int // positions from here on want their logits (scoring, prompt logprobs); -1: only the last
	age      age
}

// rootFeed is what a request's root computes: its prompt (and, to score,
// the completion but its last token), from which position on it wants
// logits (−1: the last only), and how much of it may come from the prefix
// cache.
func rootFeed(r *request) (feed []int, rowsFrom, limit int) {
	prompt := r.req.Prompt
	switch {
	case r.completion != nil:
		return append(slices.Clone(prompt), r.completion[:len(r.completion)-1]...), len(prompt) - 1, len(prompt) - 1
	case r.req.PromptLogprobs:
		// Every prompt row is needed: nothing comes from the prefix cache.
		return prompt, 0, 0
	}
	return prompt, -1, len(prompt) - 1
}

// admit starts a request on the cached blocks its prompt begins with
// (keys, the prefix cache's match).
func (e *Engine) admit(r *request, keys []uint64) *unit {
	e.order++
	r.left = r.req.N
	r.out = &Output{PromptTokens: len(r.req.Prompt)}
	feed, rowsFrom, _ := rootFeed(r)
	u := &unit{r: r, feed: feed, rowsFrom: rowsFrom, age: age{order: e.order, index: -1}}
	switch {
	case r.completion != nil:
		r.promptLP = NewSampler(r.req.Sampling, r.req.Prompt, r.req.MinTokens, e.stopIDsFor(r.req))
	case r.req.PromptLogprobs:
		r.promptLP = NewSampler(r.req.Sampling, nil, 0, nil)
		r.out.PromptLogprobs = make([]float32, len(r.req.Prompt))
		if r.req.PromptTopLogprobs > 0 {
			r.out.PromptTopLogprobs = make([][]TokenLogprob, len(r.req.Prompt))
		}
	}
	e.attach(u, keys)
	r.out.CachedTokens = len(feed) - len(u.feed)
	r.root = u
	e.units = append(e.units, u)
	e.active = append(e.active, r)
	e.counts.PromptTokens += int64(len(r.req.Prompt))
	e.counts.CachedTokens += int64(r.out.CachedTokens)
	return u
}

// attach gives u a sequence that starts with the cached blocks of keys.
func (e *Engine) attach(u *unit, keys []uint64) {
	blocks := e.prefix.use(keys)
	n := len(blocks) * e.cache.BlockSize()
	u.seq = e.cache.NewSeqFrom(blocks, n)
	u.feed = u.feed[n:]
}

// preempt frees u's blocks; it will be recomputed from its tokens, which
// gives the same keys and values (each row is computed alone).
func (e *Engine) preempt(u *unit) {
	u.seq.Free()
	u.seq = nil
	u.feed = slices.Clone(u.r.req.Prompt)
	if u.s != nil {
		u.feed = append(u.feed, u.s.tokens...)
	}
}

// fork turns a root whose prompt is done into N samples sharing its
// blocks, and lists the prompt's full blocks in the prefix cache.
func (e *Engine) fork(u *unit) []*sample {
	r := u.r
	e.prefix.insert(r.req.Prompt, u.seq.Blocks())
	stop := e.stopIDsFor(r.req)
	maxTok := e.context - len(r.req.Prompt)
	if r.req.MaxTokens > 0 {
		maxTok = min(maxTok, r.req.MaxTokens)
	}
	e.removeUnit(u)
	r.root = nil
	for i := 0; i < r.req.N; i++ {
		p := r.req.Sampling
		p.Seed += uint64(i)
		s := &sample{r: r, index: i, seed: p.Seed, sampler: NewSampler(p, r.req.Prompt, r.req.MinTokens, stop),
			out: e.newOutput(r.req, stop, maxTok)}
		seq := u.seq
		if i > 0 {
			seq = u.seq.Fork()
		}
		s.unit = &unit{r: r, s: s, seq: seq, rowsFrom: -1, age: age{order: u.age.order, index: i}}
		r.samples = append(r.samples, s)
		e.units = append(e.units, s.unit)
	}
	return r.samples
}

// popQueue takes the first queued request. Its slot is cleared: the
// queue's array outlives the requests it has handed out, and each holds
// megabytes once sampling (its samplers, its outputs).
func (e *Engine) popQueue() *request {
	r := e.queue[0]
	e.queue[0] = nil
	e.queue = e.queue[1:]
	return r
}

// release frees u's blocks and forgets it.
func (e *Engine) release(u *unit) {
	if u.seq != nil {
		u.seq.Free()
		u.seq = nil
	}
	e.removeUnit(u)
}

func (e *Engine) removeUnit(u *unit) {
	if i := slices.Index(e.units, u); i >= 0 {
		e.units = slices.Delete(e.units, i, i+1)
	}
}

// end retires a finished sample; the request ends with its last sample.
// Its sampler goes at once: over a real vocabulary it is megabytes, and
// the other samples may run much longer.
func (e *Engine) end(s *sample) {
	e.release(s.unit)
	s.sampler = nil
	s.out.dec = nil
	if s.r.left--; s.r.left == 0 {
		e.retire(s.r)
	}
}

// abort ends every unfinished sample of r with FinishAbort.
func (e *Engine) abort(r *request) {
	if r.completion != nil {
		r.scores = nil // Score reports the abort
		e.retire(r)
		return
	}
	if r.root != nil {
		// Still in its prompt: no sample has begun.
		abortedSamples(r)
		for _, s := range r.samples {
			r.push(Event{Sample: s.index, ID: -1, Finish: FinishAbort})
		}
		e.retire(r)
		return
	}
	for _, s := range r.samples {
		if s.finish == "" {
			s.finish = FinishAbort
			r.push(Event{Sample: s.index, ID: -1, Text: s.out.flush(), Finish: FinishAbort})
			e.end(s)
		}
	}
}

// abortQueued ends a request that never started: its samples are empty,
// or, when the engine closes, it fails with ErrClosed.
func (e *Engine) abortQueued(r *request, closed bool) {
	if closed {
		r.err = ErrClosed
	} else if r.completion == nil {
		abortedSamples(r)
	}
	e.retire(r)
}

// abortedSamples gives a request that never sampled its N samples,
// ended with FinishAbort and empty.
func abortedSamples(r *request) {
	for i := 0; i < r.req.N; i++ {
		r.samples = append(r.samples, &sample{r: r, index: i, seed: r.req.Sampling.Seed + uint64(i), out: &output{}, finish: FinishAbort})
	}
	r.left = 0
}

// fail ends r with an error (a cache too small for it, a backend failure).
func (e *Engine) fail(r *request, err error) {
	r.err = fmt.Errorf("engine: %w", err)
	e.retire(r)
}

// retire is the one way a request ends, however it ends: its units are
// freed, its output is assembled unless it failed or was scoring, and the
// caller is woken once the step is settled (the statistics then show its
// blocks returned).
func (e *Engine) retire(r *request) {
	if r.root != nil {
		e.release(r.root)
		r.root = nil
	}
	for _, s := range r.samples {
		if s.unit != nil {
			e.release(s.unit)
		}
	}
	e.active = slices.DeleteFunc(e.active, func(x *request) bool { return x == r })
	if r.err == nil && r.completion == nil {
		if r.out == nil {
			r.out = &Output{PromptTokens: len(r.req.Prompt)}
		}
		for _, s := range r.samples {
			r.out.Samples = append(r.out.Samples, Sample{Index: s.index, Seed: s.seed, Tokens: s.tokens, Text: s.out.text(),
				Logprobs: s.lps, TopLogprobs: s.tops, FinishReason: s.finish})
		}
		if !r.started.IsZero() {
			r.out.Queued = r.started.Sub(r.submitted)
		}
		if !r.firstTok.IsZero() {
			r.out.FirstToken = r.firstTok.Sub(r.submitted)
		}
		r.out.Total = time.Since(r.submitted)
	}
	e.retired = append(e.retired, r)
}
