package tokenizer

import (
	"strings"
	"testing"

	"github.com/aha-inference/aha/internal/shared"
)

// benchText returns about 1 MB of mixed text: English prose, Go code, CJK,
// emoji and numbers, cycled so that the mix repeats but the words do not
// all come from one line.
func benchText() string {
	seeds := []string{
		"The quick brown fox jumps over the lazy dog. It's 12:45 and we've walked 3.5 km, haven't we?\n",
		"func (t *Tokenizer) Encode(text string, addSpecial bool) []int {\n\tfor i := 0; i < len(text); i++ {\n\t\tids = append(ids, int(text[i]))\n\t}\n}\n",
		"机器学习是人工智能的一个分支。東京は日本の首都です。한국어 텍스트도 있습니다.\n",
		"Emoji 🦙🚀 and flags 🇫🇷, skin tones 👍🏽, families 👨‍👩‍👧 ✅ done!\n",
		"Numbers: 3.14159 2.71828 1234567890 0xDEADBEEF 1e-9, prices $19.99 €5,00.\n",
		"    indented   text\twith\ttabs and  multiple   spaces\r\n",
		"Größe, Äpfel, naïve café, Привет мир, Ελληνικά, العربية.\n",
	}
	var b strings.Builder
	for i := 0; b.Len() < 1<<20; i++ {
		b.WriteString(seeds[i%len(seeds)])
		b.WriteString(strings.Repeat("x", i%7)) // vary word boundaries
		b.WriteByte(' ')
	}
	return b.String()
}

func BenchmarkEncode(b *testing.B) {
	text := benchText()
	for _, c := range []struct{ name, path string }{
		{"qwen2.5", "testdata/tokenizers/qwen2.5"},
		{"llama3", "testdata/tokenizers/llama3"},
		{"llama-spm", "testdata/vocab/ggml-vocab-llama-spm.gguf"},
	} {
		b.Run(c.name, func(b *testing.B) {
			tok := load(b, c.path)
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				tok.Encode(text, false)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	text := benchText()
	tok := load(b, "testdata/tokenizers/qwen2.5")
	ids := tok.Encode(text, false)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Decode(ids, false)
	}
}

func BenchmarkLoad(b *testing.B) {
	for _, c := range []struct{ name, path string }{
		{"llama3.2-json", "testdata/tokenizers/llama3.2"},
		{"llama-bpe-gguf", "testdata/vocab/ggml-vocab-llama-bpe.gguf"},
	} {
		b.Run(c.name, func(b *testing.B) {
			path := shared.Path(b, c.path)
			for b.Loop() {
				if _, err := Load(path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
