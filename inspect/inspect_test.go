package inspect

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/aha-inference/aha/gguf"
	"github.com/aha-inference/aha/internal/shared"
)

// TestInspectParameters: both forms of each tiny model report the
// parameter count its SOURCE.md gives (the llama GGUF also holds the 16
// rope factors) and the same tokenizer.
func TestInspectParameters(t *testing.T) {
	for _, tc := range []struct {
		hf, gguf    string
		params      uint64
		ggufExtra   uint64
		hfTensors   int
		ggufTensors int
	}{
		{"qwen2-tiny/hf", "qwen2-tiny/qwen2-tiny-f16.gguf", 9_798_208, 0, 26, 26},
		{"qwen3-tiny/hf", "qwen3-tiny/qwen3-tiny-bf16.gguf", 9_872_192, 0, 24, 24},
		{"llama3-tiny/hf", "llama3-tiny/llama3-tiny-f16.gguf", 8_282_432, 16, 20, 21},
	} {
		hf, err := Inspect(shared.Path(t, "models/"+tc.hf))
		if err != nil {
			t.Fatal(err)
		}
		gg, err := Inspect(shared.Path(t, "models/"+tc.gguf))
		if err != nil {
			t.Fatal(err)
		}
		if hf.Totals.Parameters != tc.params || gg.Totals.Parameters != tc.params+tc.ggufExtra {
			t.Errorf("%s: %d and %d parameters, want %d (+%d)", tc.hf, hf.Totals.Parameters, gg.Totals.Parameters, tc.params, tc.ggufExtra)
		}
		if hf.Totals.Tensors != tc.hfTensors || gg.Totals.Tensors != tc.ggufTensors {
			t.Errorf("%s: %d and %d tensors", tc.hf, hf.Totals.Tensors, gg.Totals.Tensors)
		}
		if hf.Tokenizer.Model != "gpt2" || hf.Tokenizer.Tokens != gg.Tokenizer.Tokens || hf.Tokenizer.Merges != gg.Tokenizer.Merges ||
			*hf.Tokenizer.EOS != *gg.Tokenizer.EOS || !hf.Tokenizer.ChatTemplate {
			t.Errorf("%s: tokenizer %+v, the GGUF's %+v", tc.hf, hf.Tokenizer, gg.Tokenizer)
		}
	}
}

// TestInspectWithoutConfig: a GGUF aha cannot load is still described.
func TestInspectWithoutConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.gguf")
	w := &gguf.Writer{}
	w.Set("general.architecture", "mamba")
	w.Set("tokenizer.ggml.model", "gpt2")
	w.Set("tokenizer.ggml.tokens", []string{"a", "b", "c"})
	if err := w.AddTensor("x", 0, []uint64{4}, func() ([]byte, error) { return make([]byte, 16), nil }); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	s, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Config != nil || !strings.Contains(s.ConfigError, `"mamba"`) || s.Architecture != "mamba" {
		t.Errorf("config %v, error %q", s.Config, s.ConfigError)
	}
	if s.Tokenizer.Tokens != 3 || s.Totals.Tensors != 1 || s.Totals.Bytes != 16 {
		t.Errorf("tokenizer %+v, totals %+v", s.Tokenizer, s.Totals)
	}
	if _, err := Inspect(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("a missing path gave no error")
	}
}
