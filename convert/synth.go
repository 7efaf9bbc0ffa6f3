package convert

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"

	"github.com/aha-inference/aha/gguf"
	"github.com/aha-inference/aha/model"
)

// Synthetic models have the exact shape of a real checkpoint — its config,
// tokenizer and tensor table — and random weights. Inference speed does not
// depend on the values, so benchmarks run them in place of multi-gigabyte
// downloads.

// synthShape is a real model's config.json, as aha's model.Config, and the
// integer special token ids it names (the converter's fallback for ids the
// tokenizer config does not give).
type synthShape struct {
	config   model.Config
	tokenIDs map[string]int
}

var synthShapes = map[string]synthShape{
	// Qwen/Qwen2.5-0.5B-Instruct
	"qwen2.5-0.5b": {model.Config{Architecture: "qwen2", VocabSize: 151936, Hidden: 896, Layers: 24, Heads: 14, KVHeads: 2, HeadDim: 64,
		Intermediate: 4864, MaxPositions: 32768, TiedEmbeddings: true, NormEps: 1e-6, RopeTheta: 1e6},
		map[string]int{"bos": 151643, "eos": 151645}},
	// Qwen/Qwen2.5-1.5B-Instruct
	"qwen2.5-1.5b": {model.Config{Architecture: "qwen2", VocabSize: 151936, Hidden: 1536, Layers: 28, Heads: 12, KVHeads: 2, HeadDim: 128,
		Intermediate: 8960, MaxPositions: 32768, TiedEmbeddings: true, NormEps: 1e-6, RopeTheta: 1e6},
		map[string]int{"bos": 151643, "eos": 151645}},
	// Qwen/Qwen2.5-7B-Instruct: its embedding has 152064 rows, more than
	// the tokenizer's 151665 tokens.
	"qwen2.5-7b": {model.Config{Architecture: "qwen2", VocabSize: 152064, Hidden: 3584, Layers: 28, Heads: 28, KVHeads: 4, HeadDim: 128,
		Intermediate: 18944, MaxPositions: 32768, NormEps: 1e-6, RopeTheta: 1e6},
		map[string]int{"bos": 151643, "eos": 151645}},
	// Qwen/Qwen3-0.6B
	"qwen3-0.6b": {model.Config{Architecture: "qwen3", VocabSize: 151936, Hidden: 1024, Layers: 28, Heads: 16, KVHeads: 8, HeadDim: 128,
		Intermediate: 3072, MaxPositions: 40960, TiedEmbeddings: true, NormEps: 1e-6, RopeTheta: 1e6},
		map[string]int{"bos": 151643, "eos": 151645}},
	// Qwen/Qwen3-8B
	"qwen3-8b": {model.Config{Architecture: "qwen3", VocabSize: 151936, Hidden: 4096, Layers: 36, Heads: 32, KVHeads: 8, HeadDim: 128,
		Intermediate: 12288, MaxPositions: 40960, NormEps: 1e-6, RopeTheta: 1e6},
		map[string]int{"bos": 151643, "eos": 151645}},
	// meta-llama/Llama-3.2-1B-Instruct (its eos_token_id is a list, which
	// the converter does not use as a fallback)
	"llama3.2-1b": {model.Config{Architecture: "llama", VocabSize: 128256, Hidden: 2048, Layers: 16, Heads: 32, KVHeads: 8, HeadDim: 64,
		Intermediate: 8192, MaxPositions: 131072, TiedEmbeddings: true, NormEps: 1e-5, RopeTheta: 500000,
		RopeScaling: &model.RopeScaling{Type: "llama3", Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192}},
		map[string]int{"bos": 128000}},
}

// SyntheticShapes lists the shapes WriteSynthetic knows.
func SyntheticShapes() []string {
	names := make([]string, 0, len(synthShapes))
	for n := range synthShapes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// SyntheticConfig returns the config of a synthetic shape.
func SyntheticConfig(shape string) (model.Config, error) {
	s, ok := synthShapes[shape]
	if !ok {
		return model.Config{}, fmt.Errorf("unknown synthetic shape %q (known: %s)", shape, strings.Join(SyntheticShapes(), ", "))
	}
	c := s.config
	if err := c.ApplyArchitecture(); err != nil {
		return model.Config{}, err
	}
	return c, nil
}

// WriteSynthetic writes a GGUF file with the shape of a real model (one of
// SyntheticShapes), random weights drawn from seed, and the tokenizer of
// vocab: a GGUF file whose tokenizer.* keys are copied (a llama.cpp vocab
// file such as ggml-vocab-qwen2.gguf will do), or a tokenizer.json or
// Hugging Face folder, converted. The token list is padded with unused
// "[PAD<id>]" tokens up to the shape's vocabulary size; a vocab with more
// tokens than the shape is an error.
func WriteSynthetic(path, shape, vocab string, seed uint64, opts Options) error {
	c, err := SyntheticConfig(shape)
	if err != nil {
		return err
	}
	tok, err := vocabMetadata(vocab, &c, synthShapes[shape].tokenIDs)
	if err != nil {
		return fmt.Errorf("synthetic %s: %w", shape, err)
	}
	name := opts.Name
	if name == "" {
		name = shape + "-synthetic"
	}
	return WriteGGUF(path, &c, name, tok, SyntheticTensors(&c, seed), opts)
}

// vocabMetadata reads the tokenizer keys for a model of config c from
// vocab (see WriteSynthetic).
func vocabMetadata(vocab string, c *model.Config, tokenIDs map[string]int) ([]gguf.KV, error) {
	st, err := os.Stat(vocab)
	if err != nil {
		return nil, fmt.Errorf("vocab: %w", err)
	}
	if st.IsDir() || strings.HasSuffix(vocab, ".json") {
		return hfTokenizerMetadata(vocab, c.Architecture, c.VocabSize, tokenIDs)
	}
	f, err := gguf.Open(vocab)
	if err != nil {
		return nil, fmt.Errorf("vocab: %w", err)
	}
	defer f.Close()
	tokens, err := f.Strings("tokenizer.ggml.tokens")
	if err != nil {
		return nil, fmt.Errorf("vocab %s: %w", vocab, err)
	}
	n := len(tokens)
	if n > c.VocabSize {
		return nil, fmt.Errorf("vocab %s has %d tokens, more than the model's %d", vocab, n, c.VocabSize)
	}
	var kv []gguf.KV
	for _, e := range f.KV {
		if !strings.HasPrefix(e.Key, "tokenizer.") {
			continue
		}
		switch e.Key {
		case "tokenizer.ggml.tokens":
			e.Value = padded(tokens, c.VocabSize, func(id int) string { return fmt.Sprintf("[PAD%d]", id) })
		case "tokenizer.ggml.token_type":
			types, err := f.Int32s(e.Key)
			if err != nil || len(types) != n {
				return nil, fmt.Errorf("vocab %s: token_type does not match the %d tokens (%v)", vocab, n, err)
			}
			e.Value = padded(types, c.VocabSize, func(int) int32 { return tokenUnused })
		case "tokenizer.ggml.scores":
			scores, err := f.Float32s(e.Key)
			if err != nil || len(scores) != n {
				return nil, fmt.Errorf("vocab %s: scores do not match the %d tokens (%v)", vocab, n, err)
			}
			e.Value = padded(scores, c.VocabSize, func(int) float32 { return -1000 })
		}
		kv = append(kv, e)
	}
	return kv, nil
}

// padded returns s extended to n elements with fill(id).
func padded[T any](s []T, n int, fill func(id int) T) []T {
	out := append(make([]T, 0, n), s...)
	for id := len(s); id < n; id++ {
		out = append(out, fill(id))
	}
	return out
}

// SyntheticTensors lists the tensors of a model of config c with random
// values: matrices and biases ≈ N(0, 0.02) (the usual initializer scale),
// norms ≈ 1. Each row draws from its own generator, seeded by seed, the
// tensor and the row, so the rows can be made in parallel and a file is
// the same for the same seed.
func SyntheticTensors(c *model.Config, seed uint64) []Tensor {
	var ts []Tensor
	if factors := c.RopeScaling.FreqFactors(c.HeadDim, c.RopeTheta); factors != nil {
		ts = append(ts, Tensor{Name: "rope_freqs.weight", Vec: factors})
	}
	for i, w := range c.Tensors() {
		mean, std := float32(0), float32(0.02)
		if strings.Contains(w.GGUF, "norm") {
			mean, std = 1, 0.05
		}
		gen := func(r int, row []float32) {
			rng := rand.NewPCG(seed, uint64(i)<<32|uint64(r))
			for j := range row {
				row[j] = mean + std*approxNormal(rng.Uint64())
			}
		}
		if w.IsVector {
			v := make([]float32, w.Cols)
			gen(0, v)
			ts = append(ts, Tensor{Name: w.GGUF, Vec: v})
			continue
		}
		ts = append(ts, Tensor{Name: w.GGUF, Rows: w.Rows, Cols: w.Cols, Gen: gen})
	}
	return ts
}

// approxNormal turns 64 random bits into an approximately standard normal
// value: the sum of four uniform 16-bit numbers, centred and scaled to unit
// variance (Irwin–Hall), far cheaper than an exact normal and as good for
// weights whose values do not matter.
func approxNormal(u uint64) float32 {
	s := float32(u&0xffff) + float32(u>>16&0xffff) + float32(u>>32&0xffff) + float32(u>>48)
	return (s/65536 - 2) * sqrt3
}

var sqrt3 = float32(math.Sqrt(3))
