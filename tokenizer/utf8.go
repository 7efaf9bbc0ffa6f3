package tokenizer

import "unicode/utf8"

// Decoded token bytes need not be valid UTF-8 (a model can stop in the middle
// of a character). Hugging Face turns them into text with Rust's
// String::from_utf8_lossy, which replaces each maximal invalid subsequence
// (Unicode's "substitution of maximal subparts") with one U+FFFD. Go's own
// conversions replace byte by byte or run by run, so the rule is spelled out
// here.

// sequence returns how many bytes at the start of b belong to the next
// character and whether they form a complete, valid one. An invalid or
// truncated sequence reports the length of its longest valid prefix (at
// least 1), which is one maximal subpart.
func sequence(b []byte) (n int, ok bool) {
	c := b[0]
	if c < utf8.RuneSelf {
		return 1, true
	}
	var size int
	lo, hi := byte(0x80), byte(0xBF) // allowed range of the second byte
	switch {
	case c >= 0xC2 && c <= 0xDF:
		size = 2
	case c == 0xE0:
		size, lo = 3, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		size = 3
	case c == 0xED:
		size, hi = 3, 0x9F
	case c == 0xF0:
		size, lo = 4, 0x90
	case c >= 0xF1 && c <= 0xF3:
		size = 4
	case c == 0xF4:
		size, hi = 4, 0x8F
	default:
		return 1, false
	}
	for i := 1; i < size; i++ {
		if i >= len(b) || b[i] < lo || b[i] > hi {
			return i, false
		}
		lo, hi = 0x80, 0xBF
	}
	return size, true
}

// appendLossy appends b to dst with every maximal invalid subsequence
// replaced by U+FFFD.
func appendLossy(dst, b []byte) []byte {
	for len(b) > 0 {
		n, ok := sequence(b)
		if ok {
			dst = append(dst, b[:n]...)
		} else {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		}
		b = b[n:]
	}
	return dst
}

// incompleteTail returns the length of the valid but unfinished character at
// the end of b (0 if b ends on a character boundary or with invalid bytes):
// the bytes a streaming decoder holds back until more arrive.
func incompleteTail(b []byte) int {
	// A character is at most 4 bytes, so its start is among the last 3.
	for i := max(0, len(b)-3); i < len(b); i++ {
		if b[i] < 0xC2 || b[i] > 0xF4 { // not a byte that can start a character
			continue
		}
		if n, ok := sequence(b[i:]); !ok && i+n == len(b) {
			return n
		}
	}
	return 0
}
