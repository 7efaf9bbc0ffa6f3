package engine

import (
	"cmp"
	"maps"
	"slices"
)

// The scheduler's policy is one pure function, schedule, from a value
// describing the engine's state to a plan; the engine builds the value,
// applies the plan and runs it (batch.go). Nothing here touches a cache or
// a model, so the policy is tested with tables alone.

// schedState is what a step is planned from.
type schedState struct {
	BlockSize   int
	TokenBudget int  // tokens one forward step may take
	MaxSeqs     int  // samples that may run at once
	Running     int  // samples running now; a request still in its prompt counts its N
	Admit       bool // whether queued requests may start
	FreeBlocks  int
	// Holders counts the holders (sequences, the prefix cache) of every
	// block that has one.
	Holders map[int]int
	Units   []schedUnit
	// Queue is the head of the queue, in arrival order: at least every
	// request this step could admit.
	Queue  []schedRequest
	Cached []cachedBlock // the prefix cache's entries
}

// schedUnit is a running sequence.
type schedUnit struct {
	Age      age
	Sample   bool  // a sample decoding; false for a prompt not yet forked
	Seq      bool  // it has a sequence in the cache; false once preempted
	Blocks   []int // its block table
	Len      int   // positions it holds
	Feed     int   // tokens it must still be fed
	RowsFrom int   // positions from here on want their logits; −1: only the last
	// Attach, for a unit without a sequence, is the cached blocks its feed
	// starts with (the prefix cache's lookup).
	Attach []int
}

// schedRequest is a queued request.
type schedRequest struct {
	N        int   // samples
	Tokens   int   // prompt and completion tokens
	Feed     int   // tokens its root is fed, before the cache's part is taken off
	RowsFrom int   // as schedUnit's
	Attach   []int // the cached blocks its feed starts with
}

// cachedBlock is a prefix-cache entry.
type cachedBlock struct {
	Key   uint64
	Block int
	Used  uint64 // when last looked up or listed: the least recently used go first
	Depth int    // blocks before it in its prompt: the deepest go first on ties
}

// schedPlan is a step's work and what must change for it. Units are
// numbered as schedState.Units, then the roots of the admitted requests in
// queue order. The engine applies the changes in the order of the fields.
type schedPlan struct {
	Preempt []int      // units whose blocks are freed: they will be recomputed
	Attach  []int      // units without a sequence that start one on their cached blocks
	Admit   int        // requests taken from the queue, each started on its cached blocks
	Evict   []uint64   // prefix-cache entries dropped to make room for the step
	Run     []schedRun // the forward step, in batch order
}

// schedRun is one sequence's part of the step.
type schedRun struct {
	Unit   int
	Tokens int // taken from the front of the unit's feed
	Logits int // rows of logits wanted, for the last of those tokens
}

// age orders units by admission: by request, then by sample index, since
// a request's samples are forked together and share its order. The order
// is total, so preemption can pick any sequence, a sibling included.
type age struct {
	order uint64 // admission order of the request
	index int    // sample index; −1 for a root, which has no siblings
}

func compareAge(a, b age) int {
	return cmp.Or(cmp.Compare(a.order, b.order), cmp.Compare(a.index, b.index))
}

// schedule plans a step within the token budget and the free blocks
// (blocks only the prefix cache holds count as free: they are evicted
// before the step runs). Decode tokens go first, oldest sequence first; a
// sequence that cannot get a block preempts the newest ones, or waits
// itself. Then come prompt chunks (prompts in progress, preempted
// sequences), oldest first, then new requests in arrival order while room
// lasts, unless something was preempted.
func schedule(s schedState) schedPlan {
	var p schedPlan
	us := slices.Clone(s.Units)
	holders := maps.Clone(s.Holders)
	if holders == nil {
		holders = map[int]int{}
	}
	cached := map[int]bool{}
	evictable := 0
	for _, c := range s.Cached {
		cached[c.Block] = true
		if holders[c.Block] == 1 {
			evictable++
		}
	}
	free, budget, reserved := s.FreeBlocks, s.TokenBudget, 0
	taken, preempted := map[int]bool{}, map[int]bool{}

	hold := func(b int) {
		if holders[b]++; cached[b] && holders[b] == 2 {
			evictable--
		}
	}
	release := func(b int) {
		switch holders[b]--; {
		case holders[b] == 0:
			delete(holders, b)
			free++
		case cached[b] && holders[b] == 1:
			evictable++
		}
	}
	room := func() int { return free + evictable - reserved }
	// needs is the free blocks u takes to grow by k: new blocks, and a copy
	// of its last block when that is shared and partly filled (model.Seq's
	// copy on write).
	needs := func(u *schedUnit, k int) int {
		n := (u.Len+k+s.BlockSize-1)/s.BlockSize - len(u.Blocks)
		if u.Len%s.BlockSize != 0 && k > 0 && holders[u.Blocks[len(u.Blocks)-1]] > 1 {
			n++
		}
		return max(n, 0)
	}
	take := func(i, k int) {
		u := &us[i]
		reserved += needs(u, k)
		rows := 0
		switch {
		case u.RowsFrom >= 0:
			rows = max(0, u.Len+k-max(u.Len, u.RowsFrom))
		case k == u.Feed:
			rows = 1
		}
		p.Run = append(p.Run, schedRun{Unit: i, Tokens: k, Logits: rows})
		taken[i] = true
		budget -= k
	}
	// chunk is the most of u's feed that fits the budget and the blocks.
	chunk := func(i int) int {
		k := min(us[i].Feed, budget)
		for k > 0 && needs(&us[i], k) > room() {
			k -= max(1, k/2)
		}
		return k
	}
	preempt := func(i int) {
		for _, b := range us[i].Blocks {
			release(b)
		}
		us[i].Seq, us[i].Blocks, us[i].Len = false, nil, 0
		preempted[i] = true
		p.Preempt = append(p.Preempt, i)
	}
	attach := func(u *schedUnit, blocks []int) {
		for _, b := range blocks {
			hold(b)
		}
		n := len(blocks) * s.BlockSize
		u.Seq, u.Blocks, u.Len, u.Feed = true, blocks, n, u.Feed-n
	}
	// newest is the newest unit holding blocks that is newer than u, not
	// in this step, and safe to recompute (its logits are not wanted row by
	// row); −1 if there is none.
	newest := func(u int) int {
		victim := -1
		for v := range us {
			if us[v].Seq && !taken[v] && us[v].RowsFrom < 0 && compareAge(us[v].Age, us[u].Age) > 0 &&
				(victim < 0 || compareAge(us[v].Age, us[victim].Age) > 0) {
				victim = v
			}
		}
		return victim
	}
	byAge := make([]int, len(us))
	for i := range byAge {
		byAge[i] = i
	}
	slices.SortFunc(byAge, func(a, b int) int { return compareAge(us[a].Age, us[b].Age) })

	for _, i := range byAge {
		u := &us[i]
		if budget <= 0 {
			break
		}
		if !u.Sample || !u.Seq || u.Feed != 1 || preempted[i] {
			continue
		}
		for needs(u, 1) > room() {
			v := newest(i)
			if v < 0 {
				break
			}
			preempt(v)
		}
		if needs(u, 1) > room() {
			preempt(i)
			continue
		}
		take(i, 1)
	}
	for _, i := range byAge {
		u := &us[i]
		if budget <= 0 {
			break
		}
		if taken[i] || preempted[i] || u.Feed == 0 {
			continue
		}
		if !u.Seq {
			before := *u
			attach(u, u.Attach)
			if room() < 0 {
				// The cached blocks it would take were counted as room
				// for work already in this step: it waits.
				for _, b := range u.Blocks {
					release(b)
				}
				*u = before
				continue
			}
			p.Attach = append(p.Attach, i)
		}
		if k := chunk(i); k > 0 {
			take(i, k)
		}
	}
	running := s.Running
	for _, r := range s.Queue {
		if !s.Admit || budget <= 0 || len(p.Preempt) > 0 {
			break
		}
		blocks := r.Tokens/s.BlockSize + 1 + r.N
		if running+r.N > s.MaxSeqs || blocks > room() {
			break
		}
		running += r.N
		p.Admit++
		u := schedUnit{Feed: r.Feed, RowsFrom: r.RowsFrom}
		attach(&u, r.Attach)
		us = append(us, u)
		if k := chunk(len(us) - 1); k > 0 {
			take(len(us)-1, k)
		}
	}

	need := 0
	for _, r := range p.Run {
		need += needs(&us[r.Unit], r.Tokens)
	}
	p.Evict = evictionOrder(s.Cached, holders, need-free)
	return p
}

// evictionOrder picks n prefix-cache entries to drop among those whose
// block only the cache holds: the least recently used first, the deepest
// first among those used together (a shallower block is the prefix of
// more prompts), then by block for a deterministic order.
func evictionOrder(entries []cachedBlock, holders map[int]int, n int) []uint64 {
	if n <= 0 {
		return nil
	}
	var victims []cachedBlock
	for _, c := range entries {
		if holders[c.Block] == 1 {
			victims = append(victims, c)
		}
	}
	slices.SortFunc(victims, func(a, b cachedBlock) int {
		return cmp.Or(cmp.Compare(a.Used, b.Used), cmp.Compare(b.Depth, a.Depth), cmp.Compare(a.Block, b.Block))
	})
	keys := make([]uint64, 0, min(n, len(victims)))
	for _, c := range victims[:min(n, len(victims))] {
		keys = append(keys, c.Key)
	}
	return keys
}
