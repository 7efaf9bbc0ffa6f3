package tokenizer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzRoundTrip feeds arbitrary bytes to a byte-level vocabulary with no
// normalizer (Llama 3), one with NFC (Qwen2.5) and a SentencePiece one
// (stories260K), checking
// that nothing panics, every id is in range, decoding gives the text back
// (byte-level: exactly, with invalid UTF-8 replaced as Decode documents;
// SentencePiece: for valid UTF-8 holding no "▁" and no added token; Qwen:
// not checked, NFC changes text), and streaming agrees with Decode.
func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"", " ", "Hello, world!", "  multiple   spaces\t\n", "'s 'RE 123456",
		"日本語 🦙 é", "<|eot_id|>x<s>", "\xff\xfe\xe2\x82", "a\u0301\u200d"} {
		f.Add(s)
	}
	bpe := load(f, "testdata/tokenizers/llama3")
	spm := load(f, "models/stories260K/stories260K.gguf")
	nfc := load(f, "testdata/tokenizers/qwen2.5")
	f.Fuzz(func(t *testing.T, s string) {
		for _, tok := range []*Tokenizer{bpe, spm, nfc} {
			ids := tok.Encode(s, false)
			for _, id := range ids {
				if id < 0 || id >= tok.VocabSize() {
					t.Fatalf("Encode(%q) gave id %d of %d", s, id, tok.VocabSize())
				}
			}
			text := tok.Decode(ids, false)
			stream := tok.NewStream(nil, false)
			var b strings.Builder
			for _, id := range ids {
				b.WriteString(stream.Add(id))
			}
			b.WriteString(stream.Flush())
			if tok != spm && b.String() != text {
				t.Errorf("stream gave %q, Decode %q", b.String(), text)
			}
			want, check := string(appendLossy(nil, []byte(s))), tok == bpe
			if tok == spm {
				check = utf8.ValidString(s) && !strings.Contains(s, "▁") && !strings.Contains(s, "<s>") &&
					!strings.Contains(s, "</s>") && !strings.Contains(s, "<unk>")
			}
			if check && text != want {
				t.Errorf("Decode(Encode(%q)) = %q", s, text)
			}
		}
		// Decoding arbitrary ids, in and out of range, must not panic.
		var ids []int
		for i := 0; i+1 < len(s); i += 2 {
			ids = append(ids, int(s[i])<<9|int(s[i+1])<<1-1000)
		}
		bpe.Decode(ids, false)
		spm.Decode(ids, false)
	})
}
