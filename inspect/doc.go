// Package inspect describes a checkpoint from its metadata, without reading
// its weights: what `aha inspect` shows. A GGUF file and the Hugging Face
// folder it came from are described alike, in GGUF terms.
package inspect
