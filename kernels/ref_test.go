package kernels

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/aha-inference/aha/quant"
)

// The reference kernels are checked against hand-computed values and
// against float64 re-derivations of their definitions.

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestRMSNorm(t *testing.T) {
	x := []float32{1, 2, 3, 4, -2, 0, 0, 2}
	w := []float32{1, 0.5, 2, 1}
	out := make([]float32, len(x))
	RMSNorm(out, x, w, 0)
	// Row 0: rms = sqrt(30/4); row 1: rms = sqrt(8/4).
	want := []float64{1 / math.Sqrt(7.5), 1 / math.Sqrt(7.5), 6 / math.Sqrt(7.5), 4 / math.Sqrt(7.5), -2 / math.Sqrt2, 0, 0, 2 / math.Sqrt2}
	for i := range want {
		if !near(float64(out[i]), want[i], 1e-6) {
			t.Errorf("out[%d] = %v, want %v", i, out[i], want[i])
		}
	}
}

func TestRoPE(t *testing.T) {
	// One head of 4: pairs rotate at speeds 1 and 1/100 (theta 10000, d 4).
	freqs := RopeFrequencies(4, 10000, nil)
	if !near(freqs[0], 1, 1e-12) || !near(freqs[1], 0.01, 1e-12) {
		t.Fatalf("freqs %v", freqs)
	}
	p := 3
	c0, s0 := math.Cos(3), math.Sin(3)
	c1, s1 := math.Cos(0.03), math.Sin(0.03)
	for _, tc := range []struct {
		layout RopeLayout
		want   []float64
	}{
		// Halves: pairs (0,2) and (1,3).
		{RopeHalves, []float64{1*c0 - 3*s0, 2*c1 - 4*s1, 1*s0 + 3*c0, 2*s1 + 4*c1}},
		// Interleaved: pairs (0,1) and (2,3).
		{RopeInterleaved, []float64{1*c0 - 2*s0, 1*s0 + 2*c0, 3*c1 - 4*s1, 3*s1 + 4*c1}},
	} {
		x := []float32{1, 2, 3, 4}
		RoPE(x, []int{p}, 1, 4, freqs, tc.layout)
		for i := range x {
			if !near(float64(x[i]), tc.want[i], 1e-5) {
				t.Errorf("%v: x[%d] = %v, want %v", tc.layout, i, x[i], tc.want[i])
			}
		}
	}
	// Scaling divides each pair's speed by its factor.
	scaled := RopeFrequencies(4, 10000, []float32{1, 4})
	if !near(scaled[1], 0.0025, 1e-12) {
		t.Errorf("scaled %v", scaled)
	}
}

func TestSoftmaxAndLogSoftmax(t *testing.T) {
	x := []float32{1, 2, 3, 1000}
	lp := make([]float32, 4)
	LogSoftmax(lp, x)
	Softmax(x)
	if !near(float64(x[3]), 1, 1e-6) || x[0] != 0 {
		t.Errorf("softmax %v", x)
	}
	if !near(float64(lp[3]), 0, 1e-6) || !near(float64(lp[2]), -997, 1e-3) {
		t.Errorf("log-softmax %v", lp)
	}
	y := []float32{0, float32(math.Log(3))}
	Softmax(y)
	if !near(float64(y[0]), 0.25, 1e-7) || !near(float64(y[1]), 0.75, 1e-7) {
		t.Errorf("softmax %v", y)
	}
}

func TestSiLUMul(t *testing.T) {
	g := []float32{0, 1, -2}
	u := []float32{5, 2, 3}
	SiLUMul(g, u)
	want := []float64{0, 2 / (1 + math.Exp(-1)), -6 / (1 + math.Exp(2))}
	for i := range want {
		if !near(float64(g[i]), want[i], 1e-6) {
			t.Errorf("%d: %v want %v", i, g[i], want[i])
		}
	}
}

// TestAttention checks grouped-query causal attention against a float64
// re-derivation on random data, and the one-position case exactly, for
// each KV type: the re-derivation reads the values the cache holds, each
// rounded to its type.
func TestAttention(t *testing.T) {
	for _, typ := range KVTypes {
		t.Run(typ.String(), func(t *testing.T) { checkRefAttention(t, typ) })
	}
}

func checkRefAttention(t *testing.T, typ quant.Type) {
	rng := rand.New(rand.NewPCG(1, 2))
	const heads, kvHeads, hd, ctx = 4, 2, 8, 5
	rnd := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	keys, values := rnd(ctx*kvHeads*hd), rnd(ctx*kvHeads*hd)
	pos := []int{0, 2, 4}
	q := rnd(len(pos) * heads * hd)
	out := make([]float32, len(q))
	w := kvHeads * hd
	kv := contiguousKV(typ, keys, values, ctx, w)
	for p := range ctx { // what the cache holds
		loadKV(typ, keys[p*w:(p+1)*w], kv.Key(p))
		loadKV(typ, values[p*w:(p+1)*w], kv.Value(p))
	}
	Attention(out, q, kv, pos, heads, kvHeads, hd)
	for t0, p := range pos {
		for h := 0; h < heads; h++ {
			g := h / (heads / kvHeads)
			scores := make([]float64, p+1)
			var sum float64
			for j := 0; j <= p; j++ {
				var s float64
				for i := 0; i < hd; i++ {
					s += float64(q[(t0*heads+h)*hd+i]) * float64(keys[(j*kvHeads+g)*hd+i])
				}
				scores[j] = math.Exp(s / math.Sqrt(hd))
				sum += scores[j]
			}
			for i := 0; i < hd; i++ {
				var want float64
				for j := 0; j <= p; j++ {
					want += scores[j] / sum * float64(values[(j*kvHeads+g)*hd+i])
				}
				if got := out[(t0*heads+h)*hd+i]; !near(float64(got), want, 1e-5) {
					t.Fatalf("row %d head %d elem %d: %v, want %v", t0, h, i, got, want)
				}
			}
		}
	}
	// At position 0 a head can only copy its KV head's value.
	for h := 0; h < heads; h++ {
		g := h / 2
		for i := 0; i < hd; i++ {
			if out[h*hd+i] != values[g*hd+i] {
				t.Fatalf("position 0 head %d: %v, want %v", h, out[h*hd:(h+1)*hd], values[g*hd:(g+1)*hd])
			}
		}
	}
}

// TestMatMul checks the reference matmul for every weight type against a
// float64 product of the dequantized weights.
func TestMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, typ := range []quant.Type{quant.F32, quant.F16, quant.BF16, quant.Q8_0, quant.Q4_0, quant.Q4_K, quant.Q6_K} {
		const rows, n = 3, 2
		cols := 256
		src := make([]float32, rows*cols)
		for i := range src {
			src[i] = float32(rng.NormFloat64())
		}
		rb, _ := typ.RowBytes(cols)
		data := make([]byte, rows*rb)
		if err := quant.Quantize(typ, src, data); err != nil {
			t.Fatalf("%v: %v", typ, err)
		}
		w, err := NewMatrix(typ, rows, cols, data)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, n*cols)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		out := make([]float32, n*rows)
		MatMul(out, &w, x, n)
		deq := make([]float32, rows*cols)
		quant.Dequantize(typ, data, deq)
		for tok := 0; tok < n; tok++ {
			for r := 0; r < rows; r++ {
				var want, mag float64
				for c := 0; c < cols; c++ {
					p := float64(deq[r*cols+c]) * float64(x[tok*cols+c])
					want += p
					mag += math.Abs(p)
				}
				if got := out[tok*rows+r]; !near(float64(got), want, 1e-6*mag) {
					t.Errorf("%v: out[%d][%d] = %v, want %v", typ, tok, r, got, want)
				}
			}
		}
	}
	if _, err := NewMatrix(quant.Q8_0, 2, 32, make([]byte, 34)); err == nil {
		t.Error("NewMatrix accepted too little data")
	}
}

// TestRopeTableMatchesRoPE checks that rotating with a precomputed table
// (what the forward pass does once per step) gives exactly RoPE's bits.
func TestRopeTableMatchesRoPE(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const nHeads, headDim = 3, 8
	freqs := RopeFrequencies(headDim, 10000, nil)
	pos := []int{0, 7, 3, 4096}
	for _, layout := range []RopeLayout{RopeHalves, RopeInterleaved} {
		x := make([]float32, len(pos)*nHeads*headDim)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		want := slices.Clone(x)
		RoPE(want, pos, nHeads, headDim, freqs, layout)
		table := RopeTable(make([]float32, 3), pos, freqs) // a too-small dst is replaced
		RotateHeads(x, table, nHeads, headDim, layout)
		if !slices.Equal(x, want) {
			t.Errorf("layout %v: table rotation differs from RoPE", layout)
		}
	}
}
