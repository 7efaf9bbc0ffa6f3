package tokenizer

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A preTokenizer cuts text into words, calling emit for each in order; BPE
// never merges across words. The words cover the text exactly.
type preTokenizer func(text string, emit func(word string))

// The regexes that GPT-2 style tokenizers declare, as their tokenizer.json
// files spell them. Go's regexp has no look-ahead, which \s+(?!\S) needs, so
// these three are matched by hand-written scanners (splitGPT2, splitGPT4),
// as llama.cpp does. Measured on 1 MB of mixed text (benchText): the
// scanner cuts the same words as github.com/dlclark/regexp2 running the
// declared pattern, 25 times faster (60 MB/s against 2.4 MB/s).
const (
	regexGPT2   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
	regexLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	regexQwen2  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// whole keeps the text as one word.
func whole(text string, emit func(string)) { emit(text) }

// splitSPM cuts SentencePiece text before each "▁" that follows another
// character. SentencePiece itself has no pre-tokenizer; cutting is exact
// for vocabularies where no token has a "▁" after another character (see
// spmSplittable), and keeps merging linear in the text length.
func splitSPM(s string, emit func(string)) {
	start := 0
	for i := 1; i < len(s); i++ {
		if strings.HasPrefix(s[i:], "▁") && !strings.HasSuffix(s[:i], "▁") {
			emit(s[start:i])
			start = i
		}
	}
	emit(s[start:])
}

// splitRegex returns the pre-tokenizer for one Split regex of a
// tokenizer.json (behavior Isolated: matches and the text between them are
// all words).
func splitRegex(pattern string) (preTokenizer, error) {
	switch pattern {
	case regexGPT2:
		return splitGPT2, nil
	case regexLlama3:
		return splitGPT4(3), nil
	case regexQwen2:
		return splitGPT4(1), nil
	}
	re, err := compileOniguruma(pattern)
	if err != nil {
		return nil, fmt.Errorf("unsupported pre-tokenizer regex %q: %w", pattern, err)
	}
	return splitGo(re), nil
}

// ggufPreTokenizer returns the pre-tokenizer llama.cpp selects for a GGUF
// file's tokenizer.ggml.pre value (llama-vocab.cpp), written as the
// Hugging Face pre-tokenizers of those models.
func ggufPreTokenizer(name string) (preTokenizer, error) {
	switch name {
	case "llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral", "dbrx", "smaug-bpe":
		return splitGPT4(3), nil
	case "qwen2", "deepseek-r1-qwen", "stablelm2", "megrez":
		return splitGPT4(1), nil
	case "gpt-2", "gpt2", "phi-2", "mpt", "olmo", "jais":
		return splitGPT2, nil
	case "deepseek-llm":
		// tokenizer.json of deepseek-llm: a sequence of Isolated splits,
		// then Digits(individual_digits). The classes are written as code
		// points: some letters here (U+1F7D, U+212A, ...) are not NFC and
		// would be silently changed by an editor that normalizes.
		return isolatedSplits(
			`[\r\n]`,
			`\s?[A-Za-z`+
				`\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}`+
				`\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}`+
				`\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}`+
				`\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}`+
				`\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}`+
				`\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}`+
				`\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}`+
				`\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}`+
				`\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}`+
				`\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}`+
				`\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}`+
				`\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}`+
				`\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}`+
				`\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}`+
				`\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}`+
				`\x{1E900}-\x{1E943}]+`,
			`\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+`,
			`\s+$`,
			`[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+`,
			`\p{N}`,
		), nil
	case "default", "":
		// llama.cpp's own fallback; no Hugging Face tokenizer declares it.
		return isolatedSplits(`[\p{P}\$\+<=>\^~\|]+`, regexGPT2, `\p{N}+`, `[0-9][0-9][0-9]`), nil
	}
	return nil, fmt.Errorf("unsupported pre-tokenizer %q", name)
}

// isolatedSplits chains Isolated regex splits: each cuts the words of the one
// before. The patterns are fixed and known to compile.
func isolatedSplits(patterns ...string) preTokenizer {
	var pre preTokenizer
	for _, p := range patterns {
		next, err := splitRegex(p)
		if err != nil {
			panic(err) // a bug in the fixed patterns above
		}
		pre = chain(pre, next)
	}
	return pre
}

// chain returns a pre-tokenizer that cuts each word of first with second.
func chain(first, second preTokenizer) preTokenizer {
	if first == nil {
		return second
	}
	return func(text string, emit func(string)) {
		first(text, func(word string) { second(word, emit) })
	}
}

// splitGo splits with a Go regexp, keeping matches and gaps.
func splitGo(re *regexp.Regexp) preTokenizer {
	return func(text string, emit func(string)) {
		last := 0
		for _, m := range re.FindAllStringIndex(text, -1) {
			if m[0] > last {
				emit(text[last:m[0]])
			}
			if m[1] > m[0] {
				emit(text[m[0]:m[1]])
			}
			last = m[1]
		}
		if last < len(text) {
			emit(text[last:])
		}
	}
}

// whitespace is the class \s matches in Oniguruma, the regex engine of
// Hugging Face tokenizers: Unicode White_Space. Go's \s is ASCII only.
const whitespace = `\t\n\v\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}`

// compileOniguruma compiles a pre-tokenizer regex with Go's regexp after
// giving \s, \S and \d their Unicode meaning. Patterns with look-around or
// other syntax Go lacks fail to compile, which is reported, never guessed.
func compileOniguruma(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case c == '\\' && i+1 < len(pattern):
			i++
			switch e := pattern[i]; {
			case e == 's' && inClass:
				b.WriteString(whitespace)
			case e == 's':
				b.WriteString("[" + whitespace + "]")
			case e == 'S' && !inClass:
				b.WriteString("[^" + whitespace + "]")
			case e == 'd':
				b.WriteString(`\p{Nd}`)
			case e == 'S' || e == 'D' || e == 'w' || e == 'W':
				return nil, fmt.Errorf(`\%c has no exact Go equivalent here`, e)
			default:
				b.WriteByte('\\')
				b.WriteByte(e)
			}
			continue
		case c == '[' && !inClass:
			inClass = true
			b.WriteByte(c)
			if i+1 < len(pattern) && pattern[i+1] == '^' {
				b.WriteByte('^')
				i++
			}
			if i+1 < len(pattern) && pattern[i+1] == ']' { // a literal ] first
				b.WriteString(`\]`)
				i++
			}
			continue
		case c == ']' && inClass:
			inClass = false
		}
		b.WriteByte(c)
	}
	return regexp.Compile(b.String())
}

// Character classes of the GPT-2 family regexes, with an ASCII fast path.
// Bytes that are not valid UTF-8 decode to U+FFFD, a symbol: they fall in
// the "other" class, as the replacement character would.

func isLetter(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
	}
	return unicode.IsLetter(r)
}

func isNumber(r rune) bool {
	if r < utf8.RuneSelf {
		return '0' <= r && r <= '9'
	}
	return unicode.IsNumber(r)
}

// isSpace is Unicode White_Space, Oniguruma's \s.
func isSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return r == ' ' || '\t' <= r && r <= '\r'
	}
	return unicode.IsSpace(r)
}

func isNewline(r rune) bool { return r == '\r' || r == '\n' }

// next decodes the character at s[i:], or returns (-1, 0) at the end.
func next(s string, i int) (rune, int) {
	if i >= len(s) {
		return -1, 0
	}
	if c := s[i]; c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// run returns the end of the run of characters satisfying class from i.
func run(s string, i int, class func(rune) bool) int {
	for {
		r, w := next(s, i)
		if w == 0 || !class(r) {
			return i
		}
		i += w
	}
}

// contraction returns the length of an English contraction ('s, 't, 're,
// 've, 'm, 'll, 'd) at the start of s, which begins with the apostrophe.
// foldCase is (?i), which in Hugging Face's regex engine folds ASCII only
// here: "'ſ" (long s) is no contraction, as checked against tokenizers.
func contraction(s string, foldCase bool) int {
	if len(s) < 2 || s[0] != '\'' {
		return 0
	}
	fold := func(c byte) byte {
		if foldCase && 'A' <= c && c <= 'Z' {
			return c + 'a' - 'A'
		}
		return c
	}
	switch fold(s[1]) {
	case 's', 't', 'm', 'd':
		return 2
	case 'r', 'v':
		if len(s) > 2 && fold(s[2]) == 'e' {
			return 3
		}
	case 'l':
		if len(s) > 2 && fold(s[2]) == 'l' {
			return 3
		}
	}
	return 0
}

// splitGPT2 matches regexGPT2:
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// Some alternative matches at every position, so the words are consecutive
// matches.
func splitGPT2(s string, emit func(string)) {
	for i := 0; i < len(s); {
		end := matchGPT2(s, i)
		emit(s[i:end])
		i = end
	}
}

func matchGPT2(s string, i int) int {
	if n := contraction(s[i:], false); n > 0 {
		return i + n
	}
	j := i
	if s[i] == ' ' {
		j++
	}
	if r, w := next(s, j); w > 0 {
		switch {
		case isLetter(r):
			return run(s, j+w, isLetter)
		case isNumber(r):
			return run(s, j+w, isNumber)
		case !isSpace(r):
			return run(s, j+w, isOther)
		}
	}
	return matchSpaces(s, i)
}

// isOther is [^\s\p{L}\p{N}].
func isOther(r rune) bool { return !isSpace(r) && !isLetter(r) && !isNumber(r) }

// matchSpaces matches \s+(?!\S)|\s+ at i, where a whitespace run starts:
// the run, less its last character when a non-space follows and the run is
// longer than one.
func matchSpaces(s string, i int) int {
	end := run(s, i, isSpace)
	if end == len(s) {
		return end
	}
	_, w := utf8.DecodeLastRuneInString(s[i:end])
	if end-w > i {
		return end - w
	}
	return end
}

// splitGPT4 matches the regex of Llama 3 (digits = 3) and Qwen2 (digits =
// 1), written for GPT-4's cl100k:
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,digits}|
//	 ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// As with GPT-2, some alternative matches at every position.
func splitGPT4(digits int) preTokenizer {
	return func(s string, emit func(string)) {
		for i := 0; i < len(s); {
			end := matchGPT4(s, i, digits)
			emit(s[i:end])
			i = end
		}
	}
}

func matchGPT4(s string, i, digits int) int {
	if n := contraction(s[i:], true); n > 0 {
		return i + n
	}
	r, w := next(s, i)
	// [^\r\n\p{L}\p{N}]?\p{L}+
	if isLetter(r) {
		return run(s, i+w, isLetter)
	}
	if !isNewline(r) && !isNumber(r) {
		if r2, w2 := next(s, i+w); w2 > 0 && isLetter(r2) {
			return run(s, i+w+w2, isLetter)
		}
	}
	// \p{N}{1,digits}
	if isNumber(r) {
		end := i + w
		for n := 1; n < digits; n++ {
			r, w := next(s, end)
			if w == 0 || !isNumber(r) {
				break
			}
			end += w
		}
		return end
	}
	// ` ?[^\s\p{L}\p{N}]+[\r\n]*`
	j := i
	if r == ' ' {
		j++
	}
	if end := run(s, j, isOther); end > j {
		return run(s, end, isNewline)
	}
	// \s*[\r\n]+ ends after the last newline of the whitespace run.
	end, lastNewline := i, -1
	for {
		r, w := next(s, end)
		if w == 0 || !isSpace(r) {
			break
		}
		end += w
		if isNewline(r) {
			lastNewline = end
		}
	}
	if lastNewline >= 0 {
		return lastNewline
	}
	return matchSpaces(s, i)
}
