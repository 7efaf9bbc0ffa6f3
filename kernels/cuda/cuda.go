// Package cuda is aha's GPU backend: kernels.Backend on NVIDIA GPUs of
// compute capability 8.0 and newer, through the CUDA driver API.
//
// The kernels are CUDA C (*.cu beside this file), compiled to PTX by
// go generate and committed, so building needs no CUDA toolkit; the driver
// JIT-compiles the PTX for the GPU it finds. The driver library itself is
// loaded at run time, so a binary built with -tags cuda also runs where
// there is no driver and falls back to the CPU. Without the cuda build tag
// the package only has a New that says so. DEVELOPERS.md at the repository
// root says how to build, regenerate and test it.
//
// This file holds the launch geometry, which is plain Go so that its rules
// (the determinism of the GPU's results rests on them) are tested on every
// machine.
package cuda

//go:generate nvcc -ptx -arch=compute_80 matmul.cu attention.cu layer.cu

import (
	"regexp"

	"github.com/aha-inference/aha/quant"
)

// matvecKernel names the FMA kernel for each weight type that has one
// decoded in registers. f16 and bf16 have one too, but go through the
// tensor-core kernels (mmaKernel); other types are decoded to f32 at upload.
var matvecKernel = map[quant.Type]string{
	quant.F32:  "matvec_f32",
	quant.Q8_0: "matvec_q8_0",
	quant.Q4_0: "matvec_q4_0",
	quant.Q4_K: "matvec_q4_k",
	quant.Q6_K: "matvec_q6_k",
}

// mmaKernel names the tensor-core kernel for the 16-bit float types.
var mmaKernel = map[quant.Type]string{
	quant.F16:  "mma_f16",
	quant.BF16: "mma_bf16",
}

// embedKernel names the embedding lookup for each type the device decodes.
var embedKernel = map[quant.Type]string{
	quant.F32:  "embed_f32",
	quant.F16:  "embed_f16",
	quant.BF16: "embed_bf16",
	quant.Q8_0: "embed_q8_0",
	quant.Q4_0: "embed_q4_0",
	quant.Q4_K: "embed_q4_k",
	quant.Q6_K: "embed_q6_k",
}

// Block shapes the kernels are written for (WARPS, TB and MMA_TOKENS in
// matmul.cu).
const (
	matWarps     = 4  // warps per matmul block
	matvecTokens = 8  // tokens per matvec warp
	mmaRows      = 16 // weight rows per mma warp
	mmaTokens    = 32 // tokens per mma warp
)

// splitColumns cuts a matmul's cols into splits of splitLen columns, so that
// the GPU has work for many warps even at batch 1. splitLen is a multiple of
// 256 (whole quant blocks and K-quant super-blocks, whole mma steps), and it
// depends on cols alone: the order in which a row's products are summed is a
// function of the matrix shape, never of the batch.
func splitColumns(cols int) (splitLen, splits int) {
	target := min(max(cols/256, 1), 16)
	splitLen = ceilDiv(ceilDiv(cols, target), 256) * 256
	return splitLen, ceilDiv(cols, splitLen)
}

// partBudget bounds the partial sums of one matmul launch (bytes); a larger
// batch is run in chunks of tokens, which changes no result because every
// (row, token) pair is summed on its own.
const partBudget = 256 << 20

// tokenChunk is how many tokens one matmul launch takes.
func tokenChunk(n, rows, splits int) int {
	if splits == 1 {
		return n
	}
	c := partBudget / (4 * rows * splits) / mmaTokens * mmaTokens
	return min(n, max(c, mmaTokens))
}

// attentionSplit is the positions per attention split: a context of p+1
// positions is cut into ⌈(p+1)/attentionSplit⌉ splits, whatever the batch.
const attentionSplit = 256

// headsPerBlock is how many query heads of one KV group an attention block
// takes: the largest divisor of the group size up to 8.
func headsPerBlock(group int) int {
	for h := min(group, 8); h > 1; h-- {
		if group%h == 0 {
			return h
		}
	}
	return 1
}

var entryRE = regexp.MustCompile(`(?m)^\.visible \.entry (\w+)\(`)

// entryPoints lists the kernels a PTX file defines.
func entryPoints(ptx string) []string {
	var names []string
	for _, m := range entryRE.FindAllStringSubmatch(ptx, -1) {
		names = append(names, m[1])
	}
	return names
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
