package model

import "github.com/aha-inference/aha/kernels"

// Qwen2 (Qwen2, Qwen2.5, DeepSeek-R1-Distill-Qwen): the decoder of
// transformer.go with biases on the q, k and v projections (o_proj has
// none). Its GGUFs keep HF's row order, so RoPE rotates halves in both
// formats.
func init() {
	register(architecture{
		name:          "qwen2",
		hfClasses:     []string{"Qwen2ForCausalLM"},
		attentionBias: true,
		ggufRope:      kernels.RopeHalves,
	})
}
