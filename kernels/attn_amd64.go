package kernels

import "github.com/klauspost/cpuid/v2"

// AVX-512 attention pieces and SwiGLU, in attn_amd64.s.

//go:noescape
func attnScores(q, k *float32, stride, rows, dim int, scale float32, s *float32) float32

//go:noescape
func attnExp(s *float32, n int, max float32) float32

//go:noescape
func attnAXPY(out, v *float32, stride, rows, dim int, p *float32)

//go:noescape
func siluMul(gate, up *float32, n int)

func init() {
	if cpuid.CPU.Supports(cpuid.AVX512F) {
		simdAttention = &attnKernels{scores: attnScores, exp: attnExp, axpy: attnAXPY}
		attention = simdAttention
		simdSiLUMul = siluMul
	}
}
