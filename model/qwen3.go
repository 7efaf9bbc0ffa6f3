package model

import "github.com/aha-inference/aha/kernels"

// Qwen3: the decoder of transformer.go without q/k/v biases but with a
// per-head RMSNorm of q and k (q_norm, k_norm: one weight of head_dim values
// shared by all heads) applied after the projections and before RoPE.
// head_dim is set independently of hidden/heads (Qwen3-0.6B: 1024 hidden,
// 16 heads of 128). RoPE rotates halves in both formats.
func init() {
	register(architecture{
		name:      "qwen3",
		hfClasses: []string{"Qwen3ForCausalLM"},
		qkNorm:    true,
		ggufRope:  kernels.RopeHalves,
	})
}
