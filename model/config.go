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

	"github.com/aha-inference/aha/internal/modelfile"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/model/gguf"
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

	BOS int   `json:"bos_token_id"` // -1 when the model has none
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

// Validate checks that the sizes are positive and consistent.
func (c *Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"vocab size", c.VocabSize}, {"hidden size", c.Hidden}, {"layers", c.Layers}, {"heads", c.Heads},
		{"KV heads", c.KVHeads}, {"head dim", c.HeadDim}, {"intermediate size", c.Intermediate}, {"max positions", c.MaxPositions}} {
		if f.v <= 0 || f.v > 1<<24 {
			return fmt.Errorf("%s %d is out of range", f.name, f.v)
		}
	}
	if c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("%d heads are not a multiple of %d KV heads", c.Heads, c.KVHeads)
	}
	if c.HeadDim%2 != 0 {
		return fmt.Errorf("head dim %d is odd; RoPE rotates pairs", c.HeadDim)
	}
	if !(c.NormEps > 0) || !(c.RopeTheta > 0) {
		return fmt.Errorf("rms_norm_eps %g and rope theta %g must be positive", c.NormEps, c.RopeTheta)
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
	if c.HeadDim == 0 && c.Heads > 0 {
		c.HeadDim = c.Hidden / c.Heads
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
	if generationJSON != nil {
		var g hfGenerationConfig
		if err := json.Unmarshal(generationJSON, &g); err != nil {
			return nil, fmt.Errorf("generation_config.json: %w", err)
		}
		geos, err := tokenIDs(g.EOSTokenID)
		if err != nil {
			return nil, fmt.Errorf("generation_config.json eos_token_id: %w", err)
		}
		eos = append(eos, geos...)
		c.Generation = GenerationConfig{g.Temperature, g.TopP, g.TopK, g.RepetitionPenalty}
	}
	c.EOS = uniqueSorted(eos)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("config.json: %w", err)
	}
	return c, nil
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

// readHFConfig reads config.json and generation_config.json from dir.
func readHFConfig(dir string) (*Config, error) {
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
	if c.HeadDim == 0 && c.Heads > 0 {
		c.HeadDim = c.Hidden / c.Heads
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

	if f.Has("tokenizer.ggml.bos_token_id") {
		bos, err := f.Uint("tokenizer.ggml.bos_token_id")
		if err != nil {
			return nil, err
		}
		c.BOS = int(bos)
	}
	var eos []int
	for _, k := range []string{"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"} {
		if f.Has(k) {
			id, err := f.Uint(k)
			if err != nil {
				return nil, err
			}
			eos = append(eos, int(id))
		}
	}
	c.EOS = uniqueSorted(eos)
	c.Generation = generationFromGGUF(f)
	if err := c.Validate(); err != nil {
		return nil, err
	}
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
