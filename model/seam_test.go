package model

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/quant"
)

// recorder is the reference backend, writing down each operation it runs.
type recorder struct {
	kernels.Reference
	ops []string
}

func (r *recorder) Embed(out []float32, table *kernels.Matrix, ids []int) {
	r.ops = append(r.ops, fmt.Sprintf("embed %d", len(ids)))
	r.Reference.Embed(out, table, ids)
}

func (r *recorder) RMSNorm(out, x, weight []float32, eps float32) {
	r.ops = append(r.ops, "rmsnorm")
	r.Reference.RMSNorm(out, x, weight, eps)
}

func (r *recorder) AddBias(x, bias []float32) {
	r.ops = append(r.ops, "bias")
	r.Reference.AddBias(x, bias)
}

func (r *recorder) RoPE(x []float32, pos []int, nHeads, headDim int, freqs []float64, layout kernels.RopeLayout) {
	r.ops = append(r.ops, "rope")
	r.Reference.RoPE(x, pos, nHeads, headDim, freqs, layout)
}

func (r *recorder) MatMul(out []float32, w *kernels.Matrix, x []float32, n int) {
	r.ops = append(r.ops, "matmul")
	r.Reference.MatMul(out, w, x, n)
}

func (r *recorder) Attention(out, q []float32, kv *kernels.KV, pos []int, nHeads, nKVHeads, headDim int) {
	r.ops = append(r.ops, "attention")
	r.Reference.Attention(out, q, kv, pos, nHeads, nKVHeads, headDim)
}

func (r *recorder) SiLUMul(gate, up []float32) {
	r.ops = append(r.ops, "silu")
	r.Reference.SiLUMul(gate, up)
}

func (r *recorder) Add(x, y []float32) {
	r.ops = append(r.ops, "add")
	r.Reference.Add(x, y)
}

// TestForwardThroughBackend records the operations of a step of two
// sequences: every operation of the forward pass is the backend's, in the
// order of the math, with each family's extras (qwen2's q/k/v biases,
// qwen3's QK-norm).
func TestForwardThroughBackend(t *testing.T) {
	for _, tc := range []struct {
		path   string
		extras []string // between the q/k/v projections and RoPE
	}{
		{"llama3-tiny/llama3-tiny-f16.gguf", nil},
		{"qwen2-tiny/qwen2-tiny-f16.gguf", []string{"bias", "bias", "bias"}},
		{"qwen3-tiny/qwen3-tiny-bf16.gguf", []string{"rmsnorm", "rmsnorm"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			m, err := Load(shared.Path(t, "models/"+tc.path))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			rec := &recorder{}
			m.SetBackend(rec)
			c, err := m.NewCache(64, 0, quant.F16)
			if err != nil {
				t.Fatal(err)
			}
			a, b := c.NewSeq(), c.NewSeq()
			if _, err := c.Forward([]Step{{a, []int{1, 2, 3}, 1}, {b, []int{4, 5}, 2}}); err != nil {
				t.Fatal(err)
			}
			layer := slices.Concat([]string{"rmsnorm", "matmul", "matmul", "matmul"}, tc.extras,
				[]string{"rope", "rope", "attention", "attention", "matmul", "add", "rmsnorm", "matmul", "matmul", "silu", "matmul", "add"})
			want := []string{"embed 5"}
			for range m.Config.Layers {
				want = append(want, layer...)
			}
			want = append(want, "rmsnorm", "matmul")
			if !slices.Equal(rec.ops, want) {
				t.Errorf("operations\n got %s\nwant %s", strings.Join(rec.ops, ", "), strings.Join(want, ", "))
			}
		})
	}
}
