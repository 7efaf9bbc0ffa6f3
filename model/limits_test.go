package model_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/aha-inference/aha/convert"
	"github.com/aha-inference/aha/inspect"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/quant"
)

// allocated is the number of bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHugeCounts: a file claiming far more than its tensors hold is
// refused by model.Load and Inspect alike before anything is sized by the claim,
// with an error naming the file, the field and the value. The claims stay
// within what a regression could allocate without harm (2^16 layers are
// about 150 MB of per-layer structures; 2^24, tested through the aha
// binary under a memory limit, would be 10 GB).
func TestHugeCounts(t *testing.T) {
	noEdit := func(ts []stTensor) []stTensor { return ts }
	for _, tc := range []struct {
		name  string
		setup func(dir string) string
		want  []string
	}{
		{"GGUF claiming 2^16 layers", func(dir string) string {
			p := filepath.Join(dir, "x.gguf")
			c := tinyConfig()
			ts := convert.SyntheticTensors(&c, 1)
			c.Layers = 1 << 16
			if err := convert.WriteGGUF(p, &c, "tiny", nil, ts, convert.Options{Type: quant.F32}); err != nil {
				t.Fatal(err)
			}
			return p
		}, []string{"x.gguf", "qwen2.block_count is 65536", "tensor blk.65535.attn_norm.weight is missing"}},
		{"HF folder claiming 2^16 layers", func(dir string) string {
			writeHFFolder(t, dir, func(c map[string]any) { c["num_hidden_layers"] = 1 << 16 }, noEdit)
			return dir
		}, []string{"config.json num_hidden_layers is 65536", "tensor model.layers.65535.input_layernorm.weight is missing"}},
		{"HF folder claiming a vocabulary of 2^21", func(dir string) string {
			// Inspect sizes the tokenizer's token list by the vocabulary.
			writeHFFolder(t, dir, func(c map[string]any) { c["vocab_size"] = 1 << 21 }, noEdit)
			tok := `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}}`
			if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(tok), 0o644); err != nil {
				t.Fatal(err)
			}
			return dir
		}, []string{"tensor model.embed_tokens.weight has shape 32×64", "want 2097152×64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.setup(t.TempDir())
			var m *model.Model
			var err error
			if alloc := allocated(func() { m, err = model.Load(path) }); alloc > 50<<20 {
				t.Errorf("Load allocated %d MB", alloc>>20)
			}
			if err == nil {
				m.Close()
				t.Fatal("Load: no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Load: error %q does not mention %q", err, w)
				}
			}
			// A GGUF's summary carries its config's error; an HF folder's
			// inspection fails.
			var s *inspect.Summary
			if alloc := allocated(func() { s, err = inspect.Inspect(path) }); alloc > 50<<20 {
				t.Errorf("Inspect allocated %d MB", alloc>>20)
			}
			msg := ""
			switch {
			case err != nil:
				msg = err.Error()
			case s.Config == nil:
				msg = s.Path + ": " + s.ConfigError
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("Inspect: error %q does not mention %q", msg, w)
				}
			}
		})
	}
}
