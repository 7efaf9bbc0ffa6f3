package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/aha-inference/aha/quant"
)

// tileSets are the tile kernels this machine can run; nil stands for the
// per-row dot products the backend falls back to.
func tileSets() []*tileKernels {
	sets := []*tileKernels{nil}
	if simdTiles != nil {
		sets = append(sets, simdTiles)
	}
	return sets
}

// withTiles is the processor's best kernels but for the tiles, k.
func withTiles(k *tileKernels) kernelSet {
	ks := bestKernels()
	ks.tiles = k
	return ks
}

// tileTypes have tiles of their own, or (the last ones) go through the
// float32 tiles on dequantized rows.
var tileTypes = []quant.Type{quant.F32, quant.F16, quant.BF16, quant.Q8_0, quant.Q4_0, quant.Q5_1, quant.Q4_K, quant.Q6_K}

// raggedCols are row lengths around the vector widths and block counts:
// odd numbers of blocks, float tails of every kind.
func raggedCols(typ quant.Type) []int {
	switch typ.BlockSize() {
	case 32:
		return []int{32, 64, 96, 160, 896}
	case 256:
		return []int{256, 512, 1280}
	}
	return []int{1, 15, 16, 17, 33, 77, 128, 200}
}

// TestTileBatchIdentity checks the promise the model relies on: an output
// element is bit-identical whatever else is in the batch (alone, in a
// batch of any size, in another order) and whatever the thread count.
func TestTileBatchIdentity(t *testing.T) {
	t.Parallel()
	for _, k := range tileSets() {
		for _, typ := range tileTypes {
			for _, cols := range raggedCols(typ) {
				for _, rows := range []int{1, 3, 6, 13, 17, 35} {
					checkBatchIdentity(t, k, typ, rows, cols, false)
				}
				checkBatchIdentity(t, k, typ, 6, cols, true)
			}
		}
	}
}

func checkBatchIdentity(t *testing.T, k *tileKernels, typ quant.Type, rows, cols int, floatAct bool) {
	const n = 9
	r := rand.New(rand.NewPCG(uint64(rows), uint64(cols)))
	w := randMatrix(t, r, typ, rows, cols)
	x := randFloats(r, n*cols)
	name := fmt.Sprintf("%s %v %d×%d float activations %v", tileName(k), typ, rows, cols, floatAct)
	var alone []float32
	for _, threads := range []int{1, 3} {
		cpu := newCPU(threads, withTiles(k))
		defer cpu.Close()
		cpu.FloatActivations = floatAct
		if alone == nil {
			alone = make([]float32, n*rows)
			for tt := range n {
				cpu.matMul(alone[tt*rows:(tt+1)*rows], w, x[tt*cols:(tt+1)*cols], 1)
			}
		}
		for _, m := range []int{2, 3, 4, 5, 8, 9} {
			got := make([]float32, m*rows)
			cpu.matMul(got, w, x[:m*cols], m)
			if !sameBits(got, alone[:m*rows]) {
				t.Errorf("%s threads=%d: batch of %d differs from tokens alone", name, threads, m)
			}
		}
		// The same tokens in reverse order.
		rev := make([]float32, n*cols)
		for tt := range n {
			copy(rev[(n-1-tt)*cols:], x[tt*cols:(tt+1)*cols])
		}
		got := make([]float32, n*rows)
		cpu.matMul(got, w, rev, n)
		for tt := range n {
			if !sameBits(got[(n-1-tt)*rows:(n-tt)*rows], alone[tt*rows:(tt+1)*rows]) {
				t.Errorf("%s threads=%d: token %d differs in a reversed batch", name, threads, tt)
			}
		}
	}
}

func tileName(k *tileKernels) string {
	if k == nil {
		return "rows"
	}
	return k.name
}

// TestTileMatchesExact compares tiled MatMuls with a float64 computation
// on the same numbers the kernels see: the stored weights and, for the
// quantized types, the Q8_0 activations (for BF16 with VDPBF16PS, the
// activations rounded to bfloat16). Float types: the rounding of a
// float32 sum, 1e-5 of Σ|w·x|; quantized: integer block sums are exact, so
// only the float accumulation of scaled sums rounds, 1e-5 of its Σ|terms|.
func TestTileMatchesExact(t *testing.T) {
	if simdTiles == nil {
		t.Skip("no tiles on this CPU")
	}
	t.Parallel()
	cpu := NewCPU(2)
	defer cpu.Close()
	for _, floatAct := range []bool{false, true} {
		cpu.FloatActivations = floatAct
		for _, typ := range tileTypes {
			for _, cols := range raggedCols(typ) {
				for _, rows := range []int{7, 21} {
					checkTileExact(t, cpu, typ, rows, cols, 6, uint64(cols))
				}
			}
		}
	}
}

func checkTileExact(t *testing.T, cpu *CPU, typ quant.Type, rows, cols, n int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, uint64(typ)))
	w := randMatrix(t, r, typ, rows, cols)
	x := randFloats(r, n*cols)
	got := make([]float32, n*rows)
	cpu.matMul(got, w, x, n)
	wf := make([]float32, cols)
	for row := range rows {
		w.DequantizeRow(row, wf)
		for tt := range n {
			xt := x[tt*cols : (tt+1)*cols]
			var want, abs float64
			switch {
			case (typ == quant.Q8_0 || typ == quant.Q4_0) && !cpu.FloatActivations:
				want, abs = exactQ8Dot(typ, w.Row(row), quantizeRows(xt, 1, cols), cols)
			case (typ == quant.Q6_K || typ == quant.Q4_K) && cpu.k.tiles.pair(typ) != nil && !cpu.FloatActivations:
				want, abs = exactOnQ8(wf, quantizeRows(xt, 1, cols))
			case typ == quant.BF16 && cpu.bf16Dot():
				want, abs = exactDot(wf, roundBF16(xt))
			default:
				want, abs = exactDot(wf, xt)
			}
			g := got[tt*rows+row]
			if d := math.Abs(float64(g) - want); d > 1e-5*abs || math.IsNaN(float64(g)) {
				t.Errorf("%v %d×%d float activations %v out[%d][%d] = %v, exact %v (|diff| %g > 1e-5·%g)", typ, rows, cols, cpu.FloatActivations, tt, row, g, want, d, abs)
			}
		}
	}
}

// exactOnQ8 is Σ w·x and Σ|w·x| in float64 for float weights and Q8_0
// activations.
func exactOnQ8(w []float32, xq []byte) (sum, abs float64) {
	x := make([]float32, len(w))
	if err := quant.Dequantize(quant.Q8_0, xq, x); err != nil {
		panic(err)
	}
	return exactDot(w, x)
}

func roundBF16(x []float32) []float32 {
	r := make([]float32, len(x))
	for i, v := range x {
		r[i] = quant.BF16ToF32(quant.F32ToBF16(v))
	}
	return r
}

func FuzzTile(f *testing.F) {
	f.Add(uint64(1), uint8(0), uint16(3), uint8(5), uint8(9))
	f.Add(uint64(2), uint8(3), uint16(1), uint8(1), uint8(4))
	f.Add(uint64(3), uint8(4), uint16(29), uint8(7), uint8(2))
	f.Fuzz(func(t *testing.T, seed uint64, ti uint8, c uint16, rows, n uint8) {
		floatAct := ti >= 128
		if simdTiles == nil {
			t.Skip("no tiles on this CPU")
		}
		typ := tileTypes[int(ti)%len(tileTypes)]
		cols := 1 + int(c)%300
		if bs := typ.BlockSize(); bs > 1 {
			cols = bs * (1 + int(c)%(1280/bs))
		}
		cpu := NewCPU(2)
		defer cpu.Close()
		cpu.FloatActivations = floatAct
		checkTileExact(t, cpu, typ, 1+int(rows)%40, cols, 1+int(n)%9, seed)
	})
}

// TestQuantizeQ8Fast checks the SIMD activation quantizer against the Go
// one bit for bit, and the Go one against quant.Quantize(Q8_0); the block
// sums against the quants.
func TestQuantizeQ8Fast(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, blocks := range []int{1, 2, 7, 28} {
		x := randFloats(r, 32*blocks)
		for i := range x {
			x[i] *= float32(math.Pow(10, float64(i%9-4)))
		}
		x[3], x[40%len(x)] = 0, float32(math.Copysign(0, -1))
		if blocks > 1 {
			clear(x[32:64]) // an all-zero block: d = 0
			x[70%len(x)] = 127.5 / 127 * 3
		}
		want := make([]byte, blocks*q8Block)
		if err := quant.Quantize(quant.Q8_0, x, want); err != nil {
			t.Fatal(err)
		}
		for _, k := range tileSets() {
			quantize := quantizeQ8Row
			if k != nil {
				quantize = k.quantizeQ8
			}
			q, s, sums := make([]byte, 32*blocks), make([]float32, blocks), make([]int32, blocks)
			quantize(x, q, s, sums)
			for b := range blocks {
				var sum int32
				for _, v := range q[32*b : 32*b+32] {
					sum += int32(int8(v))
				}
				if sums[b] != sum {
					t.Errorf("%s blocks=%d: block %d sum %d, want %d", tileName(k), blocks, b, sums[b], sum)
				}
				if d := half(want[b*q8Block:]); math.Float32bits(d) != math.Float32bits(s[b]) {
					t.Errorf("%s blocks=%d: block %d scale %v, want %v", tileName(k), blocks, b, s[b], d)
				}
				if got, w := q[32*b:32*b+32], want[b*q8Block+2:(b+1)*q8Block]; !slices.Equal(got, w) {
					t.Errorf("%s blocks=%d: block %d quants %v, want %v", tileName(k), blocks, b, got, w)
				}
			}
		}
	}
}

// TestToBF16Fast checks the SIMD bfloat16 rounding against
// quant.F32ToBF16 bit for bit, specials and ragged lengths included.
func TestToBF16Fast(t *testing.T) {
	if simdTiles == nil || simdTiles.toBF16 == nil {
		t.Skip("no SIMD bfloat16 rounding on this CPU")
	}
	r := rand.New(rand.NewPCG(7, 8))
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.Float32frombits(0x7f800001), math.Float32frombits(0xffffffff),
		math.Float32frombits(0x00000001), math.Float32frombits(0x3f808000), math.Float32frombits(0x3f818000),
		math.Float32frombits(0x7f7fffff), math.MaxFloat32, -math.SmallestNonzeroFloat32}
	for _, n := range []int{1, 15, 16, 17, 33, 64, 100} {
		x := randFloats(r, n)
		for i := range x {
			x[i] *= float32(math.Pow(10, float64(i%13-6)))
			if i%5 == 0 {
				x[i] = specials[(i/5)%len(specials)]
			}
		}
		got := make([]uint16, n)
		simdTiles.toBF16(x, got)
		for i, v := range x {
			if want := quant.F32ToBF16(v); got[i] != want {
				t.Errorf("n=%d: x[%d] = %v (%#08x): got %#04x, want %#04x", n, i, v, math.Float32bits(v), got[i], want)
			}
		}
	}
}

// TestPackedCopies: a CPU backend's packed copies are its own: another
// backend has none until it packs, a copy of the Matrix value finds the
// same one, and Release forgets it.
func TestPackedCopies(t *testing.T) {
	t.Parallel()
	if simdTiles == nil || simdTiles.q8_0Packed[0] == nil {
		t.Skip("no packed kernels on this CPU")
	}
	w := randMatrix(t, rand.New(rand.NewPCG(1, 2)), quant.Q8_0, 32, 64)
	a, b := NewCPU(1), NewCPU(1)
	defer a.Close()
	defer b.Close()
	if copied, err := a.Prepare(w); err != nil || !copied {
		t.Fatalf("Prepare: copied %v, %v", copied, err)
	}
	if len(a.packs.m) != 1 || len(b.packs.m) != 0 {
		t.Fatalf("after one backend prepared the matrix: %d and %d packed copies, want 1 and 0", len(a.packs.m), len(b.packs.m))
	}
	same := *w
	if p, _ := a.packedOf(&same); p != a.packs.m[keyOf(w)] || len(a.packs.m) != 1 {
		t.Error("a copy of the Matrix value was packed again")
	}
	a.Release(w)
	if len(a.packs.m) != 0 {
		t.Errorf("%d packed copies after Release, want 0", len(a.packs.m))
	}
}
