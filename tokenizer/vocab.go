package tokenizer

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Byte-level BPE stores tokens in GPT-2's printable alphabet: every byte is
// one character, printable bytes (33–126, 161–172, 174–255) as themselves
// and the others as U+0100 onwards in byte order, so " the" is stored
// "Ġthe". byteRune is that mapping, runeByte its inverse (-1 for characters
// outside the alphabet).
var (
	byteRune [256]rune
	runeByte [324]int16
)

func init() {
	for i := range runeByte {
		runeByte[i] = -1
	}
	n := rune(0)
	for b := range 256 {
		r := rune(b)
		if !('!' <= b && b <= '~' || 0xA1 <= b && b <= 0xAC || 0xAE <= b && b <= 0xFF) {
			r = 256 + n
			n++
		}
		byteRune[b] = r
		runeByte[r] = int16(b)
	}
}

// unByteLevel returns the bytes a stored byte-level token stands for, and
// false when it holds a character outside the alphabet (an added token such
// as "a ø"), which Hugging Face's ByteLevel decoder passes through as is.
func unByteLevel(tok string) (string, bool) {
	b := make([]byte, 0, len(tok))
	for _, r := range tok {
		if r >= rune(len(runeByte)) || runeByte[r] < 0 {
			return tok, false
		}
		b = append(b, byte(runeByte[r]))
	}
	return string(b), true
}

// vocabulary is what a loader reads from a file, before building.
type vocabulary struct {
	kind   kind
	tokens []string // by id; "" for ids with no token
	types  []TokenType
	// model says which ids belong to the BPE model's own vocabulary (not
	// only added tokens); nil means all ids but control, user-defined and
	// unused ones.
	model  []bool
	scores []float32   // SentencePiece: merge priority of each token
	merges [][2]string // byte-level: merge list, best first
	added  []addedToken
	unk    int // -1 if none
}

// build makes the BPE model and the decoding table from a vocabulary.
func build(v *vocabulary) (*Tokenizer, error) {
	n := len(v.tokens)
	if len(v.types) != n {
		return nil, fmt.Errorf("%d token types for %d tokens", len(v.types), n)
	}
	t := &Tokenizer{kind: v.kind, tokens: v.tokens, types: v.types, pieces: make([]string, n)}
	m := &t.model
	m.unk = int32(v.unk)
	m.byToken = make(map[string]int32, n)
	for id, tok := range v.tokens {
		ty := v.types[id]
		inModel := ty != Control && ty != UserDefined && ty != Unused
		if v.model != nil {
			inModel = v.model[id]
		}
		if _, dup := m.byToken[tok]; inModel && !dup && tok != "" {
			m.byToken[tok] = int32(id)
		}
	}
	for b := range m.byteIDs {
		m.byteIDs[b] = -1
	}

	switch v.kind {
	case byteLevel:
		m.byBytes = make(map[string]int32, len(m.byToken))
		for tok, id := range m.byToken {
			if raw, ok := unByteLevel(tok); ok {
				m.byBytes[raw] = id
			}
		}
		for b := range 256 {
			if id, ok := m.byToken[string(byteRune[b])]; ok {
				m.byteIDs[b] = id
			}
		}
		for id, tok := range v.tokens {
			t.pieces[id], _ = unByteLevel(tok)
		}

	case sentencePiece:
		for b := range 256 {
			if id, ok := m.byToken[fmt.Sprintf("<0x%02X>", b)]; ok && v.types[id] == Byte {
				m.byteIDs[b] = id
			}
		}
		m.chars = true
		t.pre = whole
		if spmSplittable(v) {
			t.pre = splitSPM
		}
		for id, tok := range v.tokens {
			if v.types[id] == Byte && isByteToken(tok) {
				var b byte
				fmt.Sscanf(tok, "<0x%02X>", &b)
				t.pieces[id] = string([]byte{b})
				continue
			}
			t.pieces[id] = strings.ReplaceAll(tok, "▁", " ")
		}
	}
	// Merges are listed (byte-level; Hugging Face's SentencePiece files) or
	// derived from scores (SentencePiece GGUF).
	if v.merges != nil || v.kind == byteLevel {
		m.merges = make(map[uint64]merge, len(v.merges))
		for rank, mg := range v.merges {
			l, okl := m.byToken[mg[0]]
			r, okr := m.byToken[mg[1]]
			id, ok := m.byToken[mg[0]+mg[1]]
			if !okl || !okr || !ok {
				return nil, fmt.Errorf("merge %d (%q %q) names a token not in the vocabulary", rank, mg[0], mg[1])
			}
			m.merges[pairKey(l, r)] = merge{rank: int32(rank), id: id}
		}
	} else {
		if len(v.scores) != n {
			return nil, fmt.Errorf("%d token scores for %d tokens", len(v.scores), n)
		}
		m.merges = spmMerges(v, m.byToken)
	}
	t.added = newAdded(v.added)
	return t, nil
}

// spmMerges derives merge ranks from SentencePiece scores the way Hugging
// Face converts a Llama SentencePiece model to tokenizer.json: every split
// of a normal token into two vocabulary entries is a merge, ordered by the
// token's score (higher first), then by token id, then by the left and
// right ids.
func spmMerges(v *vocabulary, byToken map[string]int32) map[uint64]merge {
	type entry struct {
		score    float32
		id, l, r int32
	}
	var entries []entry
	for id, tok := range v.tokens {
		if v.types[id] != Normal {
			continue
		}
		for i := range tok { // each character boundary
			if i == 0 {
				continue
			}
			l, okl := byToken[tok[:i]]
			r, okr := byToken[tok[i:]]
			if okl && okr {
				entries = append(entries, entry{v.scores[id], int32(id), l, r})
			}
		}
	}
	slices.SortFunc(entries, func(a, b entry) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.id, b.id),
			cmp.Compare(a.l, b.l), cmp.Compare(a.r, b.r))
	})
	merges := make(map[uint64]merge, len(entries))
	for rank, e := range entries {
		merges[pairKey(e.l, e.r)] = merge{rank: int32(rank), id: e.id}
	}
	return merges
}

// spmSplittable reports whether no normal token has a "▁" after another
// character, so that no merge can cross the cuts of splitSPM.
func spmSplittable(v *vocabulary) bool {
	for id, tok := range v.tokens {
		if v.types[id] != Normal {
			continue
		}
		if i := strings.LastIndex(tok, "▁"); i > 0 && strings.TrimRight(tok[:i+len("▁")], "▁") != "" {
			return false
		}
	}
	return true
}

// spmText turns a text segment into SentencePiece's form: spaces become
// "▁", and a "▁" goes in front (add_space_prefix; Hugging Face's Prepend
// normalizer, which runs on every segment between added tokens).
func (t *Tokenizer) spmText(text string) string {
	text = strings.ReplaceAll(text, " ", "▁")
	if t.addSpacePrefix {
		text = "▁" + text
	}
	return text
}
