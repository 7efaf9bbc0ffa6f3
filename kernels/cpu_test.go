package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aha-inference/aha/quant"
)

// The CPU backend's kernels are checked against float64 re-derivations of
// the reference: for float weights the exact dot product of the stored
// (dequantized) weights with x; for Q8_0/Q4_0 weights the exact block
// integer sums on the same quantized activations, and the float32 reference
// on unquantized ones.

// kernelSets are the dot kernels this machine can run: always the Go ones,
// and the SIMD ones where the CPU has them.
func kernelSets() []*dotKernels {
	sets := []*dotKernels{&goKernels}
	if simdKernels != nil {
		sets = append(sets, simdKernels)
	}
	return sets
}

// withDot is the processor's best kernels but for the dot products, k.
func withDot(k *dotKernels) kernelSet {
	ks := bestKernels()
	ks.dot = k
	return ks
}

func randFloats(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// randMatrix stores random weights in type t.
func randMatrix(tb testing.TB, r *rand.Rand, t quant.Type, rows, cols int) *Matrix {
	rb, err := t.RowBytes(cols)
	if err != nil {
		tb.Fatal(err)
	}
	data := make([]byte, rows*rb)
	if err := quant.Quantize(t, randFloats(r, rows*cols), data); err != nil {
		tb.Fatal(err)
	}
	m, err := NewMatrix(t, rows, cols, data)
	if err != nil {
		tb.Fatal(err)
	}
	return &m
}

// exactDot is Σ a·b and Σ|a·b| in float64.
func exactDot(a, b []float32) (sum, abs float64) {
	for i := range a {
		p := float64(a[i]) * float64(b[i])
		sum += p
		abs += math.Abs(p)
	}
	return sum, abs
}

// exactQ8Dot is Σ_blocks d_w·d_x·(exact integer block sum) and the same
// sum of absolute products, for a row of w (Q8_0 or Q4_0) against Q8_0 activations:
// the same arithmetic as the kernels, with no rounding.
func exactQ8Dot(t quant.Type, w, xq []byte, cols int) (sum, abs float64) {
	wq := make([]float32, cols)
	if err := quant.Dequantize(t, w, wq); err != nil {
		panic(err)
	}
	xs := make([]float32, cols)
	if err := quant.Dequantize(quant.Q8_0, xq, xs); err != nil {
		panic(err)
	}
	wBlock := t.TypeSize()
	for b := 0; b < cols/32; b++ {
		dw, dx := float64(half(w[b*wBlock:])), float64(half(xq[b*q8Block:]))
		if dw == 0 || dx == 0 {
			continue
		}
		var isum, iabs int64
		for j := b * 32; j < (b+1)*32; j++ {
			// Dequantized values are exact multiples of d: recover q.
			p := int64(math.Round(float64(wq[j])/dw)) * int64(math.Round(float64(xs[j])/dx))
			isum += p
			iabs += max(p, -p)
		}
		scale := float64(float32(dw) * float32(dx))
		sum += scale * float64(isum)
		// SIMD kernels scale partial sums of a block before adding them.
		abs += math.Abs(scale) * float64(iabs)
	}
	return sum, abs
}

// checkDot runs one kernel of k on a random row of the given type and length.
func checkDot(t *testing.T, k *dotKernels, typ quant.Type, cols int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	w := randMatrix(t, r, typ, 1, cols)
	x := randFloats(r, cols)
	wf := make([]float32, cols)
	w.DequantizeRow(0, wf)
	want, abs := exactDot(wf, x)
	var got float32
	switch typ {
	case quant.F32:
		got = k.f32(w.Data, x)
	case quant.BF16:
		got = k.bf16(w.Data, x)
	case quant.F16:
		got = k.f16(w.Data, x)
	case quant.Q8_0, quant.Q4_0:
		xq := quantizeRows(x, 1, cols)
		kq := k.q8_0
		if typ == quant.Q4_0 {
			kq = k.q4_0
		}
		got = kq(w.Data, xq)
		// The integer sums are exact: only the float accumulation of the
		// scaled block sums may round.
		iwant, iabs := exactQ8Dot(typ, w.Data, xq, cols)
		if d := math.Abs(float64(got) - iwant); d > 1e-5*iabs+1e-30 {
			t.Errorf("%s %v cols=%d: got %v, exact on quantized activations %v (|diff| %g > 1e-5·%g)", k.name, typ, cols, got, iwant, d, iabs)
		}
		// Quantizing the activations costs at most half a step of 1/127
		// of each block's largest value.
		if d := math.Abs(float64(got) - want); d > 2e-2*abs {
			t.Errorf("%s %v cols=%d: got %v, float reference %v (|diff| %g > 2e-2·%g)", k.name, typ, cols, got, want, d, abs)
		}
		return
	}
	// Widening bf16/f16 is exact, so all float types share the f32 bound.
	if d := math.Abs(float64(got) - want); d > 1e-5*abs {
		t.Errorf("%s %v cols=%d: got %v, want %v (|diff| %g > 1e-5·%g)", k.name, typ, cols, got, want, d, abs)
	}
}

var (
	floatTypes = []quant.Type{quant.F32, quant.BF16, quant.F16}
	blockTypes = []quant.Type{quant.Q8_0, quant.Q4_0}
)

func TestDotKernels(t *testing.T) {
	for _, k := range kernelSets() {
		for _, typ := range floatTypes {
			for _, cols := range []int{0, 1, 7, 8, 9, 31, 32, 33, 63, 100, 257, 896, 4864} {
				checkDot(t, k, typ, cols, uint64(cols))
			}
		}
		for _, typ := range blockTypes {
			for _, cols := range []int{0, 32, 64, 96, 160, 896, 4864} {
				checkDot(t, k, typ, cols, uint64(cols))
			}
		}
	}
}

func fuzzDot(f *testing.F, typ quant.Type, unit int) {
	f.Add(uint64(1), uint16(1))
	f.Add(uint64(2), uint16(37))
	f.Add(uint64(3), uint16(150))
	f.Fuzz(func(t *testing.T, seed uint64, n uint16) {
		cols := int(n%300) * unit
		for _, k := range kernelSets() {
			checkDot(t, k, typ, cols, seed)
		}
	})
}

func FuzzDotF32(f *testing.F)  { fuzzDot(f, quant.F32, 1) }
func FuzzDotBF16(f *testing.F) { fuzzDot(f, quant.BF16, 1) }
func FuzzDotF16(f *testing.F)  { fuzzDot(f, quant.F16, 1) }
func FuzzDotQ8_0(f *testing.F) { fuzzDot(f, quant.Q8_0, 32) }
func FuzzDotQ4_0(f *testing.F) { fuzzDot(f, quant.Q4_0, 32) }

// TestSIMDMatchesGoOnSpecials checks that the SIMD float kernels widen
// every kind of stored value as the Go ones do (subnormals, infinities,
// signed zeros), on single-element rows so the summation order is moot.
func TestSIMDMatchesGoOnSpecials(t *testing.T) {
	if simdKernels == nil {
		t.Skip("no SIMD kernels on this CPU")
	}
	for _, typ := range []quant.Type{quant.BF16, quant.F16} {
		kg, ks := goKernels.bf16, simdKernels.bf16
		if typ == quant.F16 {
			kg, ks = goKernels.f16, simdKernels.f16
		}
		for _, bits := range []uint16{0x0000, 0x8000, 0x0001, 0x03ff, 0x7bff, 0x7c00, 0xfc00, 0x3c00, 0x007f, 0x7f7f} {
			for _, n := range []int{1, 8} { // the scalar tail and the vector loop
				w := make([]byte, 2*n)
				x := make([]float32, n)
				w[0], w[1] = byte(bits), byte(bits>>8)
				x[0] = 1.5
				g, s := kg(w, x), ks(w, x)
				if math.Float32bits(g) != math.Float32bits(s) {
					t.Errorf("%v %#04x n=%d: simd %v, go %v", typ, bits, n, s, g)
				}
			}
		}
	}
}

var matMulTypes = []quant.Type{quant.F32, quant.BF16, quant.F16, quant.Q8_0, quant.Q4_0, quant.Q4_K, quant.Q6_K}

// TestMatMulMatchesReference compares whole MatMuls (odd row counts, batch
// sizes 1, 3, 17) with the reference MatMul, per output element.
func TestMatMulMatchesReference(t *testing.T) {
	t.Parallel()
	for _, k := range kernelSets() {
		cpu := newCPU(3, withDot(k))
		defer cpu.Close()
		for _, floatAct := range []bool{false, true} {
			cpu.FloatActivations = floatAct
			testMatMulMatchesReference(t, cpu, k)
		}
	}
}

func testMatMulMatchesReference(t *testing.T, cpu *CPU, k *dotKernels) {
	for _, typ := range matMulTypes {
		cols := 96
		if typ.BlockSize() == 256 {
			cols = 512
		} else if typ.BlockSize() == 1 {
			cols = 77
		}
		for _, n := range []int{1, 3, 17} {
			r := rand.New(rand.NewPCG(uint64(n), uint64(typ)))
			w := randMatrix(t, r, typ, 13, cols)
			x := randFloats(r, n*cols)
			got := make([]float32, n*w.Rows)
			want := make([]float32, n*w.Rows)
			cpu.matMul(got, w, x, n)
			MatMul(want, w, x, n)
			tol := 1e-5
			q8Act := typ == quant.Q8_0 || typ == quant.Q4_0 || cpu.k.tiles.pair(typ) != nil && typ.BlockSize() == 256
			if q8Act && !cpu.FloatActivations {
				tol = 2e-2 // Q8_0 activations: half a step of 1/127 of each block's largest value
			}
			if typ == quant.BF16 && cpu.bf16Dot() {
				tol = 1.0 / 256 // activations rounded to bfloat16: 2⁻⁹ each
			}
			wf := make([]float32, cols)
			for i := range got {
				tt, row := i/w.Rows, i%w.Rows
				w.DequantizeRow(row, wf)
				_, abs := exactDot(wf, x[tt*cols:(tt+1)*cols])
				if d := math.Abs(float64(got[i] - want[i])); d > tol*abs {
					t.Errorf("%s %v n=%d float activations %v out[%d]: got %v, reference %v (|diff| %g > %g·%g)", k.name, typ, n, cpu.FloatActivations, i, got[i], want[i], d, tol, abs)
				}
			}
		}
	}
}

// TestMatMulDeterministic checks the promise that results are bit-identical
// for any thread count and batch size.
func TestMatMulDeterministic(t *testing.T) {
	t.Parallel()
	const rows, n = 29, 5
	for _, k := range kernelSets() {
		for _, typ := range matMulTypes {
			cols := 64
			if typ.BlockSize() == 256 {
				cols = 256
			}
			r := rand.New(rand.NewPCG(7, uint64(typ)))
			w := randMatrix(t, r, typ, rows, cols)
			x := randFloats(r, n*cols)
			var first []float32
			for _, threads := range []int{1, 2, 3, 7} {
				cpu := newCPU(threads, withDot(k))
				got := make([]float32, n*rows)
				cpu.matMul(got, w, x, n)
				// Row by row, alone in a batch of one.
				for tt := 0; tt < n; tt++ {
					one := make([]float32, rows)
					cpu.matMul(one, w, x[tt*cols:(tt+1)*cols], 1)
					if !sameBits(one, got[tt*rows:(tt+1)*rows]) {
						t.Errorf("%s %v threads=%d: row %d differs alone and in a batch", k.name, typ, threads, tt)
					}
				}
				cpu.Close()
				if first == nil {
					first = got
				} else if !sameBits(first, got) {
					t.Errorf("%s %v: %d threads differ from 1 thread", k.name, typ, threads)
				}
			}
		}
	}
}

func sameBits(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

// attentionCase is a random causal GQA problem: n query rows at the end of
// a cache of ctx positions.
func attentionCase(seed uint64, n, ctx, nHeads, nKV, headDim int) (q, keys, values []float32, pos []int) {
	r := rand.New(rand.NewPCG(seed, 2))
	q = randFloats(r, n*nHeads*headDim)
	keys = randFloats(r, ctx*nKV*headDim)
	values = randFloats(r, ctx*nKV*headDim)
	for t := 0; t < n; t++ {
		pos = append(pos, ctx-n+t)
	}
	return
}

// pageKV scatters a contiguous cache of ctx rows into blocks of bs rows of
// KV type typ, stored in reverse order, with an unused block first, so
// that a kernel reading positions as if they were contiguous gets the
// wrong answer.
func pageKV(typ quant.Type, keys, values []float32, ctx, width, bs int) *KV {
	nb := (ctx + bs - 1) / bs
	pool := (nb + 1) * bs * width * KVTypeSize(typ)
	kv := &KV{Type: typ, Keys: make([]byte, pool), Values: make([]byte, pool), BlockSize: bs, Width: width}
	for b := 0; b < nb; b++ {
		kv.Blocks = append(kv.Blocks, nb-b)
	}
	for p := 0; p < ctx; p++ {
		kv.Put(p, keys[p*width:(p+1)*width], values[p*width:(p+1)*width])
	}
	return kv
}

// contiguousKV is a cache of ctx rows of KV type typ in one block.
func contiguousKV(typ quant.Type, keys, values []float32, ctx, width int) *KV {
	return pageKV(typ, keys, values, ctx, width, ctx)
}

// TestCPUAttention compares the CPU's attention with the reference, with
// each set of dot kernels and with the plain pieces as well as the SIMD
// ones where the CPU has them.
func TestCPUAttention(t *testing.T) {
	t.Parallel()
	for _, ak := range []*attnKernels{nil, simdAttention} {
		testCPUAttention(t, ak)
	}
}

func testCPUAttention(t *testing.T, ak *attnKernels) {
	for _, k := range kernelSets() {
		ks := withDot(k)
		ks.attn = ak
		for _, tc := range []struct{ n, ctx, nHeads, nKV, headDim int }{
			{1, 1, 2, 1, 8},
			{1, 9, 4, 2, 12},
			{3, 17, 6, 2, 64},
			{17, 17, 3, 3, 5},
		} {
			for _, typ := range KVTypes {
				q, keys, values, pos := attentionCase(uint64(tc.ctx), tc.n, tc.ctx, tc.nHeads, tc.nKV, tc.headDim)
				want := make([]float32, len(q))
				width := tc.nKV * tc.headDim
				Attention(want, q, contiguousKV(typ, keys, values, tc.ctx, width), pos, tc.nHeads, tc.nKV, tc.headDim)
				paged := pageKV(typ, keys, values, tc.ctx, width, 4)
				var first []float32
				for _, threads := range []int{1, 2, 3, 7} {
					cpu := newCPU(threads, ks)
					got := make([]float32, len(q))
					cpu.attend(got, q, paged, pos, tc.nHeads, tc.nKV, tc.headDim)
					cpu.Close()
					// Outputs are convex combinations of values of magnitude
					// about 1; scores differ from the reference's by rounding.
					for i := range got {
						if d := math.Abs(float64(got[i] - want[i])); d > 1e-5 {
							t.Fatalf("%s %v %+v threads=%d out[%d]: got %v, reference %v", k.name, typ, tc, threads, i, got[i], want[i])
						}
					}
					if first == nil {
						first = got
					} else if !sameBits(first, got) {
						t.Errorf("%s %v %+v: %d threads differ from 1 thread", k.name, typ, tc, threads)
					}
				}
			}
		}
	}
}

// TestPoolParks runs jobs whose chunks are slow (so the caller parks) with
// pauses between them (so the workers park), checking every item runs once.
func TestPoolParks(t *testing.T) {
	p := newPool(3)
	defer p.close()
	for round := range 4 {
		hits := make([]int32, 12)
		p.run(len(hits), func(lo, hi int) {
			time.Sleep(time.Millisecond)
			for i := lo; i < hi; i++ {
				atomic.AddInt32(&hits[i], 1)
			}
		})
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("round %d: item %d run %d times", round, i, h)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPoolCoversRange(t *testing.T) {
	p := newPool(3)
	defer p.close()
	for _, n := range []int{0, 1, 2, 3, 4, 10, 101} {
		hits := make([]int, n)
		p.run(n, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				hits[i]++
			}
		})
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("n=%d: item %d run %d times", n, i, h)
			}
		}
	}
}

// BenchmarkMatMul measures MatMul on the shapes of Qwen2.5-0.5B's MLP.
// With one token it reports weight bytes read per second: the ceiling is
// memory bandwidth, about 35-48 GB/s with two threads on the development
// machine (2-core AMD EPYC, Zen 5), more where the matrix fits in its 32 MB
// L3 as these do. With many tokens it reports GFLOP/s (2·rows·cols·n per
// call). The ceilings on that machine: the f32 FMA peak (2 cores × 2
// pipes × 16 lanes × 2 flops a cycle, several hundred GFLOP/s; llama.cpp's
// F16 prefill reaches ~330) for F32/F16/BF16, twice that for VDPBF16PS
// (BF16 with bf16 activations), and about 930 GOP/s for the int8 dot
// products (VPDPBUSD: Q8_0, Q4_0, Q4_K, Q6_K).
func BenchmarkMatMul(b *testing.B) {
	cpu := NewCPU(0)
	defer cpu.Close()
	for _, typ := range []quant.Type{quant.F32, quant.BF16, quant.F16, quant.Q8_0, quant.Q4_0, quant.Q4_K, quant.Q6_K} {
		for _, shape := range [][2]int{{4864, 896}, {896, 4864}} {
			rows, cols := shape[0], shape[1]
			if cols%typ.BlockSize() != 0 {
				continue // 896 is not a multiple of the K-quants' 256
			}
			r := rand.New(rand.NewPCG(1, 2))
			w := randMatrix(b, r, typ, rows, cols)
			for _, n := range []int{1, 16, 128} {
				x := randFloats(r, n*cols)
				out := make([]float32, n*rows)
				for _, floatAct := range []bool{false, true} {
					if floatAct && typ != quant.BF16 {
						continue
					}
					name := fmt.Sprintf("%v/%dx%d/n=%d", typ, rows, cols, n)
					if floatAct {
						name += "/floatact"
					}
					b.Run(name, func(b *testing.B) {
						cpu.FloatActivations = floatAct
						defer func() { cpu.FloatActivations = false }()
						b.SetBytes(int64(len(w.Data)))
						for b.Loop() {
							cpu.matMul(out, w, x, n)
						}
						sec := b.Elapsed().Seconds() / float64(b.N)
						if n == 1 {
							b.ReportMetric(float64(len(w.Data))/sec/1e9, "GB/s")
						} else {
							b.ReportMetric(2*float64(rows*cols*n)/sec/1e9, "GFLOP/s")
						}
					})
				}
			}
		}
	}
}

// BenchmarkAttention measures one layer of Qwen2.5-0.5B's attention (14
// query heads, 2 KV heads of 64) for one query at the end of a context, for
// each KV type, in
// GFLOP/s (4·heads·64·ctx per query: the QK dots and the weighted values).
// The f32 FMA peak (~230-330 GFLOP/s on the development machine) bounds it;
// at these sizes the cache reads and the exp come first.
func BenchmarkAttention(b *testing.B) {
	cpu := NewCPU(0)
	defer cpu.Close()
	for _, typ := range KVTypes {
		for _, ctx := range []int{128, 1024, 4096} {
			for _, n := range []int{1, 64} {
				q, keys, values, pos := attentionCase(1, n, ctx, 14, 2, 64)
				kv := pageKV(typ, keys, values, ctx, 128, 16)
				out := make([]float32, len(q))
				b.Run(fmt.Sprintf("%v/ctx=%d/n=%d", typ, ctx, n), func(b *testing.B) {
					for b.Loop() {
						cpu.attend(out, q, kv, pos, 14, 2, 64)
					}
					flops := 0.0
					for _, p := range pos {
						flops += 4 * 14 * 64 * float64(p+1)
					}
					b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

func TestDefaultThreadsPolicy(t *testing.T) {
	for _, c := range []struct{ physical, usable, want int }{
		{254, 2, 2}, // a 2-vCPU guest reporting the host's cores
		{128, 4, 4}, // a container limited to 4 CPUs
		{8, 16, 8},  // SMT: one thread per core, not per hardware thread
		{8, 8, 8},   // bare metal without SMT
		{0, 6, 6},   // core count unknown
		{-1, 0, 1},  // nothing known: still one thread
		{16, 1, 1},  // taskset -c 0
	} {
		got, why := defaultThreads(c.physical, c.usable)
		if got != c.want || why == "" {
			t.Errorf("defaultThreads(%d, %d) = %d, %q; want %d with a reason", c.physical, c.usable, got, why, c.want)
		}
	}
}

func TestDefaultThreadsFitsTheProcess(t *testing.T) {
	n, why := DefaultThreads()
	if n < 1 || n > runtime.GOMAXPROCS(0) {
		t.Fatalf("DefaultThreads() = %d (%s); GOMAXPROCS is %d", n, why, runtime.GOMAXPROCS(0))
	}
	c := NewCPU(0)
	defer c.Close()
	if c.Threads() != n || c.ThreadsWhy() != why {
		t.Fatalf("NewCPU(0) runs %d threads (%s); DefaultThreads says %d (%s)", c.Threads(), c.ThreadsWhy(), n, why)
	}
	// GOMAXPROCS is what the affinity mask and cgroup limit set at start;
	// lowering it by hand must lower the default too.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	if n, why := DefaultThreads(); n != 1 {
		t.Fatalf("with GOMAXPROCS 1, DefaultThreads() = %d (%s)", n, why)
	}
}

// TestCPURoPE: the CPU backend's RoPE, which keeps the last rotary table,
// gives the reference's bits for every call, in both layouts, when the
// positions change but not their count and when the frequencies change.
func TestCPURoPE(t *testing.T) {
	cpu := NewCPU(2)
	defer cpu.Close()
	r := rand.New(rand.NewPCG(9, 10))
	const heads, dim = 3, 16
	plain := RopeFrequencies(dim, 10000, nil)
	factors := make([]float32, dim/2)
	for i := range factors {
		factors[i] = float32(1 + i)
	}
	scaled := RopeFrequencies(dim, 10000, factors)
	for i, c := range []struct {
		pos    []int
		freqs  []float64
		layout RopeLayout
	}{
		{[]int{0, 1, 2}, plain, RopeHalves},
		{[]int{0, 1, 2}, plain, RopeInterleaved}, // the table kept
		{[]int{5, 1, 2}, plain, RopeHalves},      // same count, new positions
		{[]int{5, 1, 2}, scaled, RopeHalves},     // new frequencies
		{[]int{7}, scaled, RopeInterleaved},
		{nil, scaled, RopeHalves},
	} {
		x := randFloats(r, len(c.pos)*heads*dim)
		want := slices.Clone(x)
		RoPE(want, c.pos, heads, dim, c.freqs, c.layout)
		cpu.rotate(x, c.pos, heads, dim, c.freqs, c.layout)
		if !sameBits(x, want) {
			t.Errorf("call %d (%v, %v): differs from the reference", i, c.pos, c.layout)
		}
	}
}
