package model

import (
	"math"
	"slices"
	"testing"

	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/quant"
)

// llamaGGUFRow says where row r of a llama GGUF's Q or K projection (rows
// rows, heads heads) comes from in the HF checkpoint. llama.cpp's converter
// writes w.reshape(heads, 2, d/2, cols).swapaxes(1, 2).reshape(rows, cols)
// with d = rows/heads: output row (h, j, s) — head h, pair j, element s of
// the pair — is input row (h, s, j).
func llamaGGUFRow(r, rows, heads int) int {
	d := rows / heads
	h, j, s := r/d, r%d/2, r%2
	return h*d + s*(d/2) + j
}

// TestHFAndGGUFWeightsEqual: the HF folder and the GGUF of each tiny model
// hold the same values (SOURCE.md: exact in both BF16 and F16), once the
// llama GGUF's Q/K rows are put back in HF order; and the llama GGUF's
// rope_freqs tensor is what the folder's rope_scaling implies.
func TestHFAndGGUFWeightsEqual(t *testing.T) {
	for _, tc := range []struct{ hf, gguf string }{
		{"qwen2-tiny/hf", "qwen2-tiny/qwen2-tiny-f16.gguf"},
		{"qwen3-tiny/hf", "qwen3-tiny/qwen3-tiny-bf16.gguf"},
		{"llama3-tiny/hf", "llama3-tiny/llama3-tiny-f16.gguf"},
	} {
		t.Run(tc.hf, func(t *testing.T) {
			hf, err := Load(shared.Path(t, "models/"+tc.hf))
			if err != nil {
				t.Fatal(err)
			}
			defer hf.Close()
			gg, err := Load(shared.Path(t, "models/"+tc.gguf))
			if err != nil {
				t.Fatal(err)
			}
			defer gg.Close()
			hs, gs := hf.tensors(), gg.tensors()
			if len(hs) != len(gs) {
				t.Fatalf("%d tensors in the folder, %d in the GGUF", len(hs), len(gs))
			}
			interleaved := gg.Config.RopeLayout != hf.Config.RopeLayout
			for i, h := range hs {
				g := gs[i]
				if h.vec != nil {
					if !slices.Equal(*h.vec, *g.vec) {
						t.Errorf("%s differs from %s", g.gguf, h.hf)
					}
					continue
				}
				heads := gg.Config.QKHeads(g.gguf)
				x, y := make([]float32, h.cols), make([]float32, g.cols)
				for r := range g.rows {
					src := r
					if interleaved && heads > 0 {
						src = llamaGGUFRow(r, g.rows, heads)
					}
					h.mat.DequantizeRow(src, x)
					g.mat.DequantizeRow(r, y)
					if !slices.Equal(x, y) {
						t.Fatalf("%s row %d differs from %s row %d", g.gguf, r, h.hf, src)
					}
				}
			}

			want := hf.Config.RopeScaling.FreqFactors(hf.Config.HeadDim, hf.Config.RopeTheta)
			rf := gg.GGUF.Tensor("rope_freqs.weight")
			if (rf == nil) != (want == nil) {
				t.Fatalf("rope_freqs.weight present %v, rope scaling present %v", rf != nil, want != nil)
			}
			if rf == nil {
				return
			}
			got := make([]float32, rf.Elements())
			if err := quant.Dequantize(rf.Type, rf.Data, got); err != nil || len(got) != len(want) {
				t.Fatalf("rope_freqs.weight: %d values, %v; want %d", len(got), err, len(want))
			}
			for i := range want {
				// The converter computes from float32 frequencies, FreqFactors
				// in float64: float32 rounding apart.
				if math.Abs(float64(got[i]-want[i])) > 1e-6*float64(want[i]) {
					t.Errorf("rope_freqs[%d] = %.9g, FreqFactors %.9g", i, got[i], want[i])
				}
			}
		})
	}
}
