package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// bpe is the merge model shared by both vocabulary families. A word starts
// as one symbol per byte (byte-level) or per character (SentencePiece); the
// adjacent pair with the lowest merge rank is merged, leftmost first, until
// no pair has a rank. This is Hugging Face's BPE model without dropout.
type bpe struct {
	byToken map[string]int32 // vocabulary entry as stored → id
	// byBytes maps a byte-level token's raw bytes to its id, for
	// ignoreMerges; nil for SentencePiece.
	byBytes map[string]int32
	merges  map[uint64]merge // pairKey(left, right) → merge
	byteIDs [256]int32       // token of each single byte (byte-level) or <0xNN> token (SentencePiece); -1 if none
	unk     int32            // unknown token for characters with no fallback, -1 if none
	// ignoreMerges (Llama 3): a word that is itself in the vocabulary is
	// one token, whatever the merges would make of it.
	ignoreMerges bool
	// chars: words start as characters with byte fallback (SentencePiece)
	// rather than bytes.
	chars bool
	// fuseUnk merges consecutive unknown tokens into one.
	fuseUnk bool
}

type merge struct {
	rank int32 // lower merges first
	id   int32 // the merged token
}

func pairKey(left, right int32) uint64 { return uint64(uint32(left))<<32 | uint64(uint32(right)) }

// encoder is per-call scratch space, pooled per Tokenizer so that encoding
// allocates little beyond the result, and the cache of words already
// merged, which makes repeated words (most words of natural text) one map
// lookup. Pooling keeps the cache lock-free under concurrent Encode calls.
type encoder struct {
	syms  []symbol
	heap  []candidate
	cache map[string]span // word → its tokens in arena
	arena []int32
}

type span struct{ start, end int32 }

// Words longer than cacheWordLen are not cached; the cache is emptied when
// it holds cacheWords words.
const (
	cacheWordLen = 256
	cacheWords   = 1 << 16
)

// symbol is a node of the doubly linked list of a word's current tokens;
// id -1 marks a symbol merged into its left neighbour.
type symbol struct{ id, prev, next int32 }

// candidate proposes merging the symbol at pos with its right neighbour.
type candidate struct{ rank, pos, id int32 }

func (t *Tokenizer) getEncoder() *encoder {
	if e, ok := t.encoders.Get().(*encoder); ok {
		return e
	}
	return &encoder{cache: map[string]span{}}
}

func (t *Tokenizer) putEncoder(e *encoder) { t.encoders.Put(e) }

// encodeWord appends the tokens of one word.
func (m *bpe) encodeWord(e *encoder, ids []int, word string) []int {
	if m.ignoreMerges {
		if id, ok := m.byBytes[word]; ok {
			return append(ids, int(id))
		}
	}
	if sp, ok := e.cache[word]; ok {
		for _, id := range e.arena[sp.start:sp.end] {
			ids = append(ids, int(id))
		}
		return ids
	}
	if m.chars {
		m.charSymbols(e, word)
	} else {
		e.syms = e.syms[:0]
		for i := 0; i < len(word); i++ {
			// A vocabulary without some byte drops it, as Hugging Face's
			// BPE without an unknown token does.
			if id := m.byteIDs[word[i]]; id >= 0 {
				e.syms = append(e.syms, symbol{id: id})
			}
		}
	}
	n := len(ids)
	ids = m.merge(e, ids)
	if len(word) <= cacheWordLen {
		if len(e.cache) >= cacheWords {
			clear(e.cache)
			e.arena = e.arena[:0]
		}
		start := len(e.arena)
		for _, id := range ids[n:] {
			e.arena = append(e.arena, int32(id))
		}
		e.cache[strings.Clone(word)] = span{int32(start), int32(len(e.arena))}
	}
	return ids
}

// charSymbols makes the initial symbols of a SentencePiece word: one per
// character. A character missing from the vocabulary becomes its <0xNN>
// byte tokens, or the unknown token if one of those is missing too (or
// the vocabulary has no byte fallback).
func (m *bpe) charSymbols(e *encoder, word string) {
	e.syms = e.syms[:0]
	for i := 0; i < len(word); {
		_, w := utf8.DecodeRuneInString(word[i:])
		char := word[i : i+w]
		i += w
		if id, ok := m.byToken[char]; ok {
			e.syms = append(e.syms, symbol{id: id})
			continue
		}
		fallback := true
		for j := 0; j < len(char); j++ {
			fallback = fallback && m.byteIDs[char[j]] >= 0
		}
		switch {
		case fallback:
			for j := 0; j < len(char); j++ {
				e.syms = append(e.syms, symbol{id: m.byteIDs[char[j]]})
			}
		case m.unk < 0:
		case m.fuseUnk && len(e.syms) > 0 && e.syms[len(e.syms)-1].id == m.unk:
		default:
			e.syms = append(e.syms, symbol{id: m.unk})
		}
	}
}

// merge applies the merges to the symbols in e.syms and appends the result.
// A heap of candidate pairs ordered by (rank, position) gives the lowest
// rank, leftmost first, in O(n log n) even for very long words; a candidate
// whose symbols changed since it was pushed is recognised and dropped.
func (m *bpe) merge(e *encoder, ids []int) []int {
	syms := e.syms
	if len(syms) == 0 {
		return ids
	}
	n := int32(len(syms))
	for i := range syms {
		syms[i].prev, syms[i].next = int32(i)-1, int32(i)+1
	}
	syms[n-1].next = -1
	e.heap = e.heap[:0]
	for i := int32(0); i+1 < n; i++ {
		e.push(m, i, syms[i].id, syms[i+1].id)
	}
	for len(e.heap) > 0 {
		c := e.pop()
		left := &syms[c.pos]
		if left.id < 0 || left.next < 0 {
			continue
		}
		right := &syms[left.next]
		if cur, ok := m.merges[pairKey(left.id, right.id)]; !ok || cur.id != c.id {
			continue // stale: one of the two changed
		}
		left.id = c.id
		right.id = -1
		left.next = right.next
		if left.next >= 0 {
			syms[left.next].prev = c.pos
			e.push(m, c.pos, left.id, syms[left.next].id)
		}
		if left.prev >= 0 {
			e.push(m, left.prev, syms[left.prev].id, left.id)
		}
	}
	for i := int32(0); i >= 0; i = syms[i].next {
		ids = append(ids, int(syms[i].id))
	}
	return ids
}

// push adds the merge of (left, right) at pos, if there is one.
func (e *encoder) push(m *bpe, pos, left, right int32) {
	mg, ok := m.merges[pairKey(left, right)]
	if !ok {
		return
	}
	h := append(e.heap, candidate{mg.rank, pos, mg.id})
	for i := len(h) - 1; i > 0; {
		parent := (i - 1) / 2
		if !h[i].less(h[parent]) {
			break
		}
		h[i], h[parent] = h[parent], h[i]
		i = parent
	}
	e.heap = h
}

// pop removes and returns the smallest candidate.
func (e *encoder) pop() candidate {
	h := e.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		small, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && h[l].less(h[small]) {
			small = l
		}
		if r < len(h) && h[r].less(h[small]) {
			small = r
		}
		if small == i {
			break
		}
		h[i], h[small] = h[small], h[i]
		i = small
	}
	e.heap = h
	return top
}

func (a candidate) less(b candidate) bool {
	return a.rank < b.rank || a.rank == b.rank && a.pos < b.pos
}
