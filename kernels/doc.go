// Package kernels is aha's compute: every operation a transformer layer
// needs, as a plain Go reference (ref.go) and, beside it, the fast
// implementations, all behind the Backend interface (backend.go).
//
// # The seam
//
// A Backend owns the memory the forward pass works in: buffers it hands out
// (Alloc) for the model's small vectors, one step's activations and the
// logits, and the KV cache's pool (NewKVPool). Operations name those
// buffers; what crosses from the caller in a step is small integer arrays
// (token ids, positions, KV slots, block tables) and what comes back is
// the logit rows it reads (Read). On the CPU a buffer is a []float32
// (HostBuffer), so the seam costs nothing there; on a GPU (package
// kernels/cuda) it is device memory, and the activations and KV history
// stay on the device between operations and steps.
//
// # The reference
//
// The reference functions are the specification and the test oracle: clear
// loops, float32 data, float32 accumulation for dot products (float64 only
// where a long reduction of squares or exponentials would otherwise lose
// precision, as llama.cpp does too), no tricks. Reference is the Backend
// made of them.
//
// The CPU backend's operations are tested against them — MatMul
// (TestMatMulMatchesReference), attention (TestCPUAttention,
// TestAttentionSIMD), RoPE (TestCPURoPE), SiLU (TestCPUSiLUMul) — except where a kernel is
// checked against a float64 re-derivation of its definition instead,
// which bounds its error more tightly than a float32 reference could: the
// dot products (TestDotKernels and the FuzzDot targets), the matmul tiles
// (TestTileMatchesExact) and attention's exp (TestAttnExp).
//
// Activations are row-major: a batch of n vectors of width d is n·d values,
// row t at [t·d, (t+1)·d).
package kernels
