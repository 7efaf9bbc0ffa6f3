package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aha-inference/aha/gguf"
)

// TestLoadErrors checks that bad or unsupported files fail with an error
// naming the file and the problem.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	writeGGUF := func(name string, kv map[string]any) string {
		var w gguf.Writer
		for k, v := range kv {
			w.Set(k, v)
		}
		p := filepath.Join(dir, name)
		if err := w.WriteFile(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("unigram/tokenizer.json", `{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}`)
	write("corrupt/tokenizer.json", `{"model": {"type": "BPE", "vocab": {`)
	write("wordpiece/tokenizer.json", `{"model": {"type": "WordPiece", "vocab": {"a": 0}}}`)
	write("badconfig/tokenizer.json", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
		"pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"}}`)
	write("badconfig/tokenizer_config.json", `{"eos_token": 5`)
	write("badmerge/tokenizer.json", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]},
		"pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"}}`)
	write("lookaround/tokenizer.json", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
		"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
			{"type": "Split", "pattern": {"Regex": "a(?=b)"}, "behavior": "Isolated", "invert": false},
			{"type": "ByteLevel", "use_regex": false}]},
		"decoder": {"type": "ByteLevel"}}`)
	write("metaspace/tokenizer.json", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
		"pre_tokenizer": {"type": "Metaspace"}, "decoder": {"type": "Metaspace"}}`)
	write("notgguf.gguf", "this is not a GGUF file")

	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "no such file"},
		{filepath.Join(dir, "unigram"), "unsupported tokenizer model Unigram"},
		{filepath.Join(dir, "wordpiece"), "unsupported tokenizer model WordPiece"},
		{filepath.Join(dir, "corrupt"), "corrupt/tokenizer.json: unexpected end of JSON input"},
		{filepath.Join(dir, "badconfig"), "badconfig/tokenizer_config.json"},
		{filepath.Join(dir, "badmerge"), `merge 0 ("a" "b") names a token not in the vocabulary`},
		{filepath.Join(dir, "lookaround"), `unsupported pre-tokenizer regex "a(?=b)"`},
		{filepath.Join(dir, "metaspace"), "unsupported pre-tokenizer Metaspace"},
		{filepath.Join(dir, "empty"), "tokenizer.json: no such file"},
		{filepath.Join(dir, "notgguf.gguf"), "notgguf.gguf"},
		{writeGGUF("bert.gguf", map[string]any{"tokenizer.ggml.model": "bert", "tokenizer.ggml.tokens": []string{"a"}}),
			`bert.gguf: tokenizer from GGUF: unsupported tokenizer model "bert"`},
		{writeGGUF("notokens.gguf", map[string]any{"tokenizer.ggml.model": "gpt2"}),
			`notokens.gguf: tokenizer from GGUF: metadata key "tokenizer.ggml.tokens" is missing`},
		{writeGGUF("nomerges.gguf", map[string]any{"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": []string{"a"}}),
			`"tokenizer.ggml.merges" is missing`},
		{writeGGUF("types.gguf", map[string]any{"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": []string{"a"},
			"tokenizer.ggml.token_type": []int32{1, 1}}), "2 token types for 1 tokens"},
		{writeGGUF("scores.gguf", map[string]any{"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": []string{"a"},
			"tokenizer.ggml.scores": []float32{}}), "0 token scores for 1 tokens"},
		{writeGGUF("pre.gguf", map[string]any{"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": []string{"a"},
			"tokenizer.ggml.merges": []string{}, "tokenizer.ggml.pre": "klingon"}), `unsupported pre-tokenizer "klingon"`},
	} {
		if err := os.MkdirAll(filepath.Join(dir, "empty"), 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := Load(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%s) error %v, want one containing %q", filepath.Base(c.path), err, c.want)
		}
	}
}

// TestMinimalGGUF builds a tokenizer from a GGUF holding only the required
// keys and checks the defaults: no BOS for gpt2 without a known pre-
// tokenizer, every byte encodable.
func TestMinimalGGUF(t *testing.T) {
	var tokens []string
	for b := range 256 {
		tokens = append(tokens, string(byteRune[b]))
	}
	tokens = append(tokens, "ab", "<|end|>")
	var w gguf.Writer
	w.Set("tokenizer.ggml.model", "gpt2")
	w.Set("tokenizer.ggml.tokens", tokens)
	w.Set("tokenizer.ggml.merges", []string{"a b"})
	types := make([]int32, 258)
	for i := range types {
		types[i] = int32(Normal)
	}
	types[257] = int32(Control)
	w.Set("tokenizer.ggml.token_type", types)
	path := filepath.Join(t.TempDir(), "min.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	tok, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode("xab<|end|>", true)
	if want := []int{'x', 256, 257}; !slices.Equal(ids, want) || tok.AddBOS() || tok.BOS() != -1 {
		t.Errorf("Encode = %v (AddBOS %v, BOS %d), want %v without BOS", ids, tok.AddBOS(), tok.BOS(), want)
	}
}

// TestHFConfig reads the optional files beside tokenizer.json in their
// other forms: a special token as an {"content": ...} object, named chat
// templates, add_bos_token/add_eos_token overriding the post-processor,
// and a list of EOS ids in generation_config.json.
func TestHFConfig(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile("testdata/flags/tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"tokenizer.json": string(data),
		"tokenizer_config.json": `{"bos_token": {"content": "<|s|>", "lstrip": false}, "eos_token": "<R>",
			"add_bos_token": false, "add_eos_token": true,
			"chat_template": [{"name": "tool_use", "template": "U"}, {"name": "default", "template": "T"}]}`,
		"generation_config.json": `{"eos_token_id": [265, 264]}`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := FromHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{tok.BOS(), tok.EOS(), tok.BOSToken(), tok.EOSToken(), tok.AddBOS(), tok.AddEOS(), tok.ChatTemplate()}
	want := []any{263, 265, "<|s|>", "<R>", false, true, "T"}
	if !slices.Equal(got, want) {
		t.Errorf("BOS, EOS, texts, AddBOS, AddEOS, template = %v, want %v", got, want)
	}
	if ids := tok.Encode("the", true); !slices.Equal(ids, []int{116, 257, 265}) {
		t.Errorf("Encode(the, true) = %v, want [116 257 265]", ids)
	}
	if !slices.Equal(tok.StopTokens(), []int{265, 264}) {
		t.Errorf("StopTokens() = %v, want [265 264]", tok.StopTokens())
	}
}
