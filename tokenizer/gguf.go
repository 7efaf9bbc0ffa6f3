package tokenizer

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aha-inference/aha/gguf"
	"golang.org/x/text/unicode/norm"
)

// FromGGUF builds the tokenizer stored in a GGUF file's tokenizer.*
// metadata, as llama.cpp reads it:
//
//   - tokenizer.ggml.model "gpt2" is byte-level BPE with
//     tokenizer.ggml.merges, pre-tokenized by the regexes llama.cpp selects
//     for tokenizer.ggml.pre; "llama" is SentencePiece BPE with
//     tokenizer.ggml.scores.
//   - Control, user-defined and unknown tokens are added tokens, matched in
//     the text before splitting; control and unknown ones are special.
//   - tokenizer.ggml.add_bos_token / add_eos_token default as in llama.cpp
//     (BOS for SentencePiece and Llama 3, nothing else).
//   - Stop tokens are EOS, the eot/eom ids, and control tokens whose text
//     is a known end-of-turn marker (llama.cpp does the same).
//
// GGUF does not record Hugging Face's normalizer; the Qwen2 pre-tokenizers
// get Qwen's NFC, which every Qwen2/2.5/3 tokenizer.json declares.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	t, err := fromGGUF(f)
	if err != nil {
		return nil, fmt.Errorf("tokenizer from GGUF: %w", err)
	}
	return t, nil
}

func fromGGUF(f *gguf.File) (*Tokenizer, error) {
	modelName, err := f.String("tokenizer.ggml.model")
	if err != nil {
		return nil, err
	}
	v := &vocabulary{unk: -1}
	if v.tokens, err = f.Strings("tokenizer.ggml.tokens"); err != nil {
		return nil, err
	}
	n := len(v.tokens)
	v.types = make([]TokenType, n)
	if f.Has("tokenizer.ggml.token_type") {
		types, err := f.Int32s("tokenizer.ggml.token_type")
		if err != nil {
			return nil, err
		}
		if len(types) != n {
			return nil, fmt.Errorf("%d token types for %d tokens", len(types), n)
		}
		for i, ty := range types {
			v.types[i] = TokenType(ty)
		}
	} else {
		for i := range v.types {
			v.types[i] = Normal
		}
	}

	// ids reads an optional token id key; missing or out of range (GGUF
	// writers store -1 as 4294967295) is -1.
	ids := func(key string, def int) (int, error) {
		if !f.Has(key) {
			return def, nil
		}
		u, err := f.Uint(key)
		if err != nil {
			return 0, err
		}
		if u >= uint64(n) {
			return -1, nil
		}
		return int(u), nil
	}
	flag := func(key string, def bool) (bool, error) {
		if !f.Has(key) {
			return def, nil
		}
		return f.Bool(key)
	}

	var addBOS, ignoreMerges, addSpacePrefix bool
	var pre preTokenizer
	var normalize func(string) string
	defBOS, defEOS := -1, -1
	switch modelName {
	case "gpt2":
		v.kind = byteLevel
		merges, err := f.Strings("tokenizer.ggml.merges")
		if err != nil {
			return nil, err
		}
		v.merges = make([][2]string, len(merges))
		for i, m := range merges {
			// The first token may itself be a space in some vocabularies,
			// so the separator is the first space after it.
			sp := strings.IndexByte(m[min(1, len(m)):], ' ') + 1
			if sp <= 0 {
				return nil, fmt.Errorf("merge %d %q has no space", i, m)
			}
			v.merges[i] = [2]string{m[:sp], m[sp+1:]}
		}
		preName := "default"
		if f.Has("tokenizer.ggml.pre") {
			if preName, err = f.String("tokenizer.ggml.pre"); err != nil {
				return nil, err
			}
		}
		if pre, err = ggufPreTokenizer(preName); err != nil {
			return nil, err
		}
		switch preName {
		case "llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral":
			ignoreMerges, addBOS = true, true
		case "qwen2", "deepseek-r1-qwen":
			normalize = norm.NFC.String
		}
	case "llama":
		v.kind = sentencePiece
		if v.scores, err = f.Float32s("tokenizer.ggml.scores"); err != nil {
			return nil, err
		}
		addBOS, addSpacePrefix = true, true
		defBOS, defEOS, v.unk = 1, 2, 0
	default:
		return nil, fmt.Errorf("unsupported tokenizer model %q (want gpt2 or llama)", modelName)
	}

	if addBOS, err = flag("tokenizer.ggml.add_bos_token", addBOS); err != nil {
		return nil, err
	}
	addEOS, err := flag("tokenizer.ggml.add_eos_token", false)
	if err != nil {
		return nil, err
	}
	if addSpacePrefix, err = flag("tokenizer.ggml.add_space_prefix", addSpacePrefix); err != nil {
		return nil, err
	}
	bos, err := ids("tokenizer.ggml.bos_token_id", defBOS)
	if err != nil {
		return nil, err
	}
	eos, err := ids("tokenizer.ggml.eos_token_id", defEOS)
	if err != nil {
		return nil, err
	}
	if v.unk, err = ids("tokenizer.ggml.unknown_token_id", v.unk); err != nil {
		return nil, err
	}
	stop := []int{eos}
	for _, key := range []string{"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"} {
		id, err := ids(key, -1)
		if err != nil {
			return nil, err
		}
		stop = append(stop, id)
	}

	for id, tok := range v.tokens {
		switch ty := v.types[id]; ty {
		case Control, UserDefined, Unknown:
			v.added = append(v.added, addedToken{id: id, content: tok, special: ty != UserDefined})
			if ty == Control && slices.Contains(endOfTurn, tok) {
				stop = append(stop, id)
			}
		}
	}

	t, err := build(v)
	if err != nil {
		return nil, err
	}
	if pre != nil {
		t.pre = pre
	}
	t.norm, t.addSpacePrefix = normalize, addSpacePrefix
	t.model.ignoreMerges = ignoreMerges
	t.model.fuseUnk = true // as in Llama 2's tokenizer.json
	t.bos, t.eos = bos, eos
	if addBOS && bos >= 0 {
		t.prefix = []int{bos}
	}
	if addEOS && eos >= 0 {
		t.suffix = []int{eos}
	}
	t.stop = stopSet(stop)
	t.bosText, t.eosText = t.Token(bos), t.Token(eos)
	// A GGUF file keeps the special tokens as ids; a chat template is given
	// their text, as transformers gives it tokenizer_config.json's.
	t.templateVars = map[string]any{}
	for _, r := range SpecialRoles() {
		id := -1
		switch r.Name {
		case "bos":
			id = bos
		case "eos":
			id = eos
		case "unk":
			id = v.unk
		default:
			if id, err = ids(r.GGUFKey, -1); err != nil {
				return nil, err
			}
		}
		if tok := t.Token(id); tok != "" {
			t.templateVars[r.Name+"_token"] = tok
		}
	}
	if f.Has("tokenizer.chat_template") {
		if t.chatTemplate, err = f.String("tokenizer.chat_template"); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// endOfTurn lists the texts of control tokens that end a turn in the chat
// formats aha runs, for GGUF files that name only one EOS id (a Qwen GGUF's
// EOS is <|im_end|>, yet a base model stops with <|endoftext|>).
var endOfTurn = []string{
	"<|endoftext|>", "<|im_end|>", "<|end_of_text|>", "<|eot_id|>", "<|eom_id|>",
	"<｜end▁of▁sentence｜>", "</s>",
}

// stopSet drops -1 and duplicates, keeping the first occurrence's order.
func stopSet(ids []int) []int {
	var out []int
	for _, id := range ids {
		if id >= 0 && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
