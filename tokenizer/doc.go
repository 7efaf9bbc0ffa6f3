// Package tokenizer turns text into token ids and back exactly as Hugging
// Face tokenizers does, for the two vocabulary families aha runs:
//
//   - byte-level BPE (GPT-2 style): Qwen2, Qwen2.5, Qwen3,
//     DeepSeek-R1-Distill-Qwen, Llama 3 and deepseek-llm. Text is cut into
//     words by the model's pre-tokenizer regex, each word's UTF-8 bytes are
//     merged pairwise in the order of the merge list.
//   - SentencePiece-style BPE, as in Llama 2 (GGUF tokenizer.ggml.model =
//     "llama", or Llama 2's tokenizer.json): spaces become "▁", a "▁" is put
//     in front of the text, pieces merge by score, and characters missing
//     from the vocabulary fall back to <0xNN> byte tokens.
//
// A Tokenizer comes from a GGUF file's tokenizer.* metadata (FromGGUF) or a
// Hugging Face folder's tokenizer.json and tokenizer_config.json (FromHF);
// Load picks by path. Where llama.cpp and Hugging Face disagree, this package
// follows Hugging Face: the ids a model was trained and evaluated on.
//
// A Tokenizer is immutable once loaded and safe for concurrent use.
package tokenizer
