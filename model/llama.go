package model

import "github.com/aha-inference/aha/kernels"

// Llama (Llama 2 and 3.x, DeepSeek-R1-Distill-Llama, llama2.c models such as
// stories260K): the plain decoder of transformer.go — no biases, no QK-norm.
//
// Two things are particular to Llama files. llama.cpp's converter permutes
// the Q and K rows of a llama GGUF so that RoPE rotates interleaved pairs
// (2i, 2i+1) instead of HF's halves (i, i+d/2); aha keeps the rows as stored
// and rotates them the way they were written. And Llama 3.1+ scales the
// rotary frequencies for long contexts: config.json says so in rope_scaling,
// a GGUF stores the resulting per-pair divisors as the rope_freqs tensor.
func init() {
	register(architecture{
		name:      "llama",
		hfClasses: []string{"LlamaForCausalLM"},
		ggufRope:  kernels.RopeInterleaved,
	})
}
