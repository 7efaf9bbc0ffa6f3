package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/aha-inference/aha/quant"
)

// TestAttentionSIMD compares the vector attention with the reference on
// head sizes the kernels take (multiples of 16), paged caches of ragged
// block sizes, contexts across block boundaries, and every KV type (the
// reference reading the same rounded cache). Outputs are convex
// combinations of values of magnitude about 1: 1e-5 absolute.
func TestAttentionSIMD(t *testing.T) {
	if simdAttention == nil {
		t.Skip("no SIMD attention on this CPU")
	}
	t.Parallel()
	for _, typ := range KVTypes {
		for _, tc := range []struct{ n, ctx, nHeads, nKV, headDim, bs int }{
			{1, 1, 2, 1, 16, 16},
			{1, 33, 4, 2, 64, 16},
			{5, 40, 6, 2, 80, 3},
			{7, 7, 2, 2, 128, 1},
			{16, 100, 14, 2, 64, 16},
		} {
			checkAttention(t, typ, uint64(tc.ctx), tc.n, tc.ctx, tc.nHeads, tc.nKV, tc.headDim, tc.bs)
		}
	}
}

func checkAttention(t *testing.T, typ quant.Type, seed uint64, n, ctx, nHeads, nKV, headDim, bs int) {
	if simdAttention.kv[typ].scores == nil {
		t.Skipf("no SIMD attention over a %v cache on this CPU", typ)
	}
	q, keys, values, pos := attentionCase(seed, n, ctx, nHeads, nKV, headDim)
	width := nKV * headDim
	want := make([]float32, len(q))
	Attention(want, q, contiguousKV(typ, keys, values, ctx, width), pos, nHeads, nKV, headDim)
	cpu := NewCPU(2)
	defer cpu.Close()
	got := make([]float32, len(q))
	paged := pageKV(typ, keys, values, ctx, width, bs)
	cpu.attend(got, q, paged, pos, nHeads, nKV, headDim)
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= 1e-5) {
			t.Fatalf("%v n=%d ctx=%d heads=%d/%d dim=%d block=%d: out[%d] = %v, reference %v", typ, n, ctx, nHeads, nKV, headDim, bs, i, got[i], want[i])
		}
	}
	if typ == quant.F32 {
		return
	}
	// Widening is exact and the kernels share the float32 kernels' order,
	// so a 16-bit cache gives the bits of a float32 cache of its values.
	for p := range ctx {
		loadKV(typ, keys[p*width:(p+1)*width], paged.Key(p))
		loadKV(typ, values[p*width:(p+1)*width], paged.Value(p))
	}
	wide := make([]float32, len(q))
	cpu.attend(wide, q, pageKV(quant.F32, keys, values, ctx, width, bs), pos, nHeads, nKV, headDim)
	if !sameBits(got, wide) {
		t.Fatalf("%v n=%d ctx=%d heads=%d/%d dim=%d block=%d: differs from the float32 kernels on the widened cache", typ, n, ctx, nHeads, nKV, headDim, bs)
	}
}

func FuzzAttentionSIMD(f *testing.F) {
	f.Add(uint64(1), uint8(3), uint8(20), uint8(2), uint8(4), uint8(0))
	f.Add(uint64(2), uint8(1), uint8(0), uint8(7), uint8(1), uint8(1))
	f.Add(uint64(3), uint8(5), uint8(70), uint8(3), uint8(16), uint8(2))
	f.Fuzz(func(t *testing.T, seed uint64, n, ctx, dim, bs, typ uint8) {
		if simdAttention == nil {
			t.Skip("no SIMD attention on this CPU")
		}
		nn := 1 + int(n)%8
		checkAttention(t, KVTypes[int(typ)%len(KVTypes)], seed, nn, nn+int(ctx)%120, 4, 2, 16*(1+int(dim)%8), 1+int(bs)%20)
	})
}

// TestAttnExp checks the vector exp against math.Exp over the range
// softmax feeds it (x − max ≤ 0), and its sum.
func TestAttnExp(t *testing.T) {
	if simdAttention == nil {
		t.Skip("no SIMD attention on this CPU")
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 15, 16, 17, 100} {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(-r.Float64() * 100)
		}
		s[0] = 0
		want := make([]float64, n)
		var wsum float64
		for i, v := range s {
			want[i] = math.Exp(float64(v - 1)) // the kernel subtracts in float32 too
			wsum += want[i]
		}
		x := append([]float32(nil), s...)
		sum := simdAttention.exp(&s[0], n, 1)
		for i, v := range s {
			if d := math.Abs(float64(v) - want[i]); d > 3e-7*want[i]+math.Exp(-87) { // flushed to 0 below e^−87
				t.Errorf("n=%d: exp(%v − 1) = %v, want %v", n, x[i], v, want[i])
			}
		}
		if d := math.Abs(float64(sum) - wsum); d > 1e-6*wsum {
			t.Errorf("n=%d: sum %v, want %v", n, sum, wsum)
		}
	}
}

// TestCPUSiLUMul compares the CPU backend's SwiGLU with the reference:
// the float32 exp costs a few ulps, 1e-6 relative.
func TestCPUSiLUMul(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	t.Parallel()
	for _, k := range []func(gate, up *float32, n int){nil, simdSiLUMul} {
		ks := bestKernels()
		ks.siluMul = k
		cpu := newCPU(2, ks)
		checkSiLUMul(t, cpu, r)
		cpu.Close()
	}
}

func checkSiLUMul(t *testing.T, cpu *CPU, r *rand.Rand) {
	for _, n := range []int{1, 15, 17, 2048, 5000} {
		gate := randFloats(r, n)
		for i := range gate {
			gate[i] *= 8
		}
		if n > 3 {
			gate[0], gate[1], gate[2] = -100, 100, 0
		}
		up := randFloats(r, n)
		want := append([]float32(nil), gate...)
		SiLUMul(want, up)
		cpu.siLUMul(gate, up)
		for i := range gate {
			if d := math.Abs(float64(gate[i] - want[i])); d > 1e-6*math.Abs(float64(want[i])) {
				t.Errorf("n=%d: silu·up[%d] = %v, reference %v", n, i, gate[i], want[i])
			}
		}
	}
}

// TestStoreF16 checks the vector float16 rounding against quant.F32ToF16
// bit for bit on random floats of every magnitude (subnormal halves,
// overflow to infinity, ties) and on tails of every length; NaNs stay NaNs
// of their sign.
func TestStoreF16(t *testing.T) {
	if simdStoreF16 == nil {
		t.Skip("no vector float16 rounding on this CPU")
	}
	r := rand.New(rand.NewPCG(11, 12))
	src := make([]float32, 1000)
	for i := range src {
		src[i] = math.Float32frombits(r.Uint32())
		if i%3 == 0 { // the range keys and values live in, and halves' edges
			src[i] = float32(r.NormFloat64() * math.Pow(2, float64(r.IntN(40)-24)))
		}
	}
	src[0], src[1], src[2] = 65520, -65519.996, 2.9802322e-08 // overflow, largest, tie at the smallest subnormal
	for _, n := range []int{1, 15, 16, 17, 33, len(src)} {
		dst := make([]byte, 2*n+2)
		simdStoreF16(&dst[0], &src[0], n)
		for i, x := range src[:n] {
			got := uint16(dst[2*i]) | uint16(dst[2*i+1])<<8
			want := quant.F32ToF16(x)
			if x != x {
				if got&0x7c00 != 0x7c00 || got&0x3ff == 0 || got&0x8000 != want&0x8000 {
					t.Errorf("n=%d: NaN %#x became %#x", n, math.Float32bits(x), got)
				}
				continue
			}
			if got != want {
				t.Errorf("n=%d: %v (%#x) became %#x, want %#x", n, x, math.Float32bits(x), got, want)
			}
		}
		if dst[2*n] != 0 || dst[2*n+1] != 0 {
			t.Errorf("n=%d: wrote past the end", n)
		}
	}
}
