package quant

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

var quantizedTypes = []Type{Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K}

// group describes how one group of a block decodes: x̂ = dl·q − ml with q in
// [lo, hi].
type group struct {
	dl, ml float32
	lo, hi int
}

// blockGroups reads the decoding parameters of every group of a block, and
// the number of elements per group. It decodes the scales with the package's
// helpers, which TestDequantizeVectors checks against llama.cpp.
func blockGroups(t Type, b []byte) (size int, gs []group) {
	switch t {
	case Q4_0:
		return 32, []group{{half(b), 0, -8, 7}}
	case Q4_1:
		return 32, []group{{half(b), -half(b[2:]), 0, 15}}
	case Q5_0:
		return 32, []group{{half(b), 0, -16, 15}}
	case Q5_1:
		return 32, []group{{half(b), -half(b[2:]), 0, 31}}
	case Q8_0, Q8_1:
		return 32, []group{{half(b), 0, -127, 127}}
	case Q8_K:
		return 256, []group{{math.Float32frombits(binary.LittleEndian.Uint32(b)), 0, -127, 127}}
	case Q2_K:
		d, dmin := half(b[80:]), half(b[82:])
		for _, sc := range b[0:16] {
			gs = append(gs, group{d * float32(sc&0xf), dmin * float32(sc>>4), 0, 3})
		}
		return 16, gs
	case Q3_K:
		d := half(b[108:])
		for j := range 16 {
			gs = append(gs, group{d * float32(q3kScale(b[96:108], j)), 0, -4, 3})
		}
		return 16, gs
	case Q4_K, Q5_K:
		d, dmin := half(b), half(b[2:])
		hi := 15
		if t == Q5_K {
			hi = 31
		}
		for j := range 8 {
			sc, m := scaleMinK4(b[4:16], j)
			gs = append(gs, group{d * float32(sc), dmin * float32(m), 0, hi})
		}
		return 32, gs
	case Q6_K:
		d := half(b[208:])
		for _, sc := range b[192:208] {
			gs = append(gs, group{d * float32(int8(sc)), 0, -32, 31})
		}
		return 16, gs
	}
	panic("blockGroups: no groups for " + t.String())
}

// halfErr bounds the error of rounding v to f16: half an ulp, 2⁻¹¹
// relative for normal halves and 2⁻²⁵ absolute for subnormal ones.
func halfErr(v float32) float64 { return max(math.Abs(float64(v))/2048, 0x1p-25) }

// requantized reports whether the quantizer rounds every element against
// the scale exactly as decoded (the K-quants and Q8_K do), rather than
// against the float32 scale before it is rounded to f16 (the legacy types).
func requantized(t Type) bool { return t.BlockSize() == QK_K }

// errorBound is the largest |x − x̂| the format allows for element x of a
// group: half a step, plus its distance to the group's representable range
// (values the search chose to clip), plus, for the legacy types, what
// rounding the scale and offset to f16 moves the |q| ≤ n levels by (the
// quantizer picked q against the unrounded scale, so that shift counts
// twice). A little float32 slack covers the arithmetic itself.
func errorBound(t Type, g group, x float32) float64 {
	a := float64(g.dl)*float64(g.lo) - float64(g.ml)
	b := float64(g.dl)*float64(g.hi) - float64(g.ml)
	lo, hi := min(a, b), max(a, b)
	dist := max(0, lo-float64(x), float64(x)-hi)
	n := float64(max(-g.lo, g.hi))
	bound := math.Abs(float64(g.dl))/2 + dist
	if !requantized(t) {
		bound += (2*n+1)*halfErr(g.dl) + halfErr(g.ml)
	}
	return bound + 1e-6*(math.Abs(float64(x))+math.Abs(float64(g.ml))+n*math.Abs(float64(g.dl)))
}

// checkRoundTrip quantizes x as t, dequantizes it, and fails on an element
// whose error exceeds what the format allows: nothing for F32, half an ulp for
// F16 and BF16, errorBound for the quantized types.
func checkRoundTrip(t *testing.T, typ Type, x []float32) {
	t.Helper()
	n, _ := typ.RowBytes(len(x))
	b := make([]byte, n)
	if err := Quantize(typ, x, b); err != nil {
		t.Fatal(err)
	}
	y := make([]float32, len(x))
	if err := Dequantize(typ, b, y); err != nil {
		t.Fatal(err)
	}
	bs, ts := typ.BlockSize(), typ.TypeSize()
	for blk := range len(x) / bs {
		var size int
		var gs []group
		if bs > 1 {
			size, gs = blockGroups(typ, b[blk*ts:(blk+1)*ts])
		}
		for i := blk * bs; i < (blk+1)*bs; i++ {
			var bound float64
			switch typ {
			case F32:
				bound = 0
			case F16:
				bound = halfErr(x[i])
			case BF16:
				bound = max(math.Abs(float64(x[i]))/256, 0x1p-134)
			default:
				bound = errorBound(typ, gs[(i-blk*bs)/size], x[i])
			}
			if e := math.Abs(float64(x[i]) - float64(y[i])); !(e <= bound) {
				t.Fatalf("%s element %d: x = %g decoded as %g, error %g > bound %g", typ, i, x[i], y[i], e, bound)
			}
		}
	}
}

// raggedRow makes n floats in blocks of 32 whose magnitude (2⁻¹⁴…2⁸, so that
// even outliers stay below f16's 65504) and shape differ from block to block,
// including all-zero, constant, one-sided, sparse and heavy-tailed blocks.
func raggedRow(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for b := 0; b < n; b += 32 {
		s := math.Ldexp(1, r.IntN(23)-14)
		blk := x[b:min(n, b+32)]
		kind := r.IntN(8)
		c := float32(r.NormFloat64() * s)
		for i := range blk {
			v := r.NormFloat64()
			switch kind {
			case 1: // uniform
				v = 2*r.Float64() - 1
			case 2: // all positive
				v = math.Abs(v)
			case 3: // all negative
				v = -math.Abs(v)
			case 4: // heavy tails
				v /= max(math.Abs(r.NormFloat64()), 0.05)
			case 5: // one outlier in zeros
				v = 0
				if i == 7 {
					v = 10
				}
			case 6: // constant
				blk[i] = c
				continue
			case 7: // zeros
				v = 0
			}
			blk[i] = float32(v * s)
		}
	}
	return x
}

func TestRoundTripBound(t *testing.T) {
	for _, typ := range quantizedTypes {
		t.Run(typ.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, uint64(typ)))
			for _, blocks := range []int{1, 2, 3, 5, 8, 13} {
				for range 20 {
					checkRoundTrip(t, typ, raggedRow(r, blocks*typ.BlockSize()))
				}
			}
		})
	}
}

// TestRoundTripFloats: F32 is exact, F16 and BF16 round to nearest.
func TestRoundTripFloats(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, typ := range []Type{F32, F16, BF16} {
		checkRoundTrip(t, typ, raggedRow(r, 4096))
	}
}

// TestRoundTripRMS guards the quality of the scale searches, which the error
// bound cannot see: on N(0, 1) data each type's relative RMS error must stay
// within 10% of what llama.cpp achieves on the shared vectors' N(0, 0.02) rows
// (their SOURCE.md: e.g. Q4_K 1.45e-3 / 0.02).
func TestRoundTripRMS(t *testing.T) {
	limits := map[Type]float64{
		Q8_0: 0.0053, Q8_1: 0.0053, Q4_0: 0.086, Q4_1: 0.079, Q5_0: 0.043, Q5_1: 0.038,
		Q2_K: 0.294, Q3_K: 0.153, Q4_K: 0.0726, Q5_K: 0.0365, Q6_K: 0.0182, Q8_K: 0.0071,
	}
	r := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, 64*QK_K)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for _, typ := range quantizedTypes {
		n, _ := typ.RowBytes(len(x))
		b := make([]byte, n)
		y := make([]float32, len(x))
		if err := Quantize(typ, x, b); err != nil {
			t.Fatal(err)
		}
		if err := Dequantize(typ, b, y); err != nil {
			t.Fatal(err)
		}
		var se, sx float64
		for i := range x {
			d := float64(x[i] - y[i])
			se += d * d
			sx += float64(x[i]) * float64(x[i])
		}
		rel := math.Sqrt(se / sx)
		t.Logf("%s: relative RMS error %.4f", typ, rel)
		if rel > 1.1*limits[typ] {
			t.Errorf("%s: relative RMS error %.4f, want ≤ %.4f", typ, rel, 1.1*limits[typ])
		}
	}
}

// TestZeroAndConstantBlocks: zeros decode to exact zeros; a constant block
// decodes to nearly that constant, for constants of either sign whose scales
// are normal f16 numbers (tiny ones are covered by TestRoundTripBound).
func TestZeroAndConstantBlocks(t *testing.T) {
	for _, typ := range quantizedTypes {
		for _, c := range []float32{0, 1, -1, 0.37, -0.3, 1000, -7, 20000} {
			x := make([]float32, typ.BlockSize())
			for i := range x {
				x[i] = c
			}
			n, _ := typ.RowBytes(len(x))
			b := make([]byte, n)
			y := make([]float32, len(x))
			if err := Quantize(typ, x, b); err != nil {
				t.Fatal(err)
			}
			if err := Dequantize(typ, b, y); err != nil {
				t.Fatal(err)
			}
			for i := range y {
				// Rounding d to f16 and the sub-block scale to 4 or 6 bits
				// costs well under 1%.
				if e := math.Abs(float64(y[i] - c)); e > math.Abs(float64(c))/128 {
					t.Fatalf("%s: constant %g decoded as %g", typ, c, y[i])
				}
			}
		}
	}
}

// TestActivationSums checks the sums that dot products rely on: Q8_K's
// int16 sums of each 16 quants and Q8_1's s = d·Σq.
func TestActivationSums(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	x := raggedRow(r, 8*QK_K)
	b := make([]byte, 8*Q8_K.TypeSize())
	if err := Quantize(Q8_K, x, b); err != nil {
		t.Fatal(err)
	}
	for blk := 0; blk < len(b); blk += Q8_K.TypeSize() {
		for g := range 16 {
			sum := 0
			for _, q := range b[blk+4+16*g : blk+4+16*g+16] {
				sum += int(int8(q))
			}
			if got := int16(binary.LittleEndian.Uint16(b[blk+260+2*g:])); int(got) != sum {
				t.Fatalf("Q8_K block %d bsums[%d] = %d, want %d", blk/Q8_K.TypeSize(), g, got, sum)
			}
		}
	}
	b = make([]byte, 64*Q8_1.TypeSize())
	if err := Quantize(Q8_1, x, b); err != nil {
		t.Fatal(err)
	}
	for blk := 0; blk < len(b); blk += Q8_1.TypeSize() {
		sum := 0
		for _, q := range b[blk+4 : blk+36] {
			sum += int(int8(q))
		}
		// ggml multiplies by the unrounded d, so allow its f16 rounding.
		d, s := half(b[blk:]), half(b[blk+2:])
		want := float64(sum) * float64(d)
		if e := math.Abs(float64(s) - want); e > halfErr(s)+math.Abs(float64(sum))*halfErr(d) {
			t.Fatalf("Q8_1 block %d: s = %g, want %g (d = %g, Σq = %d)", blk/Q8_1.TypeSize(), s, want, d, sum)
		}
	}
}

func TestArgumentErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		typ   Type
		n     int // elements
		bytes int
	}{
		{"unknown type", Type(99), 32, 64},
		{"ragged row", Q4_0, 33, 100},
		{"ragged K row", Q4_K, 255, 200},
		{"short buffer", Q8_0, 64, 67},
		{"short float buffer", F16, 10, 19},
	} {
		if err := Dequantize(c.typ, make([]byte, c.bytes), make([]float32, c.n)); err == nil {
			t.Errorf("%s: Dequantize accepted it", c.name)
		}
		if err := Quantize(c.typ, make([]float32, c.n), make([]byte, c.bytes)); err == nil {
			t.Errorf("%s: Quantize accepted it", c.name)
		}
	}
	// Longer buffers are fine: only the first RowBytes bytes are used.
	if err := Dequantize(Q8_0, make([]byte, 100), make([]float32, 32)); err != nil {
		t.Errorf("Dequantize with spare bytes: %v", err)
	}
	if err := Quantize(Q8_0, make([]float32, 32), make([]byte, 100)); err != nil {
		t.Errorf("Quantize with spare bytes: %v", err)
	}
	for typ := range types {
		if !CanQuantize(typ) {
			t.Errorf("CanQuantize(%s) = false", typ)
		}
	}
	if CanQuantize(Type(99)) {
		t.Error("CanQuantize(type 99) = true")
	}
}

// TestRoundAway compares the Q8 rounding with math.Round (C's roundf) on
// every tie and on random values of the int8 range.
func TestRoundAway(t *testing.T) {
	vals := []float32{0, -0.0, 0.49999997, -0.49999997, 126.99999, -127.49999}
	for k := -127; k < 127; k++ {
		vals = append(vals, float32(k)+0.5)
	}
	r := rand.New(rand.NewPCG(13, 14))
	for range 100000 {
		vals = append(vals, float32(254*r.Float64()-127))
	}
	for _, v := range vals {
		if got, want := roundAway(v), int8(math.Round(float64(v))); got != want {
			t.Fatalf("roundAway(%g) = %d, want %d", v, got, want)
		}
	}
}

// TestQuantizeOverwrites: every byte of the destination is written, so a
// reused buffer's old contents cannot leak into the blocks.
func TestQuantizeOverwrites(t *testing.T) {
	x := raggedRow(rand.New(rand.NewPCG(15, 16)), 2*QK_K)
	for _, typ := range allTypes {
		n, _ := typ.RowBytes(len(x))
		clean, dirty := make([]byte, n), make([]byte, n)
		for i := range dirty {
			dirty[i] = 0xa5
		}
		if err := Quantize(typ, x, clean); err != nil {
			t.Fatal(err)
		}
		if err := Quantize(typ, x, dirty); err != nil {
			t.Fatal(err)
		}
		for i := range clean {
			if clean[i] != dirty[i] {
				t.Fatalf("%s: byte %d depends on the buffer's old contents", typ, i)
			}
		}
	}
}
