package tokenizer

import (
	"unicode"
	"unicode/utf8"
)

// addedToken is a token matched in the text before the pre-tokenizer runs,
// with Hugging Face's flags.
type addedToken struct {
	id      int
	content string
	special bool
	// lstrip and rstrip make the token swallow the whitespace on its left
	// or right; singleWord accepts a match only between non-word
	// characters; normalized tokens are matched in normalized text,
	// the others in the raw text.
	lstrip, rstrip, singleWord, normalized bool
}

// added finds added tokens in text. Like Hugging Face's AddedVocabulary it
// matches in two passes: tokens with normalized=false in the raw text, then
// the others in each remaining segment once normalized. In each pass the
// leftmost match wins, the longest among those starting at the same place.
type added struct {
	tokens []addedToken
	ids    map[string]int // content → id
	raw    trie
	normed trie
}

func newAdded(tokens []addedToken) added {
	a := added{tokens: tokens, ids: make(map[string]int, len(tokens))}
	for i, tok := range tokens {
		if tok.content == "" {
			continue
		}
		a.ids[tok.content] = tok.id
		if tok.normalized {
			a.normed.insert(tok.content, i)
		} else {
			a.raw.insert(tok.content, i)
		}
	}
	return a
}

// split calls emit for each piece of text in order: an added token's id, or
// a stretch of text with id -1. normalized selects the pass.
func (a *added) split(text string, normalized bool, emit func(seg string, id int)) {
	t := &a.raw
	if normalized {
		t = &a.normed
	}
	if t.empty() {
		emit(text, -1)
		return
	}
	done := 0 // text before done has been emitted
	for i := 0; i < len(text); {
		end, idx := t.longest(text, i)
		if idx < 0 {
			i++
			continue
		}
		start, tok := i, &a.tokens[idx]
		// The search goes on after the match itself, even when the match
		// is rejected or rstrip took the spaces after it, as Hugging
		// Face's matcher does.
		i = end
		if tok.singleWord && (endsWithWord(text[:start]) || startsWithWord(text[end:])) {
			continue
		}
		if tok.lstrip {
			start = max(done, len(trimRightSpace(text[:start])))
		}
		if tok.rstrip {
			end += len(text[end:]) - len(trimLeftSpace(text[end:]))
		}
		if start > done {
			emit(text[done:start], -1)
		}
		emit(text[start:end], tok.id)
		done = end
	}
	if done < len(text) {
		emit(text[done:], -1)
	}
}

func trimRightSpace(s string) string {
	for len(s) > 0 {
		r, w := utf8.DecodeLastRuneInString(s)
		if !unicode.IsSpace(r) {
			break
		}
		s = s[:len(s)-w]
	}
	return s
}

func trimLeftSpace(s string) string {
	for len(s) > 0 {
		r, w := utf8.DecodeRuneInString(s)
		if !unicode.IsSpace(r) {
			break
		}
		s = s[w:]
	}
	return s
}

// isWordChar is the regex \w of Hugging Face's single_word check.
func isWordChar(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r) ||
		unicode.Is(unicode.Pc, r)
}

func endsWithWord(s string) bool {
	r, w := utf8.DecodeLastRuneInString(s)
	return w > 0 && isWordChar(r)
}

func startsWithWord(s string) bool {
	r, w := utf8.DecodeRuneInString(s)
	return w > 0 && isWordChar(r)
}

// trie is a byte trie of token contents. Node 0 is the root; its children
// are an array because every text position is looked up there.
type trie struct {
	root  [256]int32 // first byte → node, 0 if none
	nodes []trieNode
}

type trieNode struct {
	next  map[byte]int32
	token int // index into added.tokens, -1 if no token ends here
}

func (t *trie) empty() bool { return len(t.nodes) == 0 }

func (t *trie) insert(s string, token int) {
	if t.nodes == nil {
		t.nodes = []trieNode{{token: -1}} // node 0 stands for "no child"
	}
	n := t.root[s[0]]
	if n == 0 {
		n = t.newNode()
		t.root[s[0]] = n
	}
	for i := 1; i < len(s); i++ {
		child := t.nodes[n].next[s[i]]
		if child == 0 {
			child = t.newNode()
			if t.nodes[n].next == nil {
				t.nodes[n].next = map[byte]int32{}
			}
			t.nodes[n].next[s[i]] = child
		}
		n = child
	}
	t.nodes[n].token = token
}

func (t *trie) newNode() int32 {
	t.nodes = append(t.nodes, trieNode{token: -1})
	return int32(len(t.nodes) - 1)
}

// longest returns the end and token index of the longest token starting at
// text[i:], or (i, -1).
func (t *trie) longest(text string, i int) (end, token int) {
	end, token = i, -1
	n := t.root[text[i]]
	for j := i + 1; n != 0; j++ {
		node := &t.nodes[n]
		if node.token >= 0 {
			end, token = j, node.token
		}
		if j >= len(text) || node.next == nil {
			break
		}
		n = node.next[text[j]]
	}
	return end, token
}
