// Package model loads checkpoints — GGUF files and Hugging Face safetensors
// folders — for the architectures aha supports (llama, qwen2, qwen3) and runs
// their forward pass.
//
// Weights are memory-mapped, in the type the file stores them in: loading a
// model copies nothing but its small norm and bias vectors. Running it is
// the forward pass (transformer.go) as operations of a kernels.Backend,
// which must be set (SetBackend) and which may keep a copy of the weights
// of its own: Ready has the CPU backend pack the matrices it multiplies
// into its SIMD layout (their file pages are then dropped) and a GPU
// backend upload them. The KV cache (cache.go) keeps its bookkeeping on
// the host and its keys and values in the backend's memory.
package model
