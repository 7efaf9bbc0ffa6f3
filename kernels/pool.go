package kernels

import "sync"

// pool is a fixed set of worker goroutines that split a range of
// independent items between them. The workers live as long as the pool, so
// a call costs a few channel operations rather than goroutine starts.
type pool struct {
	jobs []chan job // one per worker besides the caller
}

// job is one contiguous chunk [lo, hi) of a run.
type job struct {
	fn     func(lo, hi int)
	lo, hi int
	done   *sync.WaitGroup
}

// newPool starts threads−1 workers; the goroutine calling run is the last.
func newPool(threads int) *pool {
	p := &pool{jobs: make([]chan job, threads-1)}
	for i := range p.jobs {
		ch := make(chan job)
		p.jobs[i] = ch
		go func() {
			for j := range ch {
				j.fn(j.lo, j.hi)
				j.done.Done()
			}
		}()
	}
	return p
}

func (p *pool) threads() int { return len(p.jobs) + 1 }

// run calls fn on contiguous chunks covering [0, n), one chunk per thread,
// and returns when all are done. The chunks depend only on n and the
// thread count, and fn must compute each item the same way whatever chunk
// it lands in; that keeps results independent of the split. run may be
// called from several goroutines at once.
func (p *pool) run(n int, fn func(lo, hi int)) {
	chunks := min(p.threads(), n)
	if chunks <= 1 {
		fn(0, n)
		return
	}
	var done sync.WaitGroup
	done.Add(chunks - 1)
	for c := 1; c < chunks; c++ {
		p.jobs[c-1] <- job{fn, c * n / chunks, (c + 1) * n / chunks, &done}
	}
	fn(0, n/chunks)
	done.Wait()
}

// close stops the workers; the pool must not be used afterwards.
func (p *pool) close() {
	for _, ch := range p.jobs {
		close(ch)
	}
}
