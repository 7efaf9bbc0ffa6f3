package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aha-inference/aha/gguf"
	"github.com/aha-inference/aha/internal/modelfile"
	"github.com/aha-inference/aha/kernels"
)

// Config is the shape and behaviour of a model, the same for every
// architecture and every file format.
type Config struct {
	Architecture   string `json:"architecture"`
	VocabSize      int    `json:"vocab_size"`
	Hidden         int    `json:"hidden_size"`
	Layers         int    `json:"layers"`
	Heads          int    `json:"heads"`
	KVHeads        int    `json:"kv_heads"`
	HeadDim        int    `json:"head_dim"` // Qwen3 sets it independently of Hidden/Heads
	Intermediate   int    `json:"intermediate_size"`
	MaxPositions   int    `json:"max_positions"`
	TiedEmbeddings bool   `json:"tied_embeddings"`
	AttentionBias  bool   `json:"attention_bias"` // q/k/v biases (qwen2)
	QKNorm         bool   `json:"qk_norm"`        // per-head RMSNorm of q and k (qwen3)

	NormEps   float32 `json:"rms_norm_eps"`
	RopeTheta float64 `json:"rope_theta"`
	// RopeScaling describes llama3-style frequency scaling, if any; a GGUF
	// stores its result instead, as the rope_freqs tensor.
	RopeScaling *RopeScaling `json:"rope_scaling,omitempty"`
	// RopeLayout says how the Q/K rows of this file pair up for rotation:
	// llama GGUFs were permuted by their converter to rotate interleaved
	// pairs; everything else rotates halves. The weights are kept as stored.
	RopeLayout kernels.RopeLayout `json:"-"`

	// BOS is -1 when the model has none; EOS may be empty. Both are ids of
	// the vocabulary (below VocabSize). A file saying none writes nothing
	// or null, or for BOS -1 (which GGUF writers store as 2^32-1); an EOS
	// id of -1 is refused, since EOS ids are the stop tokens.
	BOS int   `json:"bos_token_id"`
	EOS []int `json:"eos_token_ids"`

	// Generation holds generation_config.json's (or the GGUF's
	// general.sampling.*) recommended sampling values. aha applies them only
	// when asked (--generation-config): its defaults stay neutral so RL runs
	// and reference comparisons are not silently changed.
	Generation GenerationConfig `json:"generation"`
}

// RopeScaling is Llama 3's long-context frequency scaling.
type RopeScaling struct {
	Type                 string  `json:"rope_type"`
	Factor               float64 `json:"factor"`
	LowFreqFactor        float64 `json:"low_freq_factor"`
	HighFreqFactor       float64 `json:"high_freq_factor"`
	OriginalMaxPositions int     `json:"original_max_position_embeddings"`
}

// GenerationConfig holds a model's recommended sampling values; nil means
// the model does not say.
type GenerationConfig struct {
	Temperature       *float64 `json:"temperature,omitempty"`
	TopP              *float64 `json:"top_p,omitempty"`
	TopK              *int     `json:"top_k,omitempty"`
	RepetitionPenalty *float64 `json:"repetition_penalty,omitempty"`
}

// RopeLayoutName is RopeLayout as a string, for output.
func (c *Config) RopeLayoutName() string { return c.RopeLayout.String() }

// FreqFactors returns the per-pair divisors of the rotary frequencies that
// llama3 scaling implies (nil without scaling). A GGUF stores the same
// numbers as its rope_freqs tensor, so both forms rotate identically.
func (s *RopeScaling) FreqFactors(headDim int, theta float64) []float32 {
	if s == nil {
		return nil
	}
	lowWavelen := float64(s.OriginalMaxPositions) / s.LowFreqFactor
	highWavelen := float64(s.OriginalMaxPositions) / s.HighFreqFactor
	factors := make([]float32, headDim/2)
	for i := range factors {
		freq := math.Pow(theta, -2*float64(i)/float64(headDim))
		wavelen := 2 * math.Pi / freq
		switch {
		case wavelen < highWavelen:
			factors[i] = 1
		case wavelen > lowWavelen:
			factors[i] = float32(s.Factor)
		default:
			smooth := (float64(s.OriginalMaxPositions)/wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
			factors[i] = float32(1 / ((1-smooth)/s.Factor + smooth))
		}
	}
	return factors
}

// fieldNames are the names a file gives a Config's fields, for errors.
type fieldNames struct {
	vocab, hidden, layers, heads, kvHeads, headDim, intermediate, positions, eps, theta, bos, eos string
}

// configNames are the Config's own (JSON) names.
var configNames = fieldNames{"vocab_size", "hidden_size", "layers", "heads", "kv_heads", "head_dim",
	"intermediate_size", "max_positions", "rms_norm_eps", "rope_theta", "bos_token_id", "eos_token_ids"}

// hfNames are config.json's.
var hfNames = fieldNames{"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
	"num_key_value_heads", "head_dim", "intermediate_size", "max_position_embeddings", "rms_norm_eps",
	"rope_theta", "bos_token_id", "eos_token_id"}

// ggufNames are a GGUF's metadata keys for architecture arch.
func ggufNames(arch string) fieldNames {
	k := func(s string) string { return arch + "." + s }
	return fieldNames{k("vocab_size"), k("embedding_length"), k("block_count"), k("attention.head_count"),
		k("attention.head_count_kv"), k("attention.key_length"), k("feed_forward_length"), k("context_length"),
		k("attention.layer_norm_rms_epsilon"), k("rope.freq_base"), "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"}
}

// Validate checks that the sizes are positive, within bounds and
// consistent, that the float parameters are positive and finite, and that
// the special token ids are ids of the vocabulary.
func (c *Config) Validate() error { return c.validate(configNames) }

func (c *Config) validate(names fieldNames) error {
	// The bounds are far above any real model's (vocabularies of 256k,
	// hidden sizes of 16k, 128 layers, contexts of 10M) and keep every
	// product of two of them within an int. The tensors a model loads
	// check the sizes more tightly (see Model.checkCounts).
	for _, f := range []struct {
		name   string
		v, max int
	}{{names.vocab, c.VocabSize, 1 << 24}, {names.hidden, c.Hidden, 1 << 20}, {names.layers, c.Layers, 1 << 16},
		{names.heads, c.Heads, 1 << 16}, {names.kvHeads, c.KVHeads, 1 << 16}, {names.headDim, c.HeadDim, 1 << 16},
		{names.intermediate, c.Intermediate, 1 << 24}, {names.positions, c.MaxPositions, 1 << 24}} {
		if f.v <= 0 || f.v > f.max {
			return fmt.Errorf("%s %d is out of range (1 to %d)", f.name, f.v, f.max)
		}
	}
	if c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("%s %d is not a multiple of %s %d", names.heads, c.Heads, names.kvHeads, c.KVHeads)
	}
	if c.HeadDim%2 != 0 {
		return fmt.Errorf("%s %d is odd; RoPE rotates pairs", names.headDim, c.HeadDim)
	}
	if eps := c.NormEps; !(eps > 0) || math.IsInf(float64(eps), 0) {
		return fmt.Errorf("%s %g must be positive and finite", names.eps, eps)
	}
	if !(c.RopeTheta > 0) || math.IsInf(c.RopeTheta, 0) {
		return fmt.Errorf("%s %g must be positive and finite", names.theta, c.RopeTheta)
	}
	if c.BOS < -1 || c.BOS >= c.VocabSize {
		return fmt.Errorf("%s %d is not an id of the %d-token vocabulary", names.bos, c.BOS, c.VocabSize)
	}
	for _, id := range c.EOS {
		if id < 0 || id >= c.VocabSize {
			return fmt.Errorf("%s %d is not an id of the %d-token vocabulary", names.eos, id, c.VocabSize)
		}
	}
	return nil
}

// hfConfig is the subset of config.json aha reads.
type hfConfig struct {
	Architectures     []string        `json:"architectures"`
	ModelType         string          `json:"model_type"`
	VocabSize         int             `json:"vocab_size"`
	HiddenSize        int             `json:"hidden_size"`
	NumHiddenLayers   int             `json:"num_hidden_layers"`
	NumAttentionHeads int             `json:"num_attention_heads"`
	NumKeyValueHeads  int             `json:"num_key_value_heads"`
	HeadDim           int             `json:"head_dim"`
	IntermediateSize  int             `json:"intermediate_size"`
	MaxPositions      int             `json:"max_position_embeddings"`
	RMSNormEps        float64         `json:"rms_norm_eps"`
	RopeTheta         float64         `json:"rope_theta"`
	RopeScaling       *RopeScaling    `json:"rope_scaling"`
	TieWordEmbeddings *bool           `json:"tie_word_embeddings"`
	AttentionBias     *bool           `json:"attention_bias"`
	BOSTokenID        *int            `json:"bos_token_id"`
	EOSTokenID        json.RawMessage `json:"eos_token_id"`
}

type hfGenerationConfig struct {
	EOSTokenID        json.RawMessage `json:"eos_token_id"`
	Temperature       *float64        `json:"temperature"`
	TopP              *float64        `json:"top_p"`
	TopK              *int            `json:"top_k"`
	RepetitionPenalty *float64        `json:"repetition_penalty"`
}

// ParseHFConfig builds a Config from the bytes of config.json and, if
// present, generation_config.json (nil when absent).
func ParseHFConfig(configJSON, generationJSON []byte) (*Config, error) {
	var hf hfConfig
	if err := json.Unmarshal(configJSON, &hf); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	arch, err := archFromHF(hf.ModelType, hf.Architectures)
	if err != nil {
		return nil, err
	}
	c := &Config{
		Architecture:  arch.name,
		VocabSize:     hf.VocabSize,
		Hidden:        hf.HiddenSize,
		Layers:        hf.NumHiddenLayers,
		Heads:         hf.NumAttentionHeads,
		KVHeads:       hf.NumKeyValueHeads,
		HeadDim:       hf.HeadDim,
		Intermediate:  hf.IntermediateSize,
		MaxPositions:  hf.MaxPositions,
		NormEps:       float32(hf.RMSNormEps),
		RopeTheta:     hf.RopeTheta,
		RopeLayout:    kernels.RopeHalves,
		AttentionBias: arch.attentionBias,
		QKNorm:        arch.qkNorm,
		BOS:           -1,
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if err := c.deriveHeadDim(hfNames); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	if c.RopeTheta == 0 {
		c.RopeTheta = 10000
	}
	if hf.AttentionBias != nil {
		c.AttentionBias = *hf.AttentionBias
	}
	c.TiedEmbeddings = hf.TieWordEmbeddings != nil && *hf.TieWordEmbeddings
	if s := hf.RopeScaling; s != nil {
		if s.Type != "llama3" {
			return nil, fmt.Errorf("config.json: rope_scaling type %q is not supported (supported: llama3)", s.Type)
		}
		if !(s.Factor > 0) || !(s.HighFreqFactor > s.LowFreqFactor) || s.LowFreqFactor <= 0 || s.OriginalMaxPositions <= 0 {
			return nil, fmt.Errorf("config.json: rope_scaling %+v is inconsistent", *s)
		}
		c.RopeScaling = s
	}
	if hf.BOSTokenID != nil {
		c.BOS = *hf.BOSTokenID
	}
	eos, err := tokenIDs(hf.EOSTokenID)
	if err != nil {
		return nil, fmt.Errorf("config.json eos_token_id: %w", err)
	}
	var genEOS []int
	if generationJSON != nil {
		var g hfGenerationConfig
		if err := json.Unmarshal(generationJSON, &g); err != nil {
			return nil, fmt.Errorf("generation_config.json: %w", err)
		}
		if genEOS, err = tokenIDs(g.EOSTokenID); err != nil {
			return nil, fmt.Errorf("generation_config.json eos_token_id: %w", err)
		}
		c.Generation = GenerationConfig{g.Temperature, g.TopP, g.TopK, g.RepetitionPenalty}
	}
	if err := c.validate(hfNames); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	// The EOS ids are checked file by file, so that an error names the
	// one holding the bad id.
	for _, e := range []struct {
		file string
		ids  []int
	}{{"config.json", eos}, {"generation_config.json", genEOS}} {
		for _, id := range e.ids {
			if id < 0 || id >= c.VocabSize {
				return nil, fmt.Errorf("%s: eos_token_id %d is not an id of the %d-token vocabulary", e.file, id, c.VocabSize)
			}
		}
	}
	c.EOS = uniqueSorted(append(eos, genEOS...))
	return c, nil
}

// deriveHeadDim sets the head dimension a file leaves out to hidden/heads,
// which must then divide evenly.
func (c *Config) deriveHeadDim(names fieldNames) error {
	if c.HeadDim != 0 || c.Heads <= 0 {
		return nil
	}
	if c.Hidden%c.Heads != 0 {
		return fmt.Errorf("%s %d is not a multiple of %s %d, and no %s says the head size",
			names.hidden, c.Hidden, names.heads, c.Heads, names.headDim)
	}
	c.HeadDim = c.Hidden / c.Heads
	return nil
}

// tokenIDs reads an id that may be absent, a number, or a list of numbers.
func tokenIDs(raw json.RawMessage) ([]int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one int
	if err := json.Unmarshal(raw, &one); err == nil {
		return []int{one}, nil
	}
	var many []int
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("want an id or a list of ids, got %s", raw)
	}
	return many, nil
}

func uniqueSorted(ids []int) []int {
	sort.Ints(ids)
	out := ids[:0]
	for i, id := range ids {
		if i == 0 || id != ids[i-1] {
			out = append(out, id)
		}
	}
	return out
}

// ConfigFromHF reads config.json and generation_config.json from dir.
func ConfigFromHF(dir string) (*Config, error) {
	path := filepath.Join(dir, "config.json")
	data, err := modelfile.Read(path, modelfile.MaxConfig)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is not a Hugging Face model folder: it has no config.json", dir)
	}
	if err != nil {
		return nil, err
	}
	gen, err := modelfile.Read(filepath.Join(dir, "generation_config.json"), modelfile.MaxConfig)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	c, err := ParseHFConfig(data, gen)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return c, nil
}

// ConfigFromGGUF builds a Config from GGUF metadata. The llama3 rope
// scaling of a GGUF lives in its rope_freqs tensor, read with the weights.
func ConfigFromGGUF(f *gguf.File) (*Config, error) {
	name, err := f.String("general.architecture")
	if err != nil {
		return nil, err
	}
	arch, err := archByName(name)
	if err != nil {
		return nil, err
	}
	c := &Config{Architecture: arch.name, AttentionBias: arch.attentionBias, QKNorm: arch.qkNorm, BOS: -1}
	key := func(k string) string { return name + "." + k }
	ints := []struct {
		dst      *int
		key      string
		optional bool
	}{
		{&c.Hidden, key("embedding_length"), false},
		{&c.Layers, key("block_count"), false},
		{&c.Heads, key("attention.head_count"), false},
		{&c.KVHeads, key("attention.head_count_kv"), true},
		{&c.HeadDim, key("attention.key_length"), true},
		{&c.Intermediate, key("feed_forward_length"), false},
		{&c.MaxPositions, key("context_length"), false},
		{&c.VocabSize, key("vocab_size"), true},
	}
	for _, k := range ints {
		if k.optional && !f.Has(k.key) {
			continue
		}
		v, err := f.Uint(k.key)
		if err != nil {
			return nil, err
		}
		if v > math.MaxInt32 {
			return nil, fmt.Errorf("metadata key %q is %d, out of range", k.key, v)
		}
		*k.dst = int(v)
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	names := ggufNames(name)
	if err := c.deriveHeadDim(names); err != nil {
		return nil, err
	}
	if c.VocabSize == 0 {
		// Older converters leave vocab_size out; the token list says it.
		tokens, err := f.Strings("tokenizer.ggml.tokens")
		if err != nil {
			return nil, fmt.Errorf("no %s and no token list: %w", key("vocab_size"), err)
		}
		c.VocabSize = len(tokens)
	}
	eps, err := f.Float(key("attention.layer_norm_rms_epsilon"))
	if err != nil {
		return nil, err
	}
	c.NormEps = float32(eps)
	c.RopeTheta = 10000
	if f.Has(key("rope.freq_base")) {
		if c.RopeTheta, err = f.Float(key("rope.freq_base")); err != nil {
			return nil, err
		}
	}
	c.RopeLayout = arch.ggufRope
	c.TiedEmbeddings = f.Tensor("output.weight") == nil
	c.Generation = generationFromGGUF(f)
	if err := c.validate(names); err != nil {
		return nil, err
	}

	// GGUF writers store an id of -1, meaning none, as 2^32-1; any other
	// id must be one of the vocabulary's.
	id := func(key string) (int, bool, error) {
		if !f.Has(key) {
			return 0, false, nil
		}
		v, err := f.Uint(key)
		if err != nil || v == math.MaxUint32 {
			return 0, false, err
		}
		if v >= uint64(c.VocabSize) {
			return 0, false, fmt.Errorf("metadata key %q is %d, not an id of the %d-token vocabulary", key, v, c.VocabSize)
		}
		return int(v), true, nil
	}
	bos, ok, err := id("tokenizer.ggml.bos_token_id")
	if err != nil {
		return nil, err
	}
	if ok {
		c.BOS = bos
	}
	var eos []int
	for _, k := range []string{"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"} {
		v, ok, err := id(k)
		if err != nil {
			return nil, err
		}
		if ok {
			eos = append(eos, v)
		}
	}
	c.EOS = uniqueSorted(eos)
	return c, nil
}

// generationFromGGUF reads the sampling values llama.cpp's converter copies
// from generation_config.json into general.sampling.*.
func generationFromGGUF(f *gguf.File) GenerationConfig {
	var g GenerationConfig
	float := func(k string) *float64 {
		if v, err := f.Float(k); err == nil {
			return &v
		}
		return nil
	}
	g.Temperature = float("general.sampling.temp")
	g.TopP = float("general.sampling.top_p")
	if v, err := f.Int("general.sampling.top_k"); err == nil {
		k := int(v)
		g.TopK = &k
	}
	return g
}

// supported lists the architecture names for error messages.
func supported() string {
	names := make([]string, 0, len(architectures))
	for _, a := range architectures {
		names = append(names, a.name)
	}
	return strings.Join(names, ", ")
}
