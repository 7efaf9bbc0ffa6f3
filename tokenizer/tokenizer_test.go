package tokenizer

import (
	"encoding/json"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/aha-inference/aha/internal/shared"
)

// load returns the tokenizer at a path inside the shared folder, loading
// each one once for the whole test binary.
func load(tb testing.TB, rel string) *Tokenizer {
	tb.Helper()
	path := shared.Path(tb, rel)
	loaded.Lock()
	defer loaded.Unlock()
	if t, ok := loaded.m[path]; ok {
		return t
	}
	t, err := Load(path)
	if err != nil {
		tb.Fatal(err)
	}
	loaded.m[path] = t
	return t
}

var loaded = struct {
	sync.Mutex
	m map[string]*Tokenizer
}{m: map[string]*Tokenizer{}}

// vectors reads llama.cpp's test vectors: inputs separated by
// "\n__ggml_vocab_test__\n" and one line of expected ids per input.
func vectors(tb testing.TB, name string) (inputs []string, want [][]int) {
	tb.Helper()
	inp, err := os.ReadFile(shared.Path(tb, "testdata/vocab/"+name+".inp"))
	if err != nil {
		tb.Fatal(err)
	}
	out, err := os.ReadFile(shared.Path(tb, "testdata/vocab/"+name+".out"))
	if err != nil {
		tb.Fatal(err)
	}
	inputs = strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	inputs = inputs[:len(inputs)-1] // the file ends with a separator
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(inputs) {
		tb.Fatalf("%s: %d inputs, %d outputs", name, len(inputs), len(lines))
	}
	for _, line := range lines {
		var ids []int
		for _, f := range strings.Fields(line) {
			id, err := strconv.Atoi(f)
			if err != nil {
				tb.Fatal(err)
			}
			ids = append(ids, id)
		}
		want = append(want, ids)
	}
	return inputs, want
}

var vectorCases = []struct {
	name, tokenizer, vectors string
	// spm marks SentencePiece vocabularies, whose decode drops the
	// leading space of the text (the one the encoder adds is not told
	// apart from one the text had).
	spm bool
}{
	{"qwen2", "testdata/vocab/ggml-vocab-qwen2.gguf", "ggml-vocab-qwen2.gguf", false},
	{"deepseek-r1-qwen", "testdata/vocab/ggml-vocab-qwen2.gguf", "ggml-vocab-deepseek-r1-qwen.gguf", false},
	{"llama-bpe", "testdata/vocab/ggml-vocab-llama-bpe.gguf", "ggml-vocab-llama-bpe.gguf", false},
	{"llama-spm", "testdata/vocab/ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-spm.gguf", true},
	{"deepseek-llm", "testdata/vocab/ggml-vocab-deepseek-llm.gguf", "ggml-vocab-deepseek-llm.gguf", false},
	{"qwen2.5 json", "testdata/tokenizers/qwen2.5", "ggml-vocab-qwen2.gguf", false},
	{"qwen2.5 json r1", "testdata/tokenizers/qwen2.5", "ggml-vocab-deepseek-r1-qwen.gguf", false},
	{"qwen3 json", "testdata/tokenizers/qwen3", "ggml-vocab-qwen2.gguf", false},
	{"qwen3 json r1", "testdata/tokenizers/qwen3", "ggml-vocab-deepseek-r1-qwen.gguf", false},
	{"llama3 json", "testdata/tokenizers/llama3", "ggml-vocab-llama-bpe.gguf", false},
	{"llama3.2 json", "testdata/tokenizers/llama3.2", "ggml-vocab-llama-bpe.gguf", false},
}

// TestVectors checks every llama.cpp test vector (Hugging Face's ids for
// encode(text, add_special_tokens=False)) and that decoding gives the text
// back.
func TestVectors(t *testing.T) {
	for _, c := range vectorCases {
		t.Run(c.name, func(t *testing.T) {
			tok := load(t, c.tokenizer)
			inputs, want := vectors(t, c.vectors)
			for i, text := range inputs {
				got := tok.Encode(text, false)
				if !slices.Equal(got, want[i]) {
					t.Errorf("Encode(%q)\n got %v\nwant %v", text, got, want[i])
					continue
				}
				back := tok.Decode(got, false)
				if back != text {
					t.Errorf("Decode(Encode(%q)) = %q", text, back)
				}
			}
		})
	}
}

// TestReferencePrompts checks the prompts of the shared model references,
// tokenized by llama.cpp from the GGUF, against both the GGUF and the HF
// folder of each model.
func TestReferencePrompts(t *testing.T) {
	for _, c := range []struct {
		tokenizers []string
		text       string
		addSpecial bool
		want       []int
	}{
		{[]string{"models/stories260K/stories260K.gguf"}, "Once upon a time", true, []int{1, 403, 407, 261, 378}},
		{[]string{"models/qwen3-tiny/qwen3-tiny-bf16.gguf", "models/qwen3-tiny/hf"}, "The capital of France is", true,
			[]int{785, 6722, 315, 9625, 374}},
		{[]string{"models/qwen2-tiny/qwen2-tiny-f16.gguf", "models/qwen2-tiny/hf"}, "The capital of France is", true,
			[]int{785, 6722, 315, 9625, 374}},
		{[]string{"models/llama3-tiny/llama3-tiny-f16.gguf", "models/llama3-tiny/hf"}, "The capital of France is", true,
			[]int{128000, 791, 6864, 315, 9822, 374}},
		{[]string{"models/qwen3-tiny/qwen3-tiny-bf16.gguf", "models/qwen3-tiny/hf"},
			"<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n", false,
			[]int{151644, 872, 198, 3838, 374, 220, 17, 10, 17, 30, 151645, 198, 151644, 77091, 198}},
		{[]string{"models/llama3-tiny/llama3-tiny-f16.gguf", "models/llama3-tiny/hf"},
			"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n", false,
			[]int{128000, 128006, 9125, 128007, 271, 38766, 1303, 33025, 2696, 25, 6790, 220, 2366, 18, 198, 15724, 2696, 25, 220, 1627, 10263, 220, 2366, 19, 271, 128009, 128006, 882, 128007, 271, 3923, 374, 220, 17, 10, 17, 30, 128009, 128006, 78191, 128007, 271}},
	} {
		for _, path := range c.tokenizers {
			tok := load(t, path)
			if got := tok.Encode(c.text, c.addSpecial); !slices.Equal(got, c.want) {
				t.Errorf("%s: Encode(%q, %v)\n got %v\nwant %v", path, c.text, c.addSpecial, got, c.want)
			}
		}
	}
}

func TestStream(t *testing.T) {
	for _, path := range []string{"testdata/tokenizers/qwen3", "testdata/vocab/ggml-vocab-llama-bpe.gguf",
		"testdata/vocab/ggml-vocab-llama-spm.gguf"} {
		tok := load(t, path)
		// Emoji and CJK split over several byte tokens.
		text := "Hi 🦙 and 🚀🚀, 日本語のテキスト, Äpfel ✅!"
		ids := tok.Encode(text, false)
		s := tok.NewStream(nil, false)
		var b strings.Builder
		split := false
		for _, id := range ids {
			out := s.Add(id)
			if !utf8.ValidString(out) {
				t.Fatalf("%s: Add(%d) = %q, not valid UTF-8", path, id, out)
			}
			split = split || !utf8.ValidString(tok.Piece(id))
			b.WriteString(out)
		}
		b.WriteString(s.Flush())
		if got, want := b.String(), tok.Decode(ids, false); got != want {
			t.Errorf("%s: stream gave %q, Decode %q", path, got, want)
		}
		if !split {
			t.Errorf("%s: no token of %q holds part of a character; the test checks nothing", path, text)
		}
	}
}

// TestStreamAfterPrompt checks the rule completions are decoded by: the
// text a stream started after a prompt returns is what its ids add to the
// prompt's text, at every split of a text into prompt and completion. On
// SentencePiece vocabularies the completion keeps its leading space.
func TestStreamAfterPrompt(t *testing.T) {
	for _, path := range []string{"testdata/tokenizers/qwen3", "testdata/vocab/ggml-vocab-llama-bpe.gguf",
		"testdata/vocab/ggml-vocab-llama-spm.gguf", "models/stories260K/stories260K.gguf"} {
		tok := load(t, path)
		for _, skip := range []bool{false, true} {
			text := "Answer: Daddy, 日本語 🦙 and\n  more."
			ids := tok.Encode(text, true)
			spaces := 0
			for k := 0; k <= len(ids); k++ {
				prompt, completion := ids[:k], ids[k:]
				head := tok.Decode(prompt, skip)
				if strings.ContainsRune(head, utf8.RuneError) {
					continue // the prompt ends inside a character (see NewStream)
				}
				s := tok.NewStream(prompt, skip)
				var b strings.Builder
				for _, id := range completion {
					b.WriteString(s.Add(id))
				}
				b.WriteString(s.Flush())
				if got, want := head+b.String(), tok.Decode(ids, skip); got != want {
					t.Fatalf("%s (skip special %v): prompt %v decodes %q, completion %v streams %q: joined %q, want %q",
						path, skip, prompt, head, completion, b.String(), got, want)
				}
				if head != "" && strings.HasPrefix(b.String(), " ") {
					spaces++
				}
			}
			if spaces == 0 {
				t.Errorf("%s: no completion started with a space; the test checks nothing", path)
			}
		}
	}
}

// TestHFCases checks strings mixing scripts, odd whitespace, contractions,
// NFC-sensitive characters and added tokens (with lstrip, rstrip,
// single_word and normalized flags in testdata/flags) against Hugging Face
// tokenizers' own output, recorded by testdata/gen_hf_cases.js.
func TestHFCases(t *testing.T) {
	data, err := os.ReadFile("testdata/hf_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var all map[string][]struct {
		Text             string
		IDs              []int
		WithSpecial      []int `json:"with_special"`
		Decoded, Skipped string
	}
	if err := json.Unmarshal(data, &all); err != nil {
		t.Fatal(err)
	}
	for name, cases := range all {
		var tok *Tokenizer
		if rel, ok := strings.CutPrefix(name, "shared:"); ok {
			tok = load(t, rel)
		} else if tok, err = FromHF("testdata/" + strings.TrimPrefix(name, "local:")); err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			if got := tok.Encode(c.Text, false); !slices.Equal(got, c.IDs) {
				t.Errorf("%s: Encode(%q, false)\n got %v\nwant %v", name, c.Text, got, c.IDs)
			}
			if got := tok.Encode(c.Text, true); !slices.Equal(got, c.WithSpecial) {
				t.Errorf("%s: Encode(%q, true)\n got %v\nwant %v", name, c.Text, got, c.WithSpecial)
			}
			if got := tok.Decode(c.IDs, false); got != c.Decoded {
				t.Errorf("%s: Decode(%v, false) = %q, want %q", name, c.IDs, got, c.Decoded)
			}
			if got := tok.Decode(c.WithSpecial, true); got != c.Skipped {
				t.Errorf("%s: Decode(%v, true) = %q, want %q", name, c.WithSpecial, got, c.Skipped)
			}
		}
	}
}

func TestSkipSpecial(t *testing.T) {
	for _, c := range []struct {
		path, text, all, skipped string
	}{
		{"testdata/tokenizers/qwen3", "<|im_start|>user\nHi<|im_end|>\n<think>", "<|im_start|>user\nHi<|im_end|>\n<think>", "user\nHi\n<think>"},
		{"testdata/vocab/ggml-vocab-llama-bpe.gguf", "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", "user\n\nHi"},
		// Hugging Face's Llama 2 tokenizer puts a "▁" before every text
		// segment, also after a special token, and decodes it as a space.
		{"testdata/vocab/ggml-vocab-llama-spm.gguf", "Hi</s> there", "<s> Hi</s>  there", "Hi  there"},
	} {
		tok := load(t, c.path)
		ids := tok.Encode(c.text, true)
		if got := tok.Decode(ids, false); got != c.all {
			t.Errorf("%s: Decode(%v, false) = %q, want %q", c.path, ids, got, c.all)
		}
		if got := tok.Decode(ids, true); got != c.skipped {
			t.Errorf("%s: Decode(%v, true) = %q, want %q", c.path, ids, got, c.skipped)
		}
		s := tok.NewStream(nil, true)
		var b strings.Builder
		for _, id := range ids {
			b.WriteString(s.Add(id))
		}
		if b.WriteString(s.Flush()); b.String() != c.skipped {
			t.Errorf("%s: skipping stream gave %q, want %q", c.path, b.String(), c.skipped)
		}
	}
}

func TestDecodeOutOfRange(t *testing.T) {
	tok := load(t, "testdata/tokenizers/qwen2.5")
	hello := tok.Encode("Hello", false)
	ids := append([]int{-1, 1 << 30}, append(hello, tok.VocabSize())...)
	if got := tok.Decode(ids, false); got != "Hello" {
		t.Errorf("Decode(%v) = %q, want the out-of-range ids skipped", ids, got)
	}
	if tok.Piece(-5) != "" || tok.Token(tok.VocabSize()) != "" || tok.Type(-1) != Unused || tok.IsSpecial(1<<40) {
		t.Error("accessors accept out-of-range ids")
	}
}

// TestLossy compares the replacement of invalid UTF-8 with what
// Rust's from_utf8_lossy (and the WHATWG decoder) give: one U+FFFD per
// maximal invalid subsequence.
func TestLossy(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"\xe2\x82", "\ufffd"},
		{"\xe2\x82A", "\ufffdA"},
		{"\xff\xff", "\ufffd\ufffd"},
		{"\xf0\x9f\x98", "\ufffd"},
		{"\xed\xa0\x80", "\ufffd\ufffd\ufffd"},
		{"\xc0\xaf", "\ufffd\ufffd"},
		{"\xf4\x90\x80\x80", "\ufffd\ufffd\ufffd\ufffd"},
		{"\xe0\x80\x80A", "\ufffd\ufffd\ufffdA"},
		{"a\xe2", "a\ufffd"},
		{"\xf0\x9f\x98\xc3\xa9", "\ufffdé"},
		{"ok 🦙", "ok 🦙"},
	} {
		if got := string(appendLossy(nil, []byte(c.in))); got != c.want {
			t.Errorf("appendLossy(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct {
		in   string
		want int
	}{{"a\xe2\x82", 2}, {"a\xf0\x9f", 2}, {"a\xf0\x9f\x98\x80", 0}, {"a\xc0", 0}, {"a\xe2\x82A", 0}, {"\xed\xa0", 0}} {
		if got := incompleteTail([]byte(c.in)); got != c.want {
			t.Errorf("incompleteTail(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestAccessors(t *testing.T) {
	for _, c := range []struct {
		path             string
		vocab, bos, eos  int
		stop             []int
		addBOS           bool
		bosText, eosText string
		template         bool
	}{
		{"models/qwen3-tiny/hf", 151669, -1, 151645, []int{151645, 151643}, false, "", "<|im_end|>", true},
		{"models/qwen3-tiny/qwen3-tiny-bf16.gguf", 151936, 151643, 151645, []int{151645, 151643}, false, "<|endoftext|>", "<|im_end|>", true},
		{"models/llama3-tiny/hf", 128256, 128000, 128009, []int{128009, 128001, 128008}, true, "<|begin_of_text|>", "<|eot_id|>", true},
		{"models/llama3-tiny/llama3-tiny-f16.gguf", 128256, 128000, 128009, []int{128009, 128001, 128008}, true, "<|begin_of_text|>", "<|eot_id|>", true},
		{"models/stories260K/stories260K.gguf", 512, 1, 2, []int{2}, true, "<s>", "</s>", false},
	} {
		tok := load(t, c.path)
		got := []any{tok.VocabSize(), tok.BOS(), tok.EOS(), tok.AddBOS(), tok.BOSToken(), tok.EOSToken(), tok.ChatTemplate() != ""}
		want := []any{c.vocab, c.bos, c.eos, c.addBOS, c.bosText, c.eosText, c.template}
		if !slices.Equal(got, want) {
			t.Errorf("%s: vocab, bos, eos, addBOS, bos text, eos text, template = %v, want %v", c.path, got, want)
		}
		stop := slices.Sorted(slices.Values(tok.StopTokens()))
		if !slices.Equal(stop, slices.Sorted(slices.Values(c.stop))) {
			t.Errorf("%s: StopTokens() = %v, want %v", c.path, tok.StopTokens(), c.stop)
		}
		if c.eos >= 0 && (!tok.IsStop(c.eos) || !tok.IsSpecial(c.eos) || tok.ID(tok.Token(c.eos)) != c.eos) {
			t.Errorf("%s: EOS %d is not a special stop token found by its text", c.path, c.eos)
		}
	}
}

// TestReferenceGenerations decodes the continuations llama.cpp generated
// for the shared models and compares with the text it reported: an
// independent decoder, which agrees with Hugging Face's for these tokens.
// llama-server leaves control tokens out of its text (one llama3-tiny
// continuation holds <|reserved_special_token_107|>), hence skipSpecial.
func TestReferenceGenerations(t *testing.T) {
	for _, c := range []struct{ reference, tokenizer string }{
		{"models/stories260K/reference-stories260K.json", "models/stories260K/stories260K.gguf"},
		{"models/qwen2-tiny/reference-qwen2-tiny-f16.json", "models/qwen2-tiny/hf"},
		{"models/qwen3-tiny/reference-qwen3-tiny-bf16.json", "models/qwen3-tiny/qwen3-tiny-bf16.gguf"},
		{"models/llama3-tiny/reference-llama3-tiny-f16.json", "models/llama3-tiny/hf"},
	} {
		data, err := os.ReadFile(shared.Path(t, c.reference))
		if err != nil {
			t.Fatal(err)
		}
		var ref struct {
			Prompts []struct {
				Name          string
				GeneratedIDs  []int  `json:"generated_token_ids"`
				GeneratedText string `json:"generated_text"`
			}
		}
		if err := json.Unmarshal(data, &ref); err != nil {
			t.Fatal(err)
		}
		tok := load(t, c.tokenizer)
		for _, p := range ref.Prompts {
			if got := tok.Decode(p.GeneratedIDs, true); got != p.GeneratedText {
				t.Errorf("%s %s: Decode = %q, want %q", c.reference, p.Name, got, p.GeneratedText)
			}
		}
	}
}

// TestConcurrentEncode encodes from several goroutines at once (run with
// -race): each pooled encoder and its word cache serve one call at a time.
func TestConcurrentEncode(t *testing.T) {
	tok := load(t, "testdata/tokenizers/qwen2.5")
	texts := []string{"Hello world, hello again.", "日本語のテキスト 🦙", "x := 1234567 // code", "<|im_start|>user\nHi<|im_end|>"}
	want := make([][]int, len(texts))
	for i, s := range texts {
		want[i] = tok.Encode(s, false)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				k := (g + i) % len(texts)
				if got := tok.Encode(texts[k], false); !slices.Equal(got, want[k]) {
					t.Errorf("concurrent Encode(%q) = %v, want %v", texts[k], got, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestTokenText checks single tokens' text: Hugging Face's decode([id])
// for byte-level vocabularies, the piece with its leading space for
// SentencePiece ones, and one U+FFFD for a token holding the start of a
// character (not one per byte).
func TestTokenText(t *testing.T) {
	for _, path := range []string{"testdata/tokenizers/qwen3", "testdata/vocab/ggml-vocab-llama-spm.gguf"} {
		tok := load(t, path)
		partial := 0
		for id := range tok.VocabSize() {
			got, piece := tok.TokenText(id), tok.Piece(id)
			if !utf8.ValidString(got) {
				t.Fatalf("%s: TokenText(%d) = %q, not valid UTF-8", path, id, got)
			}
			if tok.kind == byteLevel {
				if want := tok.Decode([]int{id}, false); got != want {
					t.Errorf("%s: TokenText(%d) = %q, Decode %q", path, id, got, want)
				}
			} else if utf8.ValidString(piece) && got != piece {
				t.Errorf("%s: TokenText(%d) = %q, want the piece %q", path, id, got, piece)
			}
			if len(piece) >= 2 && !utf8.FullRuneInString(piece) {
				partial++
				if got != "\uFFFD" {
					t.Errorf("%s: TokenText(%d) of the partial character %q = %q, want one U+FFFD", path, id, piece, got)
				}
			}
		}
		if tok.kind == byteLevel && partial == 0 {
			t.Errorf("%s: no token holds the start of a character; the test checks nothing", path)
		}
	}
	spm := load(t, "testdata/vocab/ggml-vocab-llama-spm.gguf")
	if id := spm.ID("▁the"); id < 0 || spm.TokenText(id) != " the" {
		t.Errorf("SentencePiece ▁the: id %d, text %q, want \" the\"", id, spm.TokenText(id))
	}
}
