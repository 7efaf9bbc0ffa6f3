package kernels

import (
	"github.com/aha-inference/aha/quant"
	"github.com/klauspost/cpuid/v2"
)

// AVX-512 attention pieces and SwiGLU, in attn_amd64.s; the pieces that
// read float16 and bfloat16 caches, in attn16_amd64.s.

//go:noescape
func attnScores(q *float32, k *byte, stride, rows, dim int, scale float32, s *float32) float32

//go:noescape
func attnScoresF16(q *float32, k *byte, stride, rows, dim int, scale float32, s *float32) float32

//go:noescape
func attnScoresBF16(q *float32, k *byte, stride, rows, dim int, scale float32, s *float32) float32

//go:noescape
func attnExp(s *float32, n int, max float32) float32

//go:noescape
func attnAXPY(out *float32, v *byte, stride, rows, dim int, p *float32)

//go:noescape
func attnAXPYF16(out *float32, v *byte, stride, rows, dim int, p *float32)

//go:noescape
func attnAXPYBF16(out *float32, v *byte, stride, rows, dim int, p *float32)

//go:noescape
func siluMul(gate, up *float32, n int)

//go:noescape
func storeF16(dst *byte, src *float32, n int)

func init() {
	if cpuid.CPU.Supports(cpuid.AVX512F) {
		simdAttention = &attnKernels{exp: attnExp, kv: map[quant.Type]kvKernels{
			quant.F32: {scores: attnScores, axpy: attnAXPY},
			quant.F16: {scores: attnScoresF16, axpy: attnAXPYF16},
		}}
		if cpuid.CPU.Supports(cpuid.AVX512BW) { // VPMOVZXWD on 512 bits
			simdAttention.kv[quant.BF16] = kvKernels{scores: attnScoresBF16, axpy: attnAXPYBF16}
		}
		simdSiLUMul = siluMul
		simdStoreF16 = storeF16
	}
}
