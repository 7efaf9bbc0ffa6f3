package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
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

// Decoder turns generated ids into text incrementally without splitting a
// UTF-8 character (the tokenizer's streaming decoder).
type Decoder interface {
	Add(id int) string
	Flush() string
}

// Stats are counters for monitoring.
type Stats struct {
	Running, Waiting        int // sequences decoding or prefilling; requests not yet admitted
	BlocksUsed, BlocksTotal int // KV cache blocks held (the prefix cache's included)
	PromptTokens            int64
	CachedTokens            int64 // prompt positions taken from the prefix cache
	GeneratedTokens         int64
	Preemptions             int64 // sequences evicted from the cache to be recomputed later
	Steps                   int64 // forward calls
}

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
	stats    Stats
	wake     chan struct{}
	done     chan struct{}

	// Owned by the scheduler goroutine.
	m       *model.Model
	cache   *model.Cache
	prefix  *prefixCache
	queue   []*request // admitted in order
	active  []*request // admitted, unfinished
	units   []*unit
	order   uint64
	context int
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
	e.stats.BlocksTotal = cache.Blocks()
	e.stats.BlocksUsed = 0
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

// Stats returns the current counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stats
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

// Swap replaces the model with m, which must have the same architecture
// and shapes. Running requests may finish until ctx ends; the rest are
// aborted. The prefix cache is reset (its keys and values came from the
// old weights). It returns the old model for the caller to close.
func (e *Engine) Swap(ctx context.Context, m *model.Model) (*model.Model, error) {
	old := e.Model()
	if err := e.CheckSwap(m); err != nil {
		return nil, err
	}
	var err error
	e.run(func() {
		// New requests wait in the queue meanwhile: step admits none.
		for len(e.active) > 0 && ctx.Err() == nil {
			e.step(false)
		}
		for _, r := range slices.Clone(e.active) {
			e.abort(r)
		}
		e.prefix.reset()
		err = e.setModel(m)
	})
	if err != nil {
		return nil, fmt.Errorf("swap weights: %w", err)
	}
	return old, nil
}

// CheckSwap says whether Swap would take m: the same architecture and
// shapes as the served model. Call it before paging m in.
func (e *Engine) CheckSwap(m *model.Model) error {
	if err := sameShape(&e.Model().Config, &m.Config); err != nil {
		return fmt.Errorf("swap weights: %w", err)
	}
	return nil
}

func sameShape(a, b *model.Config) error {
	type shape struct {
		arch                                                   string
		vocab, hidden, layers, heads, kvHeads, headDim, interm int
	}
	sa := shape{a.Architecture, a.VocabSize, a.Hidden, a.Layers, a.Heads, a.KVHeads, a.HeadDim, a.Intermediate}
	sb := shape{b.Architecture, b.VocabSize, b.Hidden, b.Layers, b.Heads, b.KVHeads, b.HeadDim, b.Intermediate}
	if sa != sb {
		return fmt.Errorf("the new model's shape %+v differs from the served one's %+v", sb, sa)
	}
	return nil
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
	e.stats.Waiting++
	e.poke()
	return r, nil
}

// check refuses a request the engine cannot run as given.
func (e *Engine) check(req *Request, completion []int) error {
	vocab := e.m.Config.VocabSize
	if err := req.validate(vocab, e.context); err != nil {
		return err
	}
	if err := checkDrawable(req, e.stopIDsFor(*req)); err != nil {
		return err
	}
	if req.N > e.opts.MaxSeqs {
		return fmt.Errorf("n = %d exceeds the engine's %d sequences", req.N, e.opts.MaxSeqs)
	}
	for _, id := range completion {
		if id < 0 || id >= vocab {
			return fmt.Errorf("completion token %d is outside the vocabulary (0…%d)", id, vocab-1)
		}
	}
	if n := len(req.Prompt) + len(completion); completion != nil && n > e.context {
		return fmt.Errorf("prompt and completion hold %d tokens; the context holds %d", n, e.context)
	}
	return nil
}

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
	select {
	case r.notify <- struct{}{}:
	default:
	}
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
	dec     Decoder
	stop    *stopMatcher
	maxTok  int
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
	rowsFrom int    // positions from here on want their logits (scoring, prompt logprobs); -1: only the last
	order    uint64 // admission order (see compareAge): the newest is preempted first
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
		e.mu.Unlock()

		for _, fn := range control {
			fn()
		}
		if len(control) > 0 {
			e.updateStats()
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
			e.mu.Unlock()
			return
		}
		if len(e.active) == 0 && len(e.queue) == 0 {
			<-e.wake
			continue
		}
		e.step(true)
	}
}

// abortQueued ends a request that never started.
func (e *Engine) abortQueued(r *request, closed bool) {
	e.mu.Lock()
	e.stats.Waiting--
	e.mu.Unlock()
	if closed {
		r.err = ErrClosed
	} else {
		r.out = &Output{PromptTokens: len(r.req.Prompt), Total: time.Since(r.submitted)}
		for i := 0; i < r.req.N; i++ {
			r.out.Samples = append(r.out.Samples, Sample{Index: i, Seed: r.req.Sampling.Seed + uint64(i), FinishReason: FinishAbort})
		}
	}
	r.finish()
}

// step runs one forward call: cancelled requests are dropped, then the
// batch is planned (decode tokens first, then prompt chunks, then new
// requests while room lasts), run, and its logits turned into tokens.
func (e *Engine) step(admit bool) {
	defer e.updateStats()
	for _, r := range slices.Clone(e.active) {
		if r.ctx.Err() != nil {
			e.abort(r)
		}
	}
	for len(e.queue) > 0 && e.queue[0].ctx.Err() != nil {
		e.abortQueued(e.popQueue(), false)
	}

	steps, units := e.plan(admit)
	if len(steps) == 0 {
		// Nothing fits, even alone: the oldest sequence cannot grow, or the
		// next request cannot start in an empty cache.
		err := fmt.Errorf("the KV cache (%d positions) cannot hold this request's sequences: %w", e.cache.Blocks()*e.cache.BlockSize(), model.ErrCacheFull)
		switch {
		case len(e.units) > 0:
			e.fail(e.oldest().r, err)
		case admit && len(e.queue) > 0:
			r := e.popQueue()
			e.mu.Lock()
			e.stats.Waiting--
			e.mu.Unlock()
			r.err = err
			r.finish()
		}
		return
	}
	if need := e.reserved(steps); need > e.cache.FreeBlocks() {
		e.prefix.evict(need - e.cache.FreeBlocks())
	}
	logits, err := e.cache.Forward(steps)
	if err != nil {
		// The step's requests fail (a backend failure, a device lost);
		// the others go on in the next step. A request with several units
		// in the step fails once.
		var failed []*request
		for _, u := range units {
			if !slices.Contains(failed, u.r) {
				failed = append(failed, u.r)
				e.fail(u.r, err)
			}
		}
		return
	}
	now := time.Now()
	vocab := e.m.Config.VocabSize
	var draws []draw
	for i, u := range units {
		st := steps[i]
		u.feed = u.feed[len(st.Tokens):]
		if u.r.started.IsZero() {
			u.r.started = now
		}
		var last []float32
		if st.Logits > 0 {
			last = logits[i][(st.Logits-1)*vocab : st.Logits*vocab]
		}
		switch {
		case u.r.completion != nil:
			e.scoreRows(u, st, logits[i])
		case u.s == nil:
			if u.rowsFrom >= 0 {
				e.promptRows(u, st, logits[i])
			}
			if len(u.feed) == 0 {
				for _, s := range e.fork(u) {
					draws = append(draws, draw{s, last})
				}
			}
		case len(u.feed) == 0:
			draws = append(draws, draw{u.s, last})
		}
	}
	e.sampleAll(draws)
	e.mu.Lock()
	e.stats.Steps++
	e.mu.Unlock()
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

// updateStats refreshes the gauges after the scheduler changed the cache.
func (e *Engine) updateStats() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.stats.BlocksUsed = e.cache.Blocks() - e.cache.FreeBlocks()
	running := 0
	for _, r := range e.active {
		running += r.left
	}
	e.stats.Running = running
}

func (e *Engine) reserved(steps []model.Step) int {
	n := 0
	for _, st := range steps {
		n += st.Seq.Needs(len(st.Tokens))
	}
	return n
}

func (e *Engine) oldest() *unit {
	return slices.MinFunc(e.units, compareAge)
}

// compareAge orders units by admission: by request, then by sample index,
// since a request's samples are forked together and share its order. The
// order is total, so preemption can pick any sequence, a sibling included.
func compareAge(a, b *unit) int {
	return cmp.Or(cmp.Compare(a.order, b.order), cmp.Compare(a.index(), b.index()))
}

// index is the unit's sample index; −1 for a root, which has no siblings.
func (u *unit) index() int {
	if u.s == nil {
		return -1
	}
	return u.s.index
}

// plan chooses this step's work within the token budget and the free
// blocks (blocks only the prefix cache holds count as free: they are
// evicted before the step runs), preempting the newest sequences when
// running ones cannot grow.
func (e *Engine) plan(admit bool) ([]model.Step, []*unit) {
	budget := e.opts.MaxBatchTokens
	var steps []model.Step
	var units []*unit
	taken, preempted := map[*unit]bool{}, map[*unit]bool{}
	reserved := 0
	// Counting the evictable blocks walks the prefix cache, so it is
	// redone only when it can change: after a sequence is attached to
	// cached blocks or preempted.
	evictable := e.prefix.evictable()
	recount := func() { evictable = e.prefix.evictable() }
	room := func() int { return e.cache.FreeBlocks() + evictable - reserved }
	take := func(u *unit, k int) {
		reserved += u.seq.Needs(k)
		rows, start := 0, u.seq.Len()
		switch {
		case u.rowsFrom >= 0:
			rows = max(0, start+k-max(start, u.rowsFrom))
		case k == len(u.feed):
			rows = 1
		}
		steps = append(steps, model.Step{Seq: u.seq, Tokens: u.feed[:k], Logits: rows})
		units = append(units, u)
		taken[u] = true
		budget -= k
	}
	// chunk is the most of u's feed that fits the budget and the blocks.
	chunk := func(u *unit) int {
		k := min(len(u.feed), budget)
		for k > 0 && u.seq.Needs(k) > room() {
			k -= max(1, k/2)
		}
		return k
	}
	byAge := slices.SortedFunc(slices.Values(e.units), compareAge)

	// Decode steps: one token per sample, oldest first. A sample that
	// cannot get a block preempts the newest sequences, or waits itself.
	for _, u := range byAge {
		if budget <= 0 {
			break
		}
		if u.s == nil || u.seq == nil || len(u.feed) != 1 || preempted[u] {
			continue
		}
		for u.seq.Needs(1) > room() {
			v := e.newest(u, taken)
			if v == nil {
				break
			}
			e.preempt(v)
			preempted[v] = true
			recount()
		}
		if u.seq.Needs(1) > room() {
			e.preempt(u)
			preempted[u] = true
			recount()
			continue
		}
		take(u, 1)
	}
	// Prompt chunks (prompts in progress, preempted sequences), oldest first.
	for _, u := range byAge {
		if budget <= 0 {
			break
		}
		if taken[u] || preempted[u] || len(u.feed) == 0 {
			continue
		}
		if u.seq == nil {
			feed := u.feed
			e.attach(u, len(u.feed)-1)
			recount()
			if room() < 0 {
				// The cached blocks it took were counted as room for
				// work already in this step: give them back; it waits.
				u.seq.Free()
				u.seq, u.feed = nil, feed
				recount()
				continue
			}
		}
		if k := chunk(u); k > 0 {
			take(u, k)
		}
	}
	// New requests, in arrival order, while room lasts.
	for admit && budget > 0 && len(e.queue) > 0 && len(preempted) == 0 {
		r := e.queue[0]
		running := 0
		for _, a := range e.active {
			running += a.left
		}
		blocks := (len(r.req.Prompt)+len(r.completion))/e.cache.BlockSize() + 1 + r.req.N
		if running+r.req.N > e.opts.MaxSeqs || blocks > room() {
			break
		}
		e.popQueue()
		u := e.admit(r)
		recount()
		if k := chunk(u); k > 0 {
			take(u, k)
		}
	}
	return steps, units
}

// newest is the newest unit holding blocks that is newer than u, not in
// this step, and safe to recompute; nil if there is none.
func (e *Engine) newest(u *unit, taken map[*unit]bool) *unit {
	var victim *unit
	for _, v := range e.units {
		if v.seq != nil && !taken[v] && compareAge(v, u) > 0 && v.rowsFrom < 0 && (victim == nil || compareAge(v, victim) > 0) {
			victim = v
		}
	}
	return victim
}

// admit starts a request: its root sequence begins with whatever the
// prefix cache holds of its prompt.
func (e *Engine) admit(r *request) *unit {
	e.order++
	r.left = r.req.N
	r.out = &Output{PromptTokens: len(r.req.Prompt)}
	u := &unit{r: r, feed: r.req.Prompt, rowsFrom: -1, order: e.order}
	limit := len(r.req.Prompt) - 1
	switch {
	case r.completion != nil:
		u.feed = append(slices.Clone(r.req.Prompt), r.completion[:len(r.completion)-1]...)
		u.rowsFrom = len(r.req.Prompt) - 1
		limit = u.rowsFrom
		r.promptLP = NewSampler(r.req.Sampling, r.req.Prompt, r.req.MinTokens, e.stopIDsFor(r.req))
	case r.req.PromptLogprobs:
		// Every prompt row is needed: nothing comes from the prefix cache.
		u.rowsFrom, limit = 0, 0
		r.promptLP = NewSampler(r.req.Sampling, nil, 0, nil)
		r.out.PromptLogprobs = make([]float32, len(r.req.Prompt))
		if r.req.PromptTopLogprobs > 0 {
			r.out.PromptTopLogprobs = make([][]TokenLogprob, len(r.req.Prompt))
		}
	}
	whole := len(u.feed)
	e.attach(u, limit)
	r.out.CachedTokens = whole - len(u.feed)
	r.root = u
	e.units = append(e.units, u)
	e.active = append(e.active, r)
	e.mu.Lock()
	e.stats.Waiting--
	e.stats.PromptTokens += int64(len(r.req.Prompt))
	e.stats.CachedTokens += int64(r.out.CachedTokens)
	e.mu.Unlock()
	return u
}

// attach gives u a sequence that starts with the longest run of whole
// blocks of its feed the prefix cache holds, at most limit positions.
func (e *Engine) attach(u *unit, limit int) {
	blocks := e.prefix.lookup(u.feed, limit)
	n := len(blocks) * e.cache.BlockSize()
	u.seq = e.cache.NewSeqFrom(blocks, n)
	u.feed = u.feed[n:]
}

// preempt frees u's blocks; it will be recomputed from its tokens, which
// gives the same keys and values (each row is computed alone).
func (e *Engine) preempt(u *unit) {
	if u.seq == nil {
		return
	}
	u.seq.Free()
	u.seq = nil
	u.feed = slices.Clone(u.r.req.Prompt)
	if u.s != nil {
		u.feed = append(u.feed, u.s.tokens...)
	}
	e.mu.Lock()
	e.stats.Preemptions++
	e.mu.Unlock()
}

// stopIDsFor lists the tokens that end a sample of req.
func (e *Engine) stopIDsFor(req Request) []int {
	ids := slices.Clone(req.StopIDs)
	if !req.IgnoreEOS {
		ids = append(ids, e.m.Config.EOS...)
	}
	return ids
}

// checkDrawable refuses a request whose masks leave no token to draw at
// the first step: allowed tokens that are all one-token bad words, or all
// stop tokens held back by min_tokens. Sampling would otherwise read a
// distribution of −∞ everywhere and return garbage.
func checkDrawable(req *Request, stop []int) error {
	p := &req.Sampling
	if len(p.AllowedIDs) == 0 {
		return nil
	}
	for _, id := range p.AllowedIDs {
		banned := req.MinTokens > 0 && slices.Contains(stop, id) ||
			slices.ContainsFunc(p.BadWords, func(w []int) bool { return len(w) == 1 && w[0] == id })
		if !banned {
			return nil
		}
	}
	return errors.New("allowed_token_ids leaves no token to draw: each is a one-token bad word, or a stop token that min_tokens holds back")
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
		s := &sample{r: r, index: i, seed: p.Seed, sampler: NewSampler(p, r.req.Prompt, r.req.MinTokens, stop), maxTok: maxTok, stop: newStopMatcher(r.req.Stop)}
		if e.opts.NewDecoder != nil {
			s.dec = e.opts.NewDecoder(r.req.Prompt)
		}
		seq := u.seq
		if i > 0 {
			seq = u.seq.Fork()
		}
		s.unit = &unit{r: r, s: s, seq: seq, rowsFrom: -1, order: u.order}
		r.samples = append(r.samples, s)
		e.units = append(e.units, s.unit)
	}
	return r.samples
}

func (e *Engine) removeUnit(u *unit) {
	if i := slices.Index(e.units, u); i >= 0 {
		e.units = slices.Delete(e.units, i, i+1)
	}
}

// promptRows records prompt logprobs from a root's logit rows.
func (e *Engine) promptRows(u *unit, st model.Step, rows []float32) {
	r, vocab := u.r, e.m.Config.VocabSize
	first := u.seq.Len() - st.Logits // position of the first row
	for j := 0; j < st.Logits; j++ {
		p := first + j
		if p+1 >= len(r.req.Prompt) {
			break // the last row predicts the first sampled token
		}
		row := rows[j*vocab : (j+1)*vocab]
		if r.req.LogprobMode == LogprobsProcessed {
			r.promptLP.next(row)
		}
		lp, top := r.promptLP.Logprob(r.req.LogprobMode, row, r.req.Prompt[p+1], r.req.PromptTopLogprobs)
		r.out.PromptLogprobs[p+1] = lp
		if top != nil {
			r.out.PromptTopLogprobs[p+1] = top
		}
	}
}

// scoreRows turns a scoring unit's rows into the completion's logprobs.
func (e *Engine) scoreRows(u *unit, st model.Step, rows []float32) {
	r, vocab := u.r, e.m.Config.VocabSize
	if r.scores == nil {
		r.scores = &Scores{}
	}
	for j := 0; j < st.Logits; j++ {
		row := rows[j*vocab : (j+1)*vocab]
		id := r.completion[len(r.scores.Logprobs)]
		if r.req.LogprobMode == LogprobsProcessed {
			r.promptLP.next(row)
		}
		lp, top := r.promptLP.Logprob(r.req.LogprobMode, row, id, r.req.TopLogprobs)
		r.promptLP.Accept(id)
		r.scores.Logprobs = append(r.scores.Logprobs, lp)
		if r.req.TopLogprobs > 0 {
			r.scores.TopLogprobs = append(r.scores.TopLogprobs, top)
		}
	}
	if len(u.feed) == 0 {
		e.removeUnit(u)
		u.seq.Free()
		e.active = slices.DeleteFunc(e.active, func(x *request) bool { return x == r })
		e.updateStats()
		r.finish()
	}
}

// draw is a sample whose next-token logits are ready.
type draw struct {
	s   *sample
	row []float32
}

// sampleAll draws the next token of every sample whose logits are ready,
// in parallel (each sampler is independent), then records them in order.
func (e *Engine) sampleAll(draws []draw) {
	if len(draws) == 0 {
		return
	}
	ids := make([]int, len(draws))
	lps := make([]float32, len(draws))
	tops := make([][]TokenLogprob, len(draws))
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), len(draws))
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(draws); i += workers {
				d := draws[i]
				req := &d.s.r.req
				ids[i] = d.s.sampler.Sample(d.row)
				if req.Logprobs || req.TopLogprobs > 0 {
					lps[i], tops[i] = d.s.sampler.Logprob(req.LogprobMode, d.row, ids[i], req.TopLogprobs)
				}
			}
		}()
	}
	wg.Wait()
	for i, d := range draws {
		e.accept(d.s, ids[i], lps[i], tops[i])
	}
}

// accept appends a sampled token, decides whether the sample is done, and
// delivers the event.
func (e *Engine) accept(s *sample, id int, lp float32, top []TokenLogprob) {
	r := s.r
	if r.firstTok.IsZero() {
		r.firstTok = time.Now()
	}
	s.sampler.Accept(id)
	s.tokens = append(s.tokens, id)
	if r.req.Logprobs {
		s.lps = append(s.lps, lp)
	}
	if r.req.TopLogprobs > 0 {
		s.tops = append(s.tops, top)
	}
	ev := Event{Sample: s.index, ID: id, Logprob: lp, Top: top}
	armed := len(s.tokens) >= r.req.MinTokens // stop conditions apply from here
	stringHit := false
	if armed && slices.Contains(s.sampler.banned, id) {
		s.finish = FinishStop // the stop token's text is not part of the output
	} else {
		var piece string
		if s.dec != nil {
			piece = s.dec.Add(id)
		}
		text, hit := s.stop.add(piece, armed)
		ev.Text = text
		if hit != "" {
			s.finish, stringHit = FinishStop, true
			if r.req.IncludeStop {
				ev.Text += hit
				s.stop.text.WriteString(hit)
			}
		} else if len(s.tokens) >= s.maxTok {
			s.finish = FinishLength
		}
	}
	if s.finish != "" && !stringHit {
		ev.Text += s.flush()
	}
	e.mu.Lock()
	e.stats.GeneratedTokens++
	e.mu.Unlock()
	if s.finish == "" {
		s.unit.feed = []int{id}
		r.push(ev)
		return
	}
	ev.Finish = s.finish
	r.push(ev)
	e.end(s)
}

// flush releases the text the decoder and the stop matcher hold back.
func (s *sample) flush() string {
	var tail string
	if s.dec != nil {
		tail = s.dec.Flush()
	}
	return s.stop.flush(tail)
}

// end retires a finished sample; the request ends with its last sample.
// Its sampler goes at once: over a real vocabulary it is megabytes, and
// the other samples may run much longer.
func (e *Engine) end(s *sample) {
	r := s.r
	if s.unit.seq != nil {
		s.unit.seq.Free()
	}
	s.sampler, s.dec = nil, nil
	e.removeUnit(s.unit)
	r.left--
	if r.left == 0 {
		e.complete(r)
	}
}

// complete delivers a request whose samples are all finished.
func (e *Engine) complete(r *request) {
	e.active = slices.DeleteFunc(e.active, func(x *request) bool { return x == r })
	out := r.out
	for _, s := range r.samples {
		out.Samples = append(out.Samples, Sample{Index: s.index, Seed: s.seed, Tokens: s.tokens, Text: s.stop.text.String(),
			Logprobs: s.lps, TopLogprobs: s.tops, FinishReason: s.finish})
	}
	now := time.Now()
	if !r.started.IsZero() {
		out.Queued = r.started.Sub(r.submitted)
	}
	if !r.firstTok.IsZero() {
		out.FirstToken = r.firstTok.Sub(r.submitted)
	}
	out.Total = now.Sub(r.submitted)
	e.updateStats() // before the caller wakes, so it sees its blocks returned
	r.finish()
}

// abort ends every unfinished sample of r with FinishAbort.
func (e *Engine) abort(r *request) {
	if r.root != nil {
		// Still in its prompt: no sample has begun.
		r.root.seq.Free()
		e.removeUnit(r.root)
		r.root = nil
		if r.completion != nil {
			e.active = slices.DeleteFunc(e.active, func(x *request) bool { return x == r })
			r.scores = nil
			r.finish()
			return
		}
		for i := 0; i < r.req.N; i++ {
			p := r.req.Sampling
			s := &sample{r: r, index: i, seed: p.Seed + uint64(i), stop: newStopMatcher(nil), finish: FinishAbort}
			r.samples = append(r.samples, s)
			r.push(Event{Sample: i, ID: -1, Finish: FinishAbort})
		}
		r.left = 0
		e.complete(r)
		return
	}
	for _, s := range r.samples {
		if s.finish != "" {
			continue
		}
		s.finish = FinishAbort
		r.push(Event{Sample: s.index, ID: -1, Text: s.flush(), Finish: FinishAbort})
		e.end(s)
	}
}

// fail ends r with an error (a cache too small for it, a backend failure).
func (e *Engine) fail(r *request, err error) {
	if r.root != nil && r.root.seq != nil {
		r.root.seq.Free()
		e.removeUnit(r.root)
	}
	for _, s := range r.samples {
		if s.finish == "" && s.unit.seq != nil {
			s.unit.seq.Free()
		}
		e.removeUnit(s.unit)
	}
	e.active = slices.DeleteFunc(e.active, func(x *request) bool { return x == r })
	r.err = fmt.Errorf("engine: %w", err)
	e.updateStats()
	r.finish()
}
