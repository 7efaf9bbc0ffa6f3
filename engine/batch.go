package engine

import (
	"runtime"
	"sync"
	"time"

	"github.com/aha-inference/aha/model"
)

// snapshot is the engine's state as the scheduler sees it, with what the
// plan's numbers refer to.
type snapshot struct {
	state schedState
	units []*unit    // schedState.Units' units
	hits  [][]uint64 // the prefix-cache match of each unit without a sequence, then of each queued request
}

// snapshot describes the units, the queue's head and the caches for
// schedule. The queue is read only as far as admission could go: while
// the samples fit MaxSeqs and each request alone fits the room there is.
func (e *Engine) snapshot(admit bool) *snapshot {
	s := &snapshot{units: append([]*unit(nil), e.units...)}
	st := &s.state
	*st = schedState{BlockSize: e.cache.BlockSize(), TokenBudget: e.opts.MaxBatchTokens, MaxSeqs: e.opts.MaxSeqs,
		Running: e.running(), Admit: admit, FreeBlocks: e.cache.FreeBlocks(), Holders: map[int]int{}, Cached: e.prefix.list()}
	hold := func(blocks []int) {
		for _, b := range blocks {
			st.Holders[b] = e.cache.Holders(b)
		}
	}
	for _, u := range s.units {
		su := schedUnit{Age: u.age, Sample: u.s != nil, Seq: u.seq != nil, Feed: len(u.feed), RowsFrom: u.rowsFrom}
		var keys []uint64
		if u.seq != nil {
			su.Blocks, su.Len = u.seq.Blocks(), u.seq.Len()
		} else {
			keys = e.prefix.match(u.feed, len(u.feed)-1)
			su.Attach = e.blocksOf(keys)
		}
		hold(su.Blocks)
		st.Units = append(st.Units, su)
		s.hits = append(s.hits, keys)
	}
	room := st.FreeBlocks
	for _, c := range st.Cached {
		hold([]int{c.Block})
		if st.Holders[c.Block] == 1 {
			room++
		}
	}
	seats := e.opts.MaxSeqs - st.Running
	for _, r := range e.queue {
		tokens := len(r.req.Prompt) + len(r.completion)
		if !admit || r.req.N > seats || tokens/st.BlockSize+1+r.req.N > room {
			break
		}
		seats -= r.req.N
		feed, rowsFrom, limit := rootFeed(r)
		keys := e.prefix.match(feed, limit)
		st.Queue = append(st.Queue, schedRequest{N: r.req.N, Tokens: tokens, Feed: len(feed), RowsFrom: rowsFrom, Attach: e.blocksOf(keys)})
		s.hits = append(s.hits, keys)
	}
	return s
}

// blocksOf is the blocks of prefix-cache entries.
func (e *Engine) blocksOf(keys []uint64) []int {
	blocks := make([]int, len(keys))
	for i, k := range keys {
		blocks[i] = e.prefix.entries[k].block
	}
	return blocks
}

// apply makes the plan's changes and returns the forward step and the unit
// of each of its sequences.
func (e *Engine) apply(s *snapshot, p schedPlan) ([]model.Step, []*unit) {
	units := s.units
	for _, i := range p.Preempt {
		e.preempt(units[i])
	}
	for _, i := range p.Attach {
		e.attach(units[i], s.hits[i])
	}
	for range p.Admit {
		units = append(units, e.admit(e.popQueue(), s.hits[len(units)]))
	}
	e.prefix.drop(p.Evict)
	steps := make([]model.Step, len(p.Run))
	run := make([]*unit, len(p.Run))
	for i, r := range p.Run {
		u := units[r.Unit]
		steps[i] = model.Step{Seq: u.seq, Tokens: u.feed[:r.Tokens], Logits: r.Logits}
		run[i] = u
	}
	e.counts.Preemptions += int64(len(p.Preempt))
	return steps, run
}

// logits hands each sequence of the step its rows: prompt logprobs,
// scores, and the draws of samples whose next token is due.
func (e *Engine) logits(steps []model.Step, units []*unit, logits [][]float32) {
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
		e.retire(r)
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
	e.counts.GeneratedTokens += int64(len(draws))
}

// accept appends a sampled token, delivers its event, and ends the sample
// when the token ends it.
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
	text, finish := s.out.add(id)
	s.finish = finish
	r.push(Event{Sample: s.index, ID: id, Text: text, Logprob: lp, Top: top, Finish: finish})
	if finish != "" {
		e.end(s)
		return
	}
	s.unit.feed = []int{id}
}
