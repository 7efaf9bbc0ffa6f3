package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/aha-inference/aha/internal/shared"
)

// TestQuantize converts the embedded model to Q8_0 and reads the result
// back: matrices Q8_0, except ffn_down, whose rows of 172 do not fill
// blocks of 32 (F16, and said so), and vectors F32.
func TestQuantize(t *testing.T) {
	out := filepath.Join(t.TempDir(), "q8.gguf")
	_, stderr, code := aha(t, "quantize", "stories260K", out, "--type", "q8_0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "blk.*.ffn_down.weight (5 tensors): rows of 172") || !strings.Contains(stderr, "writing F16") {
		t.Errorf("no fallback line on stderr:\n%s", stderr)
	}
	s := inspectJSON(t, out)
	if len(s.Tensors) != 48 || s.Config == nil || s.Config.Layers != 5 || s.Tokenizer.Tokens != 512 {
		t.Fatalf("%d tensors, config %+v, tokenizer %+v", len(s.Tensors), s.Config, s.Tokenizer)
	}
	for _, e := range s.Tensors {
		want := "Q8_0"
		switch {
		case len(e.Shape) == 1:
			want = "F32"
		case strings.HasSuffix(e.Name, "ffn_down.weight"):
			want = "F16"
		}
		if e.Type != want {
			t.Errorf("%s is %s, want %s", e.Name, e.Type, want)
		}
	}
	// The result runs.
	if _, stderr, code := aha(t, "generate", "-m", out, "-p", "Once upon a time", "--max-tokens", "4"); code != 0 {
		t.Errorf("generate with the Q8_0 file: exit %d: %s", code, stderr)
	}
}

func TestQuantizeErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.gguf")
	qwenVocab := shared.Path(t, "testdata/vocab/ggml-vocab-qwen2.gguf")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"quantize", "stories260K"}, 2, "need an input model and an output file"},
		{[]string{"quantize", "stories260K", out, "--type", "q8_k"}, 2, "supported: bf16, f16, f32"},
		{[]string{"quantize", "stories260K", out, "--type", "int3"}, 2, `--type "int3"`},
		{[]string{"quantize", "/no/such/model", out}, 1, "no such file"},
		{[]string{"quantize", "--synth", "qwen3-0.6b", out}, 2, "--synth needs --vocab"},
		{[]string{"quantize", "--synth", "qwen3-0.6b", "--vocab", qwenVocab, "a.gguf", out}, 2, "only the output file"},
		{[]string{"quantize", "--synth", "gpt-5", "--vocab", qwenVocab, out}, 1, "known: llama3.2-1b, qwen2.5-0.5b"},
		{[]string{"quantize", "--synth", "llama3.2-1b", "--vocab", qwenVocab, out}, 1, "151936 tokens, more than the model's 128256"},
		{[]string{"quantize", "--synth", "qwen3-0.6b", "--vocab", filepath.Join(dir, "none.gguf"), out}, 1, "no such file"},
	} {
		_, stderr, code := aha(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("aha %q: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}
