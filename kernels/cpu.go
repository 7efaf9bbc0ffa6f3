package kernels

import (
	"fmt"
	"log"
	"math"
	"runtime"
	"slices"
	"sync"
	"unsafe"

	"github.com/aha-inference/aha/quant"
	"github.com/klauspost/cpuid/v2"
)

// CPU is the fast CPU backend: the reference's operations split across a
// persistent pool of worker threads, with SIMD kernels where the processor
// has them: AVX-512 matmul tiles (tile.go) and attention pieces, else AVX2
// dot products per row (dotKernels), else portable Go.
//
// Work is split only between independent outputs — rows of a MatMul, (row,
// head) pairs of Attention — never inside a dot product, and each output
// is computed by the same float operations whatever tile, batch or thread
// computes it: results are bit-identical for any thread count and batch.
//
// Numerics differ from the reference in that dot products sum in a
// different (fixed) order, softmax and SiLU use a float32 exp, and, as in
// llama.cpp, Q8_0 and Q4_0 weights multiply a Q8_0 quantization of the
// activations and BF16 weights (on CPUs with AVX512_BF16) a bfloat16
// rounding of them.
type CPU struct {
	// FloatActivations makes Q8_0, Q4_0 and BF16 weights multiply the
	// float32 activations, as the reference does: slower (BF16: about
	// half the speed), but comparable with float references. Rounding
	// activations to bfloat16 costs up to 2⁻⁹ of each; to Q8_0, half a
	// step of 1/127 of each 32-block's largest.
	FloatActivations bool

	k          kernelSet
	packs      packs // the packed copies of matrices (pack.go)
	pool       *pool
	threadsWhy string

	// The rotary table of the last RoPE call (see RoPE).
	ropeMu    sync.Mutex
	ropePos   []int
	ropeFreqs []float64
	rope      []float32
}

// kernelSet is the kernels a CPU backend runs. Each backend has its own,
// chosen when it starts, so that two backends (a test's, comparing kernel
// against kernel) can differ and run at the same time.
type kernelSet struct {
	dot     *dotKernels                    // per-row dot products
	tiles   *tileKernels                   // matmul tiles and packed kernels (nil: none)
	attn    *attnKernels                   // attention's vector pieces (nil: the plain ones)
	siluMul func(gate, up *float32, n int) // SwiGLU (nil: the reference's loop)
}

// bestKernels is the fastest set this processor runs.
func bestKernels() kernelSet {
	k := kernelSet{dot: &goKernels, tiles: simdTiles, attn: simdAttention, siluMul: simdSiLUMul}
	if simdKernels != nil {
		k.dot = simdKernels
	}
	return k
}

// NewCPU starts a CPU backend with the given number of threads, running
// the fastest kernels the processor has; threads ≤ 0 means
// DefaultThreads. Close stops its threads.
func NewCPU(threads int) *CPU { return newCPU(threads, bestKernels()) }

// newCPU starts a CPU backend running the kernels k.
func newCPU(threads int, k kernelSet) *CPU {
	why := "as asked"
	if threads <= 0 {
		threads, why = DefaultThreads()
	}
	return &CPU{k: k, pool: newPool(threads), threadsWhy: why}
}

// DefaultThreads returns the number of threads a CPU backend starts when
// none is asked for, and a phrase saying how it was chosen: one per
// physical core, but never more than the CPUs this process may run on
// (runtime.GOMAXPROCS, which follows the CPU affinity mask and the cgroup
// CPU limit). Virtual machines and containers often report the host's
// cores (a 2-vCPU guest has been seen reporting 254), and threads beyond
// the usable CPUs spin against each other: 8–33× slower there.
func DefaultThreads() (int, string) {
	return defaultThreads(cpuid.CPU.PhysicalCores, runtime.GOMAXPROCS(0))
}

// defaultThreads is DefaultThreads' policy over what the processor reports
// (physical, ≤ 0 when unknown) and what the process may use (usable).
func defaultThreads(physical, usable int) (int, string) {
	usable = max(usable, 1)
	switch {
	case physical <= 0:
		return usable, fmt.Sprintf("one per usable CPU (%d); the physical core count is unknown", usable)
	case physical > usable:
		return usable, fmt.Sprintf("capped at the %d CPUs this process may use, by its affinity mask, cgroup limit or GOMAXPROCS; the processor reports %d physical cores", usable, physical)
	}
	return physical, "one per physical core"
}

// Default is the backend the model runs on: the CPU backend with threads
// threads (≤ 0: DefaultThreads).
func Default(threads int) Backend {
	if simdKernels == nil {
		log.Printf("kernels: no SIMD dot products for this CPU; using portable Go kernels")
	}
	return NewCPU(threads)
}

func (c *CPU) Name() string {
	if c.k.tiles != nil {
		return "cpu-" + c.k.tiles.name
	}
	return "cpu-" + c.k.dot.name
}

// Err is always nil: host memory was allocated before the step began, so
// nothing in a step can fail.
func (c *CPU) Err() error { return nil }

// Threads is the number of threads the backend splits work between.
func (c *CPU) Threads() int { return c.pool.threads() }

// ThreadsWhy says how Threads was chosen: "as asked", or DefaultThreads'
// reason.
func (c *CPU) ThreadsWhy() string { return c.threadsWhy }

// Close stops the worker threads; c must not be used afterwards.
func (c *CPU) Close() { c.pool.close() }

// matMul computes out = x·Wᵀ like the reference MatMul. Each worker takes
// groups of weight rows and multiplies every input row with them while they
// are in cache, so a weight row is read from memory once per call (once per
// block of tokens for large batches) however large the batch.
func (c *CPU) matMul(out []float32, w *Matrix, x []float32, n int) {
	if n == 0 || w.Rows == 0 {
		return
	}
	if w.Cols == 0 {
		clear(out[:n*w.Rows])
		return
	}
	if p, kp := c.packedOf(w); p != nil {
		act := c.packedInputs(w, p, x, n)
		c.packedMatMul(out, w, p, kp, act, n)
		if act.buf != nil {
			actBufs.Put(act.buf)
		}
		return
	}
	if kp, act := c.tileInputs(w, x, n); kp != nil {
		c.tileMatMul(out, w, kp, act, n)
		if act.buf != nil {
			actBufs.Put(act.buf)
		}
		return
	}
	rb := w.RowBytes()
	dot := c.rowDot(w, x, n)
	c.pool.run(w.Rows, func(lo, hi int) {
		d := dot()
		for r := lo; r < hi; r++ {
			row := w.Data[r*rb : (r+1)*rb]
			for t := 0; t < n; t++ {
				out[t*w.Rows+r] = d(row, t)
			}
		}
	})
}

// tileInputs picks the tiles for w and puts x in the form they read, or
// returns nil when w goes through the per-row dot products.
func (c *CPU) tileInputs(w *Matrix, x []float32, n int) (*tilePair, activations) {
	if c.k.tiles == nil {
		return nil, activations{}
	}
	float := activations{base: (*byte)(unsafe.Pointer(&x[0])), stride: 4 * w.Cols, n: w.Cols}
	if w.Type == quant.F32 {
		return c.k.tiles.f32, float
	}
	if kp := c.k.tiles.pair(w.Type); kp != nil && !c.FloatActivations {
		return kp, c.quantizeQ8(x, n, w.Cols, 0, c.k.tiles.quantizeQ8)
	}
	// Other types, and float activations: the float32 tiles on rows
	// dequantized as they come.
	float.dequantize = true
	return c.k.tiles.f32, float
}

// rowDot prepares the dot product of a stored weight row with input row t
// of x. It returns a maker, called once per worker, so that kernels needing
// scratch space get their own.
func (c *CPU) rowDot(w *Matrix, x []float32, n int) func() func(row []byte, t int) float32 {
	cols := w.Cols
	xt := func(t int) []float32 { return x[t*cols : (t+1)*cols] }
	float := func(k func([]byte, []float32) float32) func() func([]byte, int) float32 {
		return func() func([]byte, int) float32 {
			return func(row []byte, t int) float32 { return k(row, xt(t)) }
		}
	}
	switch w.Type {
	case quant.F32:
		return float(c.k.dot.f32)
	case quant.BF16:
		return float(c.k.dot.bf16)
	case quant.F16:
		return float(c.k.dot.f16)
	case quant.Q8_0, quant.Q4_0:
		if c.FloatActivations {
			break
		}
		k := c.k.dot.q8_0
		if w.Type == quant.Q4_0 {
			k = c.k.dot.q4_0
		}
		xq := quantizeRows(x, n, cols)
		qb := cols / 32 * q8Block
		return func() func([]byte, int) float32 {
			return func(row []byte, t int) float32 { return k(row, xq[t*qb:(t+1)*qb]) }
		}
	}
	// Other types: dequantize each weight row into the worker's scratch row,
	// then a float32 dot product.
	return func() func([]byte, int) float32 {
		scratch := make([]float32, cols)
		return func(row []byte, t int) float32 {
			// MatMul visits t = 0…n−1 for each row in turn: dequantize
			// once per weight row, not once per input row.
			if t == 0 {
				if err := quant.Dequantize(w.Type, row, scratch); err != nil {
					panic(err) // NewMatrix validated the row length
				}
			}
			return c.k.dot.f32(floatBytes(scratch), xt(t))
		}
	}
}

// quantizeRows quantizes the n rows of x (of cols values) to Q8_0 blocks.
func quantizeRows(x []float32, n, cols int) []byte {
	xq := make([]byte, n*cols/32*q8Block)
	if err := quant.Quantize(quant.Q8_0, x[:n*cols], xq); err != nil {
		panic(err) // cols is a multiple of 32: the weights' type guarantees it
	}
	return xq
}

// floatBytes views a float32 slice as its bytes (little-endian on every
// platform Go's SIMD kernels run on; the Go kernels decode bytes portably).
func floatBytes(f []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(f))), 4*len(f))
}

// attnKernels are the vector pieces of the CPU backend's attention, for
// heads of a multiple of 16 elements.
type attnKernels struct {
	// kv holds, for each KV type the kernels read, the pieces that read
	// the cache.
	kv map[quant.Type]kvKernels
	// exp sets s[j] = exp(s[j] − max) and returns their sum.
	exp func(s *float32, n int, max float32) float32
}

// kvKernels read one KV type in place: rows are dim elements of the type,
// stride elements apart, widened to float32 in registers.
type kvKernels struct {
	// scores sets s[j] = scale·(q · row j of k).
	// It returns the largest.
	scores func(q *float32, k *byte, stride, rows, dim int, scale float32, s *float32) float32
	// axpy adds Σ_j p[j]·(row j of v) to out, j in order.
	axpy func(out *float32, v *byte, stride, rows, dim int, p *float32)
}

// simdAttention is set at init where the CPU has the kernels (nil: none).
var simdAttention *attnKernels

// attend is the reference's causal grouped-query attention for one
// sequence. A worker takes a (query row, KV head) pair and computes the
// query heads that share that KV head together, a cache block at a time
// (attendBlocks), so each block of keys and values is read from memory
// once for the group and then from L1 (for Qwen2.5-0.5B, 7 heads share
// one). Each head's output sees the same operations as if it were computed
// alone. Keys and values are read in the cache's type, never copied out
// wider: by the AVX-512 pieces where the CPU has them and the head is a
// multiple of 16 elements, else by the plain ones.
func (c *CPU) attend(out, q []float32, kv *KV, pos []int, nHeads, nKVHeads, headDim int) {
	group := nHeads / nKVHeads
	scale := float32(1 / math.Sqrt(float64(headDim)))
	maxPos := 0
	for _, p := range pos {
		maxPos = max(maxPos, p)
	}
	kk, exp := plainKV(kv.Type, c.k.dot), plainExp
	if c.k.attn != nil && headDim%16 == 0 {
		if simd, ok := c.k.attn.kv[kv.Type]; ok {
			kk, exp = simd, c.k.attn.exp
		}
	}
	es := KVTypeSize(kv.Type)
	c.pool.run(len(pos)*nKVHeads, func(lo, hi int) {
		scores := make([]float32, group*(maxPos+1))
		stats := make([]float32, 2*group) // attendBlocks' maxima and sums
		for i := lo; i < hi; i++ {
			t, kvh := i/nKVHeads, i%nKVHeads
			h0 := t*nHeads + kvh*group // the group's first head, in q and out
			qg := q[h0*headDim : (h0+group)*headDim]
			og := out[h0*headDim : (h0+group)*headDim]
			kvOff := kvh * headDim * es // bytes into a row
			n := pos[t] + 1
			attendBlocks(exp, kk, og, qg, kv, kvOff, scores[:group*n], stats, n, headDim, scale)
		}
	})
}

// plainKV is the portable form of the pieces that read a KV type: a dot
// product of dots (AVX2 where the CPU has it) per key row, and value rows
// widened a few at a time.
func plainKV(t quant.Type, dots *dotKernels) kvKernels {
	es := KVTypeSize(t)
	dot := dots.f32
	switch t {
	case quant.F16:
		dot = dots.f16
	case quant.BF16:
		dot = dots.bf16
	}
	// row is row j of a pool at base, its dim elements stride apart.
	row := func(base *byte, j, stride, dim int) []byte {
		return unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(base), j*stride*es)), dim*es)
	}
	return kvKernels{
		scores: func(q *float32, k *byte, stride, rows, dim int, scale float32, s *float32) float32 {
			qs, ss := unsafe.Slice(q, dim), unsafe.Slice(s, rows)
			m := float32(math.Inf(-1))
			for j := range ss {
				ss[j] = dot(row(k, j, stride, dim), qs) * scale
				m = max(m, ss[j])
			}
			return m
		},
		axpy: func(out *float32, v *byte, stride, rows, dim int, p *float32) {
			o, ps := unsafe.Slice(out, dim), unsafe.Slice(p, rows)
			var buf [64]float32
			for j, pj := range ps {
				r := row(v, j, stride, dim)
				for i0 := 0; i0 < dim; i0 += len(buf) {
					w := buf[:min(len(buf), dim-i0)]
					loadKV(t, w, r[i0*es:])
					for i, x := range w {
						o[i0+i] += pj * x
					}
				}
			}
		},
	}
}

// plainExp is the portable attnExp: s[j] = exp(s[j] − max), returning
// their sum.
func plainExp(s *float32, n int, max float32) float32 {
	var sum float32
	ss := unsafe.Slice(s, n)
	for j, v := range ss {
		ss[j] = float32(math.Exp(float64(v - max)))
		sum += ss[j]
	}
	return sum
}

// attendBlocks is the attention of a group of query heads (q, out: heads of
// dim floats one after another) over positions 0…n−1 of one KV head,
// kvOff bytes into each cache row: for each head
// out = Σ_j exp(s_j − max)·v_j / Σ_j exp(s_j − max), s the head's n scores
// in scores; stats holds 2·group floats of scratch. Block-outer loops keep
// each block of keys and values in L1 while every head of the group reads
// it.
func attendBlocks(exp func(s *float32, n int, max float32) float32, kk kvKernels, out, q []float32, kv *KV, kvOff int, scores, stats []float32, n, dim int, scale float32) {
	group := len(q) / dim
	m, sums := stats[:group], stats[group:2*group]
	for h := range m {
		m[h] = float32(math.Inf(-1))
	}
	for p := 0; p < n; p += kv.BlockSize {
		rows := min(kv.BlockSize, n-p)
		k := &kv.Keys[kv.row(p)+kvOff]
		for h := range group {
			m[h] = max(m[h], kk.scores(&q[h*dim], k, kv.Width, rows, dim, scale, &scores[h*n+p]))
		}
	}
	for h := range group {
		sums[h] = exp(&scores[h*n], n, m[h])
	}
	clear(out)
	for p := 0; p < n; p += kv.BlockSize {
		rows := min(kv.BlockSize, n-p)
		v := &kv.Values[kv.row(p)+kvOff]
		for h := range group {
			kk.axpy(&out[h*dim], v, kv.Width, rows, dim, &scores[h*n+p])
		}
	}
	for h := range group {
		inv := 1 / sums[h]
		for i := range out[h*dim : (h+1)*dim] {
			out[h*dim+i] *= inv
		}
	}
}

// rotate is the reference RoPE. Every layer of a step rotates its queries
// and keys at the step's positions, so the cosines and sines of the last
// call are kept and reused while the positions and frequencies stay the
// same: one table per step rather than two per layer.
func (c *CPU) rotate(x []float32, pos []int, nHeads, headDim int, freqs []float64, layout RopeLayout) {
	freqs = freqs[:headDim/2]
	c.ropeMu.Lock()
	defer c.ropeMu.Unlock()
	if !slices.Equal(c.ropePos, pos) || !slices.Equal(c.ropeFreqs, freqs) {
		c.rope = RopeTable(c.rope, pos, freqs)
		c.ropePos = append(c.ropePos[:0], pos...)
		c.ropeFreqs = append(c.ropeFreqs[:0], freqs...)
	}
	RotateHeads(x, c.rope, nHeads, headDim, layout)
}

// simdSiLUMul is SiLUMul's vector kernel where the CPU has one (its exp is
// the attention's float32 polynomial, not float64 math.Exp), set at init.
var simdSiLUMul func(gate, up *float32, n int)

// siLUMul is the reference SiLUMul (gate = silu(gate)·up) split across the
// threads, elementwise, with the vector kernel where there is one.
func (c *CPU) siLUMul(gate, up []float32) {
	const chunk = 2048
	up = up[:len(gate)]
	c.pool.run((len(gate)+chunk-1)/chunk, func(lo, hi int) {
		g, u := gate[lo*chunk:min(hi*chunk, len(gate))], up[lo*chunk:min(hi*chunk, len(gate))]
		if c.k.siluMul != nil {
			c.k.siluMul(&g[0], &u[0], len(g))
			return
		}
		SiLUMul(g, u)
	})
}

// The Backend's operations: the buffers are host memory (HostBuffer), so
// each is the kernel above, or the reference function, on the slices.

func (c *CPU) Alloc(n int) Buffer { return make(HostBuffer, n) }

func (c *CPU) Upload(dst Buffer, src []float32) { copy(host(dst), src) }

func (c *CPU) Read(dst []float32, src Buffer) { copy(dst, host(src)) }

func (c *CPU) NewKVPool(layers, blocks, blockSize, width int, t quant.Type) (KVPool, error) {
	return newHostPool(layers, blocks, blockSize, width, t)
}

// Embed is the reference's embedding lookup, row by row.
func (c *CPU) Embed(out Buffer, table *Matrix, ids []int) { Reference{}.Embed(out, table, ids) }

// RMSNorm is the reference RMSNorm: a few microseconds a row, less than
// handing rows to the workers would cost.
func (c *CPU) RMSNorm(out, x, weight Buffer, n int, eps float32) {
	Reference{}.RMSNorm(out, x, weight, n, eps)
}

// AddBias is the reference AddBias.
func (c *CPU) AddBias(x, bias Buffer, rows int) { Reference{}.AddBias(x, bias, rows) }

// Add is the reference Add.
func (c *CPU) Add(x, y Buffer, n int) { Reference{}.Add(x, y, n) }

// StoreKV is the reference's, with the F16 rounding in SIMD where the CPU
// has it (storeKV).
func (c *CPU) StoreKV(pool KVPool, layer int, k, v Buffer, slots []int) {
	pool.(*hostPool).store(layer, host(k), host(v), slots)
}

func (c *CPU) CopyBlock(pool KVPool, dst, src, rows int) { pool.(*hostPool).copyBlock(dst, src, rows) }

func (c *CPU) Gather(dst, src Buffer, rows []int, width int) {
	gather(host(dst), host(src), rows, width)
}

func (c *CPU) RoPE(x Buffer, pos []int, nHeads, headDim int, rope *Rope) {
	c.rotate(host(x), pos, nHeads, headDim, rope.Freqs, rope.Layout)
}

func (c *CPU) MatMul(out Buffer, w *Matrix, x Buffer, n int) { c.matMul(host(out), w, host(x), n) }

func (c *CPU) Attention(out, q Buffer, pool KVPool, layer int, seqs []SeqBlocks, pos []int, nHeads, nKVHeads, headDim int) {
	pool.(*hostPool).attend(c.attend, host(out), host(q), layer, seqs, pos, nHeads, nKVHeads, headDim)
}

func (c *CPU) SiLUMul(gate, up Buffer, n int) { c.siLUMul(host(gate)[:n], host(up)) }
