// Package convert writes GGUF files: a loaded model (a Hugging Face folder
// or a GGUF) in a chosen weight type, with the metadata, tensor names,
// shapes and tokenizer keys llama.cpp's converter produces, and synthetic
// models, which have a real checkpoint's shape and random weights, for
// benchmarks.
package convert
