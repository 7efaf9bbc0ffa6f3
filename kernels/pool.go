package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// pool is a fixed set of worker goroutines that split a range of
// independent items between them. A decode step makes a few hundred short
// calls, so handing out work must cost far less than waking a goroutine:
// between calls the workers spin on an atomic generation counter for a
// while (spinLimit) and only then park on a channel, and the items are
// taken in small chunks from an atomic counter, so a thread that the
// operating system delays holds up no one.
type pool struct {
	mu      sync.Mutex // one run at a time
	workers []*worker

	gen     atomic.Uint64 // bumped to publish a job
	fn      func(lo, hi int)
	n       int
	chunk   int
	next    atomic.Int64 // first item not yet taken
	running atomic.Int32 // workers still on the current job
	closed  bool

	// The caller of run parks too when the workers take long (a worker
	// the OS has preempted): the last worker to finish wakes it.
	callerSleeping atomic.Bool
	callerWake     chan struct{}
}

type worker struct {
	sleeping atomic.Bool
	wake     chan struct{}
}

// spinLimit is how many polls of the generation counter a worker makes
// before parking: long enough to span the gaps between a step's matmuls,
// short enough that an idle pool soon stops using the CPU.
const spinLimit = 20000

// newPool starts threads−1 workers; the goroutine calling run is the last.
func newPool(threads int) *pool {
	p := &pool{callerWake: make(chan struct{}, 1)}
	for range threads - 1 {
		w := &worker{wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		go p.work(w)
	}
	return p
}

func (p *pool) threads() int { return len(p.workers) + 1 }

func (p *pool) work(w *worker) {
	var seen uint64
	for {
		seen = p.wait(w, seen)
		if p.closed {
			return
		}
		p.take()
		if p.running.Add(-1) == 0 && p.callerSleeping.CompareAndSwap(true, false) {
			p.callerWake <- struct{}{}
		}
	}
}

// wait returns the generation after seen, spinning first, then parking.
func (p *pool) wait(w *worker, seen uint64) uint64 {
	for i := 0; ; i++ {
		if g := p.gen.Load(); g != seen {
			return g
		}
		if i < spinLimit {
			if i%2048 == 2047 {
				runtime.Gosched()
			}
			continue
		}
		w.sleeping.Store(true)
		if g := p.gen.Load(); g != seen {
			if !w.sleeping.CompareAndSwap(true, false) {
				<-w.wake // run already decided to wake us: take its token
			}
			return g
		}
		<-w.wake
		i = 0
	}
}

// take runs chunks of the current job until none is left.
func (p *pool) take() {
	for {
		lo := int(p.next.Add(int64(p.chunk))) - p.chunk
		if lo >= p.n {
			return
		}
		p.fn(lo, min(lo+p.chunk, p.n))
	}
}

// run calls fn on chunks covering [0, n) and returns when all are done.
// Which thread runs which chunk varies from call to call, so fn must
// compute each item the same way whatever chunk it lands in; that keeps
// results independent of the split. run may be called from several
// goroutines at once (they take turns).
func (p *pool) run(n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if len(p.workers) == 0 || n == 1 {
		fn(0, n)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Several chunks per thread balance the load when a thread is slow.
	p.fn, p.n, p.chunk = fn, n, max(1, n/(4*p.threads()))
	p.next.Store(0)
	p.running.Store(int32(len(p.workers)))
	p.gen.Add(1)
	for _, w := range p.workers {
		if w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
	p.take()
	for i := 0; p.running.Load() != 0; i++ {
		if i < spinLimit {
			if i%2048 == 2047 {
				runtime.Gosched()
			}
			continue
		}
		p.callerSleeping.Store(true)
		if p.running.Load() == 0 {
			if !p.callerSleeping.CompareAndSwap(true, false) {
				<-p.callerWake // a worker already decided to wake us
			}
			break
		}
		// The token may be late, from the last worker of an earlier run
		// that was preempted between its decrement and its wake-up: the
		// loop checks running again rather than trusting it.
		<-p.callerWake
		i = 0
	}
	p.fn = nil
}

// close stops the workers; the pool must not be used afterwards.
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.gen.Add(1)
	for _, w := range p.workers {
		if w.sleeping.CompareAndSwap(true, false) {
			w.wake <- struct{}{}
		}
	}
}
