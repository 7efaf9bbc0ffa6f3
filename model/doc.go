// Package model loads checkpoints — GGUF files and Hugging Face safetensors
// folders — for the architectures aha supports (llama, qwen2, qwen3) and runs
// their forward pass.
//
// Weights are memory-mapped and used in place, in the type the file stores
// them in: loading a model copies nothing but its small norm and bias
// vectors.
package model
