package tokenizer

import (
	"slices"
	"sync"
	"unicode/utf8"
)

// TokenType says what kind of vocabulary entry a token is. The values are
// GGUF's tokenizer.ggml.token_type codes.
type TokenType int32

const (
	Normal      TokenType = 1 // ordinary vocabulary entry
	Unknown     TokenType = 2 // the <unk> token
	Control     TokenType = 3 // special token: BOS, EOS, chat markers
	UserDefined TokenType = 4 // added token that is not special (Qwen's <think>)
	Unused      TokenType = 5 // padding entry that never occurs in text
	Byte        TokenType = 6 // SentencePiece byte-fallback token <0xNN>
)

// kind is the vocabulary family, which decides how words become symbols and
// how tokens become bytes again.
type kind int

const (
	byteLevel     kind = iota // GPT-2 byte-level BPE
	sentencePiece             // SentencePiece BPE with byte fallback
)

// Tokenizer encodes text to token ids and decodes ids to text.
type Tokenizer struct {
	kind   kind
	tokens []string    // id → the vocabulary entry as stored ("Ġthe", "▁the", "<|im_end|>")
	types  []TokenType // id → type
	pieces []string    // id → the bytes the token contributes to decoded text

	model bpe
	pre   preTokenizer        // cuts normalized text into words
	norm  func(string) string // the declared normalizer, nil for none
	// addSpacePrefix puts "▁" before every text segment (SentencePiece).
	addSpacePrefix bool

	added added // tokens matched in the text before any splitting

	encoders sync.Pool // of *encoder

	prefix, suffix []int // ids Encode adds with addSpecial
	bos, eos       int   // -1 when absent
	stop           []int // ids that end generation
	bosText        string
	eosText        string
	chatTemplate   string
	templateVars   map[string]any // special tokens a chat template is given
}

// Encode returns the token ids of text. Added and special tokens written in
// the text ("<|im_start|>") are always recognized, as Hugging Face does;
// addSpecial also puts the BOS/EOS tokens the tokenizer is configured to add
// around the result (Hugging Face's add_special_tokens).
//
// Hugging Face only takes valid UTF-8. Invalid bytes here never fail:
// byte-level vocabularies encode them as their byte tokens (Piece gives
// the bytes back; Decode shows them as U+FFFD), SentencePiece ones as
// <0xNN> byte tokens.
//
// Decode(Encode(s)) gives s back except where the tokenizer itself changes
// the text: the NFC normalizer of Qwen tokenizers, added tokens with
// lstrip/rstrip that swallow whitespace, and for SentencePiece a "▁" in the
// text (read as a space) and the space Hugging Face's Llama tokenizer puts
// after each added token in the text ("a</s>b" decodes as "a</s> b").
func (t *Tokenizer) Encode(text string, addSpecial bool) []int {
	ids := make([]int, 0, len(text)/4+4) // about one token per four bytes of English
	if addSpecial {
		ids = append(ids, t.prefix...)
	}
	e := t.getEncoder()
	defer t.putEncoder(e)
	t.added.split(text, false, func(seg string, id int) {
		if id >= 0 {
			ids = append(ids, id)
			return
		}
		if t.norm != nil {
			seg = t.norm(seg)
		}
		t.added.split(seg, true, func(seg string, id int) {
			if id >= 0 {
				ids = append(ids, id)
			} else {
				ids = t.encodeText(e, ids, seg)
			}
		})
	})
	if addSpecial {
		ids = append(ids, t.suffix...)
	}
	return ids
}

// encodeText encodes a stretch of normalized text holding no added token.
func (t *Tokenizer) encodeText(e *encoder, ids []int, text string) []int {
	if text == "" {
		return ids
	}
	if t.kind == sentencePiece {
		text = t.spmText(text)
	}
	t.pre(text, func(word string) {
		ids = t.model.encodeWord(e, ids, word)
	})
	return ids
}

// Decode returns the text of ids. Ids out of range are skipped, as Hugging
// Face skips ids it has no token for; skipSpecial also drops special
// tokens (BOS, EOS, chat markers). Bytes that do not form valid UTF-8 become
// U+FFFD the way Hugging Face (Rust's from_utf8_lossy) replaces them.
func (t *Tokenizer) Decode(ids []int, skipSpecial bool) string {
	var b []byte
	if t.kind == sentencePiece {
		b = t.decodeSPM(ids, skipSpecial)
	} else {
		for _, id := range ids {
			if t.keep(id, skipSpecial) {
				b = append(b, t.pieces[id]...)
			}
		}
	}
	return string(appendLossy(nil, b))
}

// keep reports whether id is decoded at all.
func (t *Tokenizer) keep(id int, skipSpecial bool) bool {
	return id >= 0 && id < len(t.tokens) && !(skipSpecial && t.IsSpecial(id))
}

// decodeSPM follows Hugging Face's Llama decoder: "▁" becomes a space, runs
// of byte tokens are joined and kept if they form valid UTF-8 or else become
// one U+FFFD per byte, and one leading space is removed.
func (t *Tokenizer) decodeSPM(ids []int, skipSpecial bool) []byte {
	var b, run []byte
	flush := func() {
		if utf8.Valid(run) {
			b = append(b, run...)
		} else {
			for range run {
				b = utf8.AppendRune(b, utf8.RuneError)
			}
		}
		run = run[:0]
	}
	for _, id := range ids {
		if !t.keep(id, skipSpecial) {
			continue
		}
		if t.types[id] == Byte {
			run = append(run, t.pieces[id]...)
			continue
		}
		flush()
		b = append(b, t.pieces[id]...)
	}
	flush()
	if len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	return b
}

// Stream decodes ids one at a time, for printing a generation as it goes.
// It never returns half a UTF-8 character: bytes of an unfinished character
// are held back until the token that completes it arrives.
type Stream struct {
	t           *Tokenizer
	skipSpecial bool
	pending     []byte
	started     bool // text has been decoded before: no leading space to drop
}

// NewStream starts a streaming decode of the ids that follow prompt (nil
// for none). What the stream returns is the text those ids add to the
// prompt's text, so that Decode(prompt) + the stream's text = Decode(prompt
// + ids), as vLLM defines a completion's text: SentencePiece decoding drops
// the leading space of the whole text only, so a completion after "Answer:"
// starts " Daddy", not "Daddy". (A prompt that ends inside a UTF-8
// character decodes with U+FFFD where the joined ids would complete it;
// prompts made by Encode never do.)
func (t *Tokenizer) NewStream(prompt []int, skipSpecial bool) *Stream {
	s := &Stream{t: t, skipSpecial: skipSpecial}
	for i := len(prompt) - 1; i >= 0 && !s.started; i-- {
		s.started = t.keep(prompt[i], skipSpecial) && t.pieces[prompt[i]] != ""
	}
	return s
}

// Add appends one id and returns the text that is now complete. The
// concatenation of everything Add and Flush return equals Decode of all the
// ids (after the prompt, as NewStream says), except that for SentencePiece
// vocabularies an invalid run of byte tokens gets one U+FFFD per maximal
// invalid sequence rather than per byte.
func (s *Stream) Add(id int) string {
	if !s.t.keep(id, s.skipSpecial) {
		return ""
	}
	s.pending = append(s.pending, s.t.pieces[id]...)
	if s.t.kind == sentencePiece && !s.started && len(s.pending) > 0 {
		s.started = true
		if s.pending[0] == ' ' {
			s.pending = s.pending[1:]
		}
	}
	n := len(s.pending) - incompleteTail(s.pending)
	out := string(appendLossy(nil, s.pending[:n]))
	s.pending = append(s.pending[:0], s.pending[n:]...)
	return out
}

// Flush returns whatever is held back, with an unfinished character
// replaced by U+FFFD, and resets the stream's pending bytes.
func (s *Stream) Flush() string {
	out := string(appendLossy(nil, s.pending))
	s.pending = s.pending[:0]
	return out
}

// Token returns the vocabulary entry of id as stored ("Ġthe", "▁the",
// "<0x0A>"), like Hugging Face's convert_ids_to_tokens; "" if out of range.
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.tokens) {
		return ""
	}
	return t.tokens[id]
}

// Piece returns the bytes id contributes to decoded text (" the", "\n"). A
// byte-level or byte-fallback token may hold part of a UTF-8 character; use
// Decode or a Stream for text. "" if out of range.
func (t *Tokenizer) Piece(id int) string {
	if id < 0 || id >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// TokenText returns the text of id on its own, as a logprob names it: its
// piece, with bytes that are not valid UTF-8 (part of a character) replaced
// the way Decode replaces them, one U+FFFD per maximal invalid subsequence.
// That is Hugging Face's decode([id]), except that a SentencePiece word
// keeps its leading space, which decode strips and vLLM puts back. "" if
// out of range.
func (t *Tokenizer) TokenText(id int) string {
	return string(appendLossy(nil, []byte(t.Piece(id))))
}

// ID returns the id of a vocabulary entry as stored, or -1.
func (t *Tokenizer) ID(token string) int {
	if id, ok := t.added.ids[token]; ok {
		return id
	}
	if id, ok := t.model.byToken[token]; ok {
		return int(id)
	}
	return -1
}

// VocabSize returns the number of token ids (the embedding table's rows in
// GGUF files; the largest id plus one for Hugging Face folders).
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// Type returns the type of id; out of range ids are Unused.
func (t *Tokenizer) Type(id int) TokenType {
	if id < 0 || id >= len(t.types) {
		return Unused
	}
	return t.types[id]
}

// IsSpecial reports whether id is a special token (control or unknown),
// which Decode drops when asked to skip special tokens.
func (t *Tokenizer) IsSpecial(id int) bool {
	ty := t.Type(id)
	return ty == Control || ty == Unknown
}

// BOS returns the beginning-of-sequence id, or -1.
func (t *Tokenizer) BOS() int { return t.bos }

// EOS returns the end-of-sequence id, or -1.
func (t *Tokenizer) EOS() int { return t.eos }

// StopTokens returns the ids that end a generation: EOS and the end-of-turn
// tokens the model declares (see FromGGUF and FromHF for where they come
// from). The caller must not modify the slice.
func (t *Tokenizer) StopTokens() []int { return t.stop }

// IsStop reports whether id ends a generation.
func (t *Tokenizer) IsStop(id int) bool { return slices.Contains(t.stop, id) }

// AddBOS reports whether Encode with addSpecial puts a token in front.
func (t *Tokenizer) AddBOS() bool { return len(t.prefix) > 0 }

// AddEOS reports whether Encode with addSpecial puts a token at the end.
func (t *Tokenizer) AddEOS() bool { return len(t.suffix) > 0 }

// BOSToken returns the text of the BOS token as chat templates see it
// (bos_token), or "".
func (t *Tokenizer) BOSToken() string { return t.bosText }

// EOSToken returns the text of the EOS token as chat templates see it
// (eos_token), or "".
func (t *Tokenizer) EOSToken() string { return t.eosText }

// ChatTemplate returns the Jinja chat template the model ships, or "".
func (t *Tokenizer) ChatTemplate() string { return t.chatTemplate }
