// Package loader opens a model for running: the weights on a backend (the
// CPU, or a GPU with a fallback to the CPU), a LoRA adapter folded in, the
// tokenizer, and the chat template that turns a conversation into a prompt.
// The commands and the server load through it alike, and the server's
// weight swap (/load_weights/) opens each new checkpoint through it too.
//
// A load reads top to bottom as Load: open the file, choose the backend,
// fold the adapter, read the tokenizer, bring the weights into memory (or
// onto the GPU) with a progress bar, and say on stderr what was loaded.
package loader
