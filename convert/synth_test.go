package convert

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aha-inference/aha/gguf"
	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/quant"
)

// TestSyntheticShapes checks each shape's config against the parameter
// count its published checkpoint has, which depends on every size in it.
func TestSyntheticShapes(t *testing.T) {
	want := map[string]int{
		"qwen2.5-0.5b": 494_032_768,
		"qwen2.5-1.5b": 1_543_714_304,
		"qwen2.5-7b":   7_615_616_512,
		"qwen3-0.6b":   596_049_920,
		"qwen3-8b":     8_190_735_360,
		"llama3.2-1b":  1_235_814_400,
	}
	if got := SyntheticShapes(); len(got) != len(want) {
		t.Errorf("shapes %v, want those of %v", got, want)
	}
	for shape, params := range want {
		c, err := SyntheticConfig(shape)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", shape, err)
		}
		n := 0
		for _, w := range SyntheticTensors(&c, 1) {
			if w.Name != "rope_freqs.weight" {
				n += max(1, w.Rows) * max(w.Cols, len(w.Vec))
			}
		}
		if n != params {
			t.Errorf("%s: %d parameters, want %d", shape, n, params)
		}
	}
	if _, err := SyntheticConfig("gpt-5"); err == nil || !strings.Contains(err.Error(), "qwen3-8b") {
		t.Errorf("unknown shape: error %v should list the known ones", err)
	}
}

// smallConfig is a qwen3 shape with rows of 256, so that every K-quant
// applies, and stories260K's 512-token vocabulary.
func smallConfig() model.Config {
	return model.Config{Architecture: "qwen3", VocabSize: 512, Hidden: 256, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 64,
		Intermediate: 512, MaxPositions: 1024, TiedEmbeddings: true, QKNorm: true, NormEps: 1e-6, RopeTheta: 1e6,
		BOS: 1, EOS: []int{2}}
}

func builtinTokenizer(t *testing.T) []gguf.KV {
	m, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	return tokenizerKVs(m.GGUF)
}

// TestSyntheticWeights writes a small synthetic model twice with one seed
// and once with another, and checks that it loads with its config, is
// reproducible, and has the intended statistics.
func TestSyntheticWeights(t *testing.T) {
	c := smallConfig()
	tok := builtinTokenizer(t)
	dir := t.TempDir()
	write := func(name string, seed uint64) string {
		path := filepath.Join(dir, name)
		if err := WriteGGUF(path, &c, "small", tok, SyntheticTensors(&c, seed), Options{Type: quant.Q4_K}); err != nil {
			t.Fatal(err)
		}
		return path
	}
	a, b, other := write("a.gguf", 7), write("b.gguf", 7), write("c.gguf", 8)
	m, err := model.Load(a)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want := c
	want.Generation = model.GenerationConfig{}
	if !reflect.DeepEqual(m.Config, want) {
		t.Errorf("config\n %+v\nwant\n %+v", m.Config, want)
	}
	if m.Layers[0].Q.Type != quant.Q4_K || m.Embed.Type != quant.Q4_K {
		t.Errorf("weights are %v and %v, want Q4_K", m.Layers[0].Q.Type, m.Embed.Type)
	}
	same := func(p, q string) bool {
		x, err1 := os.ReadFile(p)
		y, err2 := os.ReadFile(q)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		return bytes.Equal(x, y)
	}
	if !same(a, b) {
		t.Error("two files written with the same seed differ")
	}
	if same(a, other) {
		t.Error("files written with different seeds are equal")
	}

	// Matrices ≈ N(0, 0.02), norms ≈ 1.
	row := make([]float32, c.Hidden)
	var sum, sq float64
	for r := range m.Embed.Rows {
		m.Embed.DequantizeRow(r, row)
		for _, v := range row {
			sum += float64(v)
			sq += float64(v) * float64(v)
		}
	}
	n := float64(m.Embed.Rows * m.Embed.Cols)
	if mean, std := sum/n, math.Sqrt(sq/n); math.Abs(mean) > 1e-3 || math.Abs(std-0.02) > 2e-3 {
		t.Errorf("embedding mean %g, std %g; want ≈ 0 and 0.02", mean, std)
	}
	for _, v := range m.Layers[1].AttnNorm {
		if math.Abs(float64(v)-1) > 0.2 {
			t.Fatalf("attn_norm holds %g, want ≈ 1", v)
		}
	}
	m.SetBackend(kernels.Reference{})
	s, err := m.NewState(8, quant.F32)
	if err != nil {
		t.Fatal(err)
	}
	logits, err := m.Forward(s, []int{1, 2, 3}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range logits {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			t.Fatalf("logit %g", v)
		}
	}
}

// TestSyntheticVocab checks where a synthetic model's tokenizer comes from
// and how its token list is fitted to the shape's vocabulary.
func TestSyntheticVocab(t *testing.T) {
	qwenVocab := shared.Path(t, "testdata/vocab/ggml-vocab-qwen2.gguf")
	qwenTokenizer := shared.Path(t, "testdata/tokenizers/qwen2.5")
	converted, err := gguf.Open(shared.Path(t, "models/qwen2-tiny/qwen2-tiny-f16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer converted.Close()
	wantTokens, _ := converted.Strings("tokenizer.ggml.tokens")

	value := func(kv []gguf.KV, key string) any {
		for _, e := range kv {
			if e.Key == key {
				if a, ok := e.Value.(gguf.Array); ok {
					return a.Values
				}
				return e.Value
			}
		}
		return nil
	}
	metadata := func(shape, vocab string) ([]gguf.KV, error) {
		c, err := SyntheticConfig(shape)
		if err != nil {
			t.Fatal(err)
		}
		return vocabMetadata(vocab, &c, synthShapes[shape].tokenIDs)
	}

	// A vocab GGUF of the shape's size is copied as it is.
	kv, err := metadata("qwen2.5-0.5b", qwenVocab)
	if err != nil {
		t.Fatal(err)
	}
	if tokens := value(kv, "tokenizer.ggml.tokens").([]string); len(tokens) != 151936 || value(kv, "tokenizer.ggml.pre") != "qwen2" {
		t.Errorf("%d tokens, pre %v", len(tokens), value(kv, "tokenizer.ggml.pre"))
	}
	// Qwen2.5-7B's embedding is larger than its tokenizer: padded.
	kv, err = metadata("qwen2.5-7b", qwenVocab)
	if err != nil {
		t.Fatal(err)
	}
	tokens := value(kv, "tokenizer.ggml.tokens").([]string)
	types := value(kv, "tokenizer.ggml.token_type").([]int32)
	if len(tokens) != 152064 || len(types) != 152064 || tokens[152063] != "[PAD152063]" || types[152063] != tokenUnused || tokens[100] != wantTokens[100] {
		t.Errorf("padded vocab: %d tokens, %d types, last %q type %d", len(tokens), len(types), tokens[len(tokens)-1], types[len(types)-1])
	}
	// A tokenizer folder is converted: the same tokens as the converter's.
	kv, err = metadata("qwen2.5-0.5b", qwenTokenizer)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(value(kv, "tokenizer.ggml.tokens"), wantTokens) || value(kv, "tokenizer.ggml.eos_token_id") != uint32(151645) {
		t.Error("tokens from the qwen2.5 tokenizer folder differ from the converter's")
	}
	// Too many tokens for the shape.
	for _, vocab := range []string{qwenVocab, qwenTokenizer, filepath.Join(qwenTokenizer, "tokenizer.json")} {
		if _, err := metadata("llama3.2-1b", vocab); err == nil || !strings.Contains(err.Error(), "128256") {
			t.Errorf("qwen vocab %s for llama3.2-1b: error %v, want one naming the vocab size", vocab, err)
		}
	}
	if _, err := metadata("qwen3-0.6b", filepath.Join(t.TempDir(), "missing.gguf")); err == nil {
		t.Error("a missing vocab file gave no error")
	}
}
