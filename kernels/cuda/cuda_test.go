//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/quant"
)

// Every kernel is compared with its Go reference in package kernels on
// random inputs, outputs poisoned with NaN first so that an element the
// kernel never writes fails. Tolerances scale with the sum of magnitudes of
// the terms an output sums: |got − want| ≤ tol·Σ|aᵢbᵢ|, with tol 1e-5 where
// both sides compute in float32 and 1e-2 where the GPU rounds activations to
// 16 bits for the tensor cores.

var (
	openOnce sync.Once
	shared   *Backend
	openErr  error
)

// device returns the test backend, or skips the test where this machine has
// no CUDA driver or device. Once a device is there, failing to open it is a
// test failure.
func device(t testing.TB) *Backend {
	t.Helper()
	if n, err := deviceCount(); err != nil || n == 0 {
		t.Skipf("no CUDA device here (devices: %d, driver: %v); see DEVELOPERS.md for running these tests on a GPU", n, err)
	}
	openOnce.Do(func() { shared, openErr = Open() })
	if openErr != nil {
		t.Fatal(openErr)
	}
	return shared
}

func TestNewWithoutDevice(t *testing.T) {
	if n, err := deviceCount(); err == nil && n > 0 {
		t.Skip("this machine has a CUDA device")
	}
	b, err := New()
	if err == nil || b != nil {
		t.Fatalf("New() = %v, %v without a device; want an error", b, err)
	}
	t.Logf("New() without a device: %v", err)
}

// The tests run each operation on host data: on puts it in a new device
// buffer, back reads a buffer back, failing the test on a device error.

func on(t testing.TB, b *Backend, x []float32) kernels.Buffer {
	t.Helper()
	buf := b.Alloc(len(x))
	b.Upload(buf, x)
	t.Cleanup(buf.Free)
	return buf
}

func back(t testing.TB, b *Backend, buf kernels.Buffer) []float32 {
	t.Helper()
	out := make([]float32, buf.Len())
	b.Read(out, buf)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// matMul is b.MatMul on host rows, into a poisoned output.
func matMul(t testing.TB, b *Backend, w *kernels.Matrix, x []float32, n int) []float32 {
	t.Helper()
	out := on(t, b, poisoned(n*w.Rows))
	b.MatMul(out, w, on(t, b, x), n)
	return back(t, b, out)
}

// attention is b.Attention over a device pool holding kv's positions
// 0…max(pos) in the same blocks, into a poisoned output.
func attention(t testing.TB, b *Backend, q []float32, kv *kernels.KV, pos []int, nHeads, nKVHeads, headDim int) []float32 {
	t.Helper()
	pool, err := b.NewKVPool(1, len(kv.Keys)/(4*kv.BlockSize*kv.Width), kv.BlockSize, kv.Width, quant.F32)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Free()
	var keys, values []float32
	var slots []int
	for p := range slices.Max(pos) + 1 {
		keys, values = append(keys, kvRow(kv.Key(p))...), append(values, kvRow(kv.Value(p))...)
		slots = append(slots, kv.Blocks[p/kv.BlockSize]*kv.BlockSize+p%kv.BlockSize)
	}
	b.StoreKV(pool, 0, on(t, b, keys), on(t, b, values), slots)
	out := on(t, b, poisoned(len(q)))
	b.Attention(out, on(t, b, q), pool, 0, []kernels.SeqBlocks{{Rows: len(pos), Blocks: kv.Blocks}}, pos, nHeads, nKVHeads, headDim)
	return back(t, b, out)
}

func randFloats(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func poisoned(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(math.NaN())
	}
	return x
}

// randMatrix stores random weights in type t.
func randMatrix(t testing.TB, r *rand.Rand, typ quant.Type, rows, cols int) *kernels.Matrix {
	t.Helper()
	rb, err := typ.RowBytes(cols)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, rows*rb)
	if err := quant.Quantize(typ, randFloats(r, rows*cols), data); err != nil {
		t.Fatal(err)
	}
	m, err := kernels.NewMatrix(typ, rows, cols, data)
	if err != nil {
		t.Fatal(err)
	}
	return &m
}

// within fails t unless |got − want| ≤ bound (and got is a number).
func within(t *testing.T, what string, i int, got, want float32, bound float64) {
	t.Helper()
	if math.IsNaN(float64(got)) || math.Abs(float64(got)-float64(want)) > bound {
		t.Fatalf("%s: element %d = %g, want %g (±%.3g)", what, i, got, want, bound)
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

// matmulTypes are the weight types with their tolerance: the types with
// kernels of their own, and Q5_K, which the backend decodes to f32 at upload.
var matmulTypes = []struct {
	typ quant.Type
	tol float64
}{
	{quant.F32, 1e-5},
	{quant.F16, 1e-2},
	{quant.BF16, 1e-2},
	{quant.Q8_0, 1e-5},
	{quant.Q4_0, 1e-5},
	{quant.Q4_K, 1e-5},
	{quant.Q6_K, 1e-5},
	{quant.Q5_K, 1e-5},
}

// shapes are (rows, cols) pairs: ragged row counts, column counts around
// the 256-column split boundaries and the 16-column mma step, and model
// sizes. Column counts a type cannot hold are skipped.
var shapes = [][2]int{
	{1, 1}, {7, 8}, {33, 16}, {5, 33}, {100, 32}, {17, 96}, {64, 256}, {65, 300},
	{40, 512}, {19, 1000}, {130, 1024}, {896, 896}, {31, 4096}, {12, 4864},
}

func TestMatMul(t *testing.T) {
	b := device(t)
	for _, tc := range matmulTypes {
		for _, sh := range shapes {
			rows, cols := sh[0], sh[1]
			if cols%tc.typ.BlockSize() != 0 {
				continue
			}
			for _, n := range []int{1, 3, 8, 9, 33, 70} {
				name := fmt.Sprintf("%v/%dx%d/n=%d", tc.typ, rows, cols, n)
				r := rand.New(rand.NewPCG(uint64(rows*cols), uint64(n)))
				w := randMatrix(t, r, tc.typ, rows, cols)
				x := randFloats(r, n*cols)
				want := make([]float32, n*rows)
				kernels.MatMul(want, w, x, n)
				got := matMul(t, b, w, x, n)
				row := make([]float32, cols)
				for ri := 0; ri < rows; ri++ {
					w.DequantizeRow(ri, row)
					for ti := 0; ti < n; ti++ {
						var abs float64
						for c, v := range row {
							abs += math.Abs(float64(v) * float64(x[ti*cols+c]))
						}
						i := ti*rows + ri
						within(t, name, i, got[i], want[i], tc.tol*abs)
					}
				}
			}
		}
	}
}

// A token's output must not depend on the batch it is in: the same rows run
// alone, in a small batch and in a large one give the same bits.
func TestMatMulBatchInvariant(t *testing.T) {
	b := device(t)
	for _, tc := range matmulTypes {
		rows, cols := 70, 1024
		r := rand.New(rand.NewPCG(3, uint64(tc.typ)))
		w := randMatrix(t, r, tc.typ, rows, cols)
		const n = 100
		x := randFloats(r, n*cols)
		all := matMul(t, b, w, x, n)
		for _, part := range [][2]int{{0, 1}, {37, 38}, {99, 100}, {5, 14}, {60, 93}} {
			lo, hi := part[0], part[1]
			got := matMul(t, b, w, x[lo*cols:hi*cols], hi-lo)
			if !sameBits(got, all[lo*rows:hi*rows]) {
				t.Errorf("%v: tokens %d…%d alone differ from the same tokens in a batch of %d", tc.typ, lo, hi-1, n)
			}
		}
	}
}

// pagedKV stores ctx random positions in blocks of bs, the block table in
// reverse with an unused block first, so that reading positions as if they
// were contiguous gives wrong answers.
func pagedKV(r *rand.Rand, ctx, width, bs int) *kernels.KV {
	nb := (ctx + bs - 1) / bs
	kv := &kernels.KV{
		Type: quant.F32, Keys: make([]byte, 4*(nb+1)*bs*width), Values: make([]byte, 4*(nb+1)*bs*width),
		BlockSize: bs, Width: width,
	}
	for i := 0; i < nb; i++ {
		kv.Blocks = append(kv.Blocks, nb-i)
	}
	for p := range ctx {
		kv.Put(p, randFloats(r, width), randFloats(r, width))
	}
	return kv
}

// kvRow widens a stored float32 cache row.
func kvRow(row []byte) []float32 {
	f := make([]float32, len(row)/4)
	if err := quant.Dequantize(quant.F32, row, f); err != nil {
		panic(err)
	}
	return f
}

// attentionBound is tol·Σ_j p_j·|v_j[i]| for each output element, with the
// softmax weights p of the reference computed in float64.
func attentionBound(q []float32, kv *kernels.KV, pos []int, nHeads, nKVHeads, headDim int, tol float64) []float64 {
	bound := make([]float64, len(q))
	group := nHeads / nKVHeads
	scale := 1 / math.Sqrt(float64(headDim))
	for t, p := range pos {
		for h := 0; h < nHeads; h++ {
			qh := q[(t*nHeads+h)*headDim : (t*nHeads+h+1)*headDim]
			off := h / group * headDim
			s := make([]float64, p+1)
			mx := math.Inf(-1)
			for j := range s {
				for i, v := range kvRow(kv.Key(j))[off : off+headDim] {
					s[j] += float64(qh[i]) * float64(v)
				}
				s[j] *= scale
				mx = math.Max(mx, s[j])
			}
			var sum float64
			for j := range s {
				s[j] = math.Exp(s[j] - mx)
				sum += s[j]
			}
			for j := range s {
				for i, v := range kvRow(kv.Value(j))[off : off+headDim] {
					bound[(t*nHeads+h)*headDim+i] += tol * s[j] / sum * math.Abs(float64(v))
				}
			}
		}
	}
	return bound
}

var attentionCases = []struct{ n, ctx, nHeads, nKVHeads, headDim, blockSize int }{
	{1, 1, 2, 1, 8, 16},       // first token
	{1, 9, 4, 2, 12, 4},       // head size not a multiple of 32
	{3, 17, 6, 2, 64, 4},      // prefill chunk
	{17, 17, 3, 3, 5, 16},     // whole prompt, MHA, odd head size
	{8, 40, 8, 4, 8, 16},      // stories260K's shape
	{1, 700, 14, 2, 64, 16},   // decode over three splits, Qwen2.5-0.5B heads
	{20, 600, 28, 4, 128, 16}, // prefill across splits, Qwen2.5-7B heads
	{2, 300, 16, 1, 256, 32},  // largest head, one KV head
	{64, 64, 12, 3, 32, 8},    // group of 4
}

func TestAttention(t *testing.T) {
	b := device(t)
	for _, tc := range attentionCases {
		name := fmt.Sprintf("n=%d ctx=%d heads=%d/%d dim=%d bs=%d", tc.n, tc.ctx, tc.nHeads, tc.nKVHeads, tc.headDim, tc.blockSize)
		r := rand.New(rand.NewPCG(uint64(tc.ctx), uint64(tc.headDim)))
		kv := pagedKV(r, tc.ctx, tc.nKVHeads*tc.headDim, tc.blockSize)
		q := randFloats(r, tc.n*tc.nHeads*tc.headDim)
		var pos []int
		for i := 0; i < tc.n; i++ {
			pos = append(pos, tc.ctx-tc.n+i)
		}
		want := make([]float32, len(q))
		kernels.Attention(want, q, kv, pos, tc.nHeads, tc.nKVHeads, tc.headDim)
		got := attention(t, b, q, kv, pos, tc.nHeads, tc.nKVHeads, tc.headDim)
		bound := attentionBound(q, kv, pos, tc.nHeads, tc.nKVHeads, tc.headDim, 1e-5)
		for i := range want {
			within(t, name, i, got[i], want[i], bound[i])
		}
	}
}

// A query row's attention output must not depend on the other rows of the
// call: the last row of a prefill equals the same row decoded alone.
func TestAttentionBatchInvariant(t *testing.T) {
	b := device(t)
	const n, ctx, nHeads, nKV, dim = 40, 560, 14, 2, 64
	r := rand.New(rand.NewPCG(5, 5))
	kv := pagedKV(r, ctx, nKV*dim, 16)
	q := randFloats(r, n*nHeads*dim)
	var pos []int
	for i := 0; i < n; i++ {
		pos = append(pos, ctx-n+i)
	}
	all := attention(t, b, q, kv, pos, nHeads, nKV, dim)
	for _, t0 := range []int{0, 17, n - 1} {
		w := nHeads * dim
		got := attention(t, b, q[t0*w:(t0+1)*w], kv, pos[t0:t0+1], nHeads, nKV, dim)
		if !sameBits(got, all[t0*w:(t0+1)*w]) {
			t.Errorf("query row %d alone differs from the same row in a batch of %d", t0, n)
		}
	}
}

func TestRMSNorm(t *testing.T) {
	b := device(t)
	for _, d := range []int{1, 8, 64, 255, 896, 3584} {
		r := rand.New(rand.NewPCG(uint64(d), 1))
		const rows = 5
		x, w := randFloats(r, rows*d), randFloats(r, d)
		want := make([]float32, len(x))
		kernels.RMSNorm(want, x, w, 1e-6)
		out := on(t, b, poisoned(len(x)))
		b.RMSNorm(out, on(t, b, x), on(t, b, w), len(x), 1e-6)
		got := back(t, b, out)
		for i := range want {
			// Only the float64 sum of squares is ordered differently.
			within(t, fmt.Sprintf("d=%d", d), i, got[i], want[i], 1e-6*math.Abs(float64(want[i])))
		}
	}
}

func TestRoPE(t *testing.T) {
	b := device(t)
	for _, layout := range []kernels.RopeLayout{kernels.RopeHalves, kernels.RopeInterleaved} {
		for _, tc := range []struct{ nHeads, headDim int }{{1, 2}, {4, 8}, {14, 64}, {3, 128}} {
			r := rand.New(rand.NewPCG(uint64(tc.headDim), uint64(layout)))
			pos := []int{0, 1, 7, 100, 4095, 32767}
			x := randFloats(r, len(pos)*tc.nHeads*tc.headDim)
			freqs := kernels.RopeFrequencies(tc.headDim, 1e6, nil)
			want := append([]float32(nil), x...)
			kernels.RoPE(want, pos, tc.nHeads, tc.headDim, freqs, layout)
			xd := on(t, b, x)
			b.RoPE(xd, pos, tc.nHeads, tc.headDim, &kernels.Rope{Freqs: freqs, Layout: layout})
			got := back(t, b, xd)
			for i := range want {
				// sin and cos in float64 may differ in the last bit between
				// the two math libraries.
				within(t, fmt.Sprintf("%v/%d×%d", layout, tc.nHeads, tc.headDim), i, got[i], want[i], 1e-6*(1+math.Abs(float64(want[i]))))
			}
		}
	}
}

func TestElementwise(t *testing.T) {
	b := device(t)
	r := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{1, 255, 4864 * 3} {
		x, y := randFloats(r, n), randFloats(r, n)
		for _, op := range []struct {
			name      string
			ref       func(x, y []float32)
			gpu       func(x, y kernels.Buffer, n int)
			tolerance float64
		}{
			{"silu_mul", kernels.SiLUMul, b.SiLUMul, 1e-6},
			{"add", kernels.Add, b.Add, 0},
		} {
			want := append([]float32(nil), x...)
			op.ref(want, y)
			xd := on(t, b, x)
			op.gpu(xd, on(t, b, y), n)
			got := back(t, b, xd)
			for i := range want {
				within(t, fmt.Sprintf("%s/n=%d", op.name, n), i, got[i], want[i], op.tolerance*math.Abs(float64(want[i])))
			}
		}
	}
	x, bias := randFloats(r, 7*96), randFloats(r, 96)
	want := append([]float32(nil), x...)
	kernels.AddBias(want, bias)
	xd := on(t, b, x)
	b.AddBias(xd, on(t, b, bias), 7)
	got := back(t, b, xd)
	if !sameBits(got, want) {
		t.Error("AddBias differs from the reference")
	}
}

// The device decodes weights with the reference's float operations, so an
// embedding row is bit-identical.
func TestEmbed(t *testing.T) {
	b := device(t)
	for _, tc := range matmulTypes {
		for _, cols := range []int{8, 13, 256, 896} {
			if cols%tc.typ.BlockSize() != 0 {
				continue
			}
			r := rand.New(rand.NewPCG(uint64(cols), uint64(tc.typ)))
			table := randMatrix(t, r, tc.typ, 50, cols)
			ids := []int{0, 49, 7, 7, 23}
			want := make([]float32, len(ids)*cols)
			for i, id := range ids {
				kernels.Embed(want[i*cols:(i+1)*cols], table, id)
			}
			out := on(t, b, poisoned(len(want)))
			b.Embed(out, table, ids)
			got := back(t, b, out)
			if !sameBits(got, want) {
				t.Errorf("%v cols=%d: embedding rows differ from the reference", tc.typ, cols)
			}
		}
	}
}

func TestPrepare(t *testing.T) {
	b := device(t)
	r := rand.New(rand.NewPCG(1, 1))
	ws := []*kernels.Matrix{randMatrix(t, r, quant.BF16, 64, 256), randMatrix(t, r, quant.Q4_0, 32, 512)}
	for _, w := range ws {
		if copied, err := b.Prepare(w); err != nil || !copied {
			t.Fatalf("Prepare: copied %v, %v", copied, err)
		}
	}
	for _, w := range ws {
		if b.weights[keyOf(w)] == nil {
			t.Errorf("%v matrix not on the device after Prepare", w.Type)
		}
	}
}

func BenchmarkMatMulDecode(bm *testing.B) {
	b := device(bm)
	for _, typ := range []quant.Type{quant.BF16, quant.Q8_0, quant.Q4_0} {
		bm.Run(typ.String(), func(bm *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			const rows, cols = 4864, 896
			w := randMatrix(bm, r, typ, rows, cols)
			x := on(bm, b, randFloats(r, cols))
			out := on(bm, b, make([]float32, rows))
			bm.SetBytes(int64(len(w.Data)))
			for bm.Loop() {
				b.MatMul(out, w, x, 1)
				back(bm, b, out)
			}
		})
	}
}

// TestPoolOps runs the KV pool's operations on the device and on the
// reference backend, for each KV type: a sequence's keys and values stored
// out of order, a fork's copy of its partly filled last block, attention
// for both, and a gather of the rows.
func TestPoolOps(t *testing.T) {
	b := device(t)
	for _, typ := range kernels.KVTypes {
		want, got := poolOps(t, kernels.Reference{}, typ), poolOps(t, b, typ)
		for i := range want {
			within(t, typ.String(), i, got[i], want[i], 1e-5*(1+math.Abs(float64(want[i]))))
		}
	}
}

func poolOps(t *testing.T, be kernels.Backend, typ quant.Type) []float32 {
	const nHeads, nKV, dim, bs = 4, 2, 32, 4
	width := nKV * dim
	r := rand.New(rand.NewPCG(7, 7))
	up := func(x []float32) kernels.Buffer {
		buf := be.Alloc(len(x))
		be.Upload(buf, x)
		return buf
	}
	pool, err := be.NewKVPool(2, 6, bs, width, typ)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Free()
	// Positions 0…5 in blocks 3 and 1; the fork copies block 1's two rows
	// to block 5.
	be.StoreKV(pool, 1, up(randFloats(r, 6*width)), up(randFloats(r, 6*width)), []int{12, 13, 14, 15, 4, 5})
	be.CopyBlock(pool, 5, 1, 2)
	out := be.Alloc(2 * nHeads * dim)
	seqs := []kernels.SeqBlocks{{Rows: 1, Blocks: []int{3, 1}}, {Rows: 1, Blocks: []int{3, 5}}}
	be.Attention(out, up(randFloats(r, 2*nHeads*dim)), pool, 1, seqs, []int{5, 5}, nHeads, nKV, dim)
	g := be.Alloc(2 * nHeads * dim)
	be.Gather(g, out, []int{1, 0}, nHeads*dim)
	res := make([]float32, g.Len())
	be.Read(res, g)
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
	return res
}
