package engine

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

// Stats returns the counters as of the last step, and the requests
// waiting now.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.stats
	s.Waiting += len(e.incoming)
	return s
}

// running counts the samples running: a request in its prompt counts N.
func (e *Engine) running() int {
	n := 0
	for _, r := range e.active {
		n += r.left
	}
	return n
}

// settle publishes the statistics, then wakes the callers of the requests
// that ended, so that each sees the engine without its request.
func (e *Engine) settle() {
	e.mu.Lock()
	e.publishLocked()
	e.mu.Unlock()
	for _, r := range e.retired {
		r.finish()
	}
	clear(e.retired)
	e.retired = e.retired[:0]
}

// publishLocked derives the statistics from the scheduler's state: the
// one place they are computed. The caller holds mu.
func (e *Engine) publishLocked() {
	s := e.counts
	s.Running = e.running()
	s.Waiting = len(e.queue)
	s.BlocksTotal = e.cache.Blocks()
	s.BlocksUsed = s.BlocksTotal - e.cache.FreeBlocks()
	e.stats = s
}
