package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aha-inference/aha/gguf"
	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/kernels"
)

func TestParseHFConfig(t *testing.T) {
	base := `"model_type": "qwen2", "vocab_size": 100, "hidden_size": 64, "num_hidden_layers": 2,
		"num_attention_heads": 4, "intermediate_size": 128, "max_position_embeddings": 256, "rms_norm_eps": 1e-6`
	cases := []struct {
		name        string
		config, gen string
		check       func(c *Config) bool
		err         string
	}{
		{"defaults", `{` + base + `}`, "", func(c *Config) bool {
			// KV heads default to heads, head dim to hidden/heads, theta to 10000.
			return c.KVHeads == 4 && c.HeadDim == 16 && c.RopeTheta == 10000 && c.BOS == -1 && c.EOS == nil &&
				c.AttentionBias && !c.TiedEmbeddings && c.RopeLayout == kernels.RopeHalves
		}, ""},
		{"class name only", `{"architectures": ["Qwen3ForCausalLM"], "head_dim": 32, ` + base[len(`"model_type": "qwen2", `):] + `}`, "",
			func(c *Config) bool { return c.Architecture == "qwen3" && c.QKNorm && c.HeadDim == 32 }, ""},
		{"attention_bias overrides the family", `{"attention_bias": false, ` + base + `}`, "",
			func(c *Config) bool { return !c.AttentionBias }, ""},
		{"eos union", `{"eos_token_id": 7, "bos_token_id": 1, ` + base + `}`, `{"eos_token_id": [9, 7], "top_k": 5}`,
			func(c *Config) bool {
				return reflect.DeepEqual(c.EOS, []int{7, 9}) && c.BOS == 1 && *c.Generation.TopK == 5
			}, ""},
		{"eos list", `{"eos_token_id": [3, 2, 3], ` + base + `}`, "",
			func(c *Config) bool { return reflect.DeepEqual(c.EOS, []int{2, 3}) }, ""},
		{"bad eos", `{"eos_token_id": "</s>", ` + base + `}`, "", nil, "eos_token_id"},
		{"bad generation config", `{` + base + `}`, `{"top_k": "many"}`, nil, "generation_config.json"},
		{"unknown architecture", `{"model_type": "mamba"}`, "", nil, `unsupported architecture "mamba" (supported: llama, qwen2, qwen3)`},
		{"unsupported rope scaling", `{"rope_scaling": {"rope_type": "yarn", "factor": 4}, ` + base + `}`, "", nil, `rope_scaling type "yarn"`},
		{"inconsistent llama3 scaling", `{"rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 4, "high_freq_factor": 1, "original_max_position_embeddings": 8192}, ` + base + `}`, "", nil, "inconsistent"},
		{"odd head dim", `{"head_dim": 15, ` + base + `}`, "", nil, "head_dim 15 is odd"},
		{"zero layers", `{` + strings.Replace(base, `"num_hidden_layers": 2`, `"num_hidden_layers": 0`, 1) + `}`, "", nil, "layers 0 is out of range"},
		{"not JSON", `{"model_type": qwen2}`, "", nil, "config.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var gen []byte
			if tc.gen != "" {
				gen = []byte(tc.gen)
			}
			c, err := ParseHFConfig([]byte(tc.config), gen)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("config %s", configString(c))
			}
		})
	}
}

// FuzzParseHFConfig: arbitrary bytes as config.json and
// generation_config.json never panic, and what parses is a valid config.
func FuzzParseHFConfig(f *testing.F) {
	f.Add([]byte(`{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 16, "rms_norm_eps": 1e-5}`), []byte(nil))
	f.Add([]byte(`{"architectures": ["Qwen3ForCausalLM"], "head_dim": -2, "num_key_value_heads": 0}`), []byte(`{"eos_token_id": [1, -1]}`))
	f.Add([]byte(`{"model_type": "qwen2", "rope_scaling": {"rope_type": "llama3", "factor": 0}}`), []byte(`{"top_k": 1e99}`))
	// Counts and ids far beyond any file's.
	f.Add([]byte(`{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 16777216, "num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 16, "rms_norm_eps": 1e-5}`), []byte(nil))
	f.Add([]byte(`{"model_type": "llama", "vocab_size": 4611686018427387904, "hidden_size": 4611686018427387904, "num_hidden_layers": 1, "num_attention_heads": 1, "intermediate_size": 8, "max_position_embeddings": 9223372036854775807, "rms_norm_eps": 1e-5}`), []byte(nil))
	f.Add([]byte(`{"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 16, "rms_norm_eps": 1e-5, "bos_token_id": 1099511627776, "eos_token_id": -1}`), []byte(`{"eos_token_id": [4611686018427387904]}`))
	if root := shared.Root(); root != "" {
		for _, m := range []string{"qwen2-tiny", "qwen3-tiny", "llama3-tiny"} {
			cfg, err1 := os.ReadFile(filepath.Join(root, "models", m, "hf", "config.json"))
			gen, err2 := os.ReadFile(filepath.Join(root, "models", m, "hf", "generation_config.json"))
			if err1 == nil && err2 == nil {
				f.Add(cfg, gen)
			}
		}
	}
	f.Fuzz(func(t *testing.T, config, generation []byte) {
		c, err := ParseHFConfig(config, generation)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseHFConfig returned an invalid config: %v", err)
		}
		if c.Heads*c.HeadDim <= 0 || c.KVHeads > c.Heads {
			t.Fatalf("sizes do not fit: %s", configString(c))
		}
	})
}

// FuzzConfigFromGGUF builds small GGUF files whose hyper-parameters are
// arbitrary — numbers, but also the wrong value types — and checks that
// ConfigFromGGUF never panics and returns only valid configs.
func FuzzConfigFromGGUF(f *testing.F) {
	f.Add("llama", uint32(64), uint32(2), uint32(8), uint32(4), uint32(0), uint32(128), uint32(512), uint32(100), float32(1e-5), float32(1e4), uint8(0))
	f.Add("qwen3", uint32(64), uint32(2), uint32(2), uint32(1), uint32(128), uint32(128), uint32(40960), uint32(0), float32(1e-6), float32(1e6), uint8(1))
	f.Add("qwen2", uint32(0), uint32(1<<31), uint32(3), uint32(2), uint32(7), uint32(0), uint32(1), uint32(1), float32(-1), float32(0), uint8(0xff))
	// 2^24 layers and heads, an infinite theta, a NaN epsilon.
	f.Add("llama", uint32(64), uint32(1<<24), uint32(1<<24), uint32(1), uint32(0), uint32(1<<24), uint32(1<<24), uint32(1<<24), float32(1e-5), float32(math.Inf(1)), uint8(0))
	f.Add("qwen3", uint32(1<<31), uint32(1<<24), uint32(8), uint32(4), uint32(1<<31), uint32(128), uint32(1<<31), uint32(0xFFFFFFFF), float32(math.NaN()), float32(1e4), uint8(0))
	f.Fuzz(func(t *testing.T, arch string, hidden, layers, heads, kvHeads, keyLength, ff, ctx, vocab uint32, eps, theta float32, variant uint8) {
		w := &gguf.Writer{}
		w.Set("general.architecture", arch)
		k := func(s string) string { return arch + "." + s }
		// The variant bits drop keys or store them with another type.
		for i, e := range []struct {
			key string
			v   uint32
		}{{k("embedding_length"), hidden}, {k("block_count"), layers}, {k("attention.head_count"), heads},
			{k("attention.head_count_kv"), kvHeads}, {k("attention.key_length"), keyLength},
			{k("feed_forward_length"), ff}, {k("context_length"), ctx}, {k("vocab_size"), vocab}} {
			switch variant >> (i % 4 * 2) & 3 {
			case 0:
				w.Set(e.key, e.v)
			case 1:
				w.Set(e.key, int32(e.v))
			case 2:
				w.Set(e.key, float32(e.v))
			}
		}
		w.Set(k("attention.layer_norm_rms_epsilon"), eps)
		if variant&1 == 0 {
			w.Set(k("rope.freq_base"), theta)
		}
		if variant&2 == 0 {
			w.Set("tokenizer.ggml.tokens", []string{"a", "b"})
			w.Set("tokenizer.ggml.eos_token_id", uint32(vocab))
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		g, err := gguf.Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("the writer's file does not parse: %v", err)
		}
		c, err := ConfigFromGGUF(g)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ConfigFromGGUF returned an invalid config: %v", err)
		}
		if math.IsNaN(float64(c.NormEps)) || c.Heads*c.HeadDim <= 0 {
			t.Fatalf("config %s", configString(c))
		}
	})
}

// ggufConfigFile is the metadata of a small valid llama GGUF, edited.
func ggufConfigFile(t *testing.T, edit func(w *gguf.Writer)) *gguf.File {
	t.Helper()
	w := &gguf.Writer{}
	w.Set("general.architecture", "llama")
	for k, v := range map[string]uint32{"embedding_length": 64, "block_count": 2, "attention.head_count": 4,
		"feed_forward_length": 128, "context_length": 256, "vocab_size": 100} {
		w.Set("llama."+k, v)
	}
	w.Set("llama.attention.layer_norm_rms_epsilon", float32(1e-5))
	edit(w)
	path := filepath.Join(t.TempDir(), "x.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestConfigValues: values a config must not hold are refused with the
// field's name as the file spells it, and the ways of saying "no BOS"
// mean none.
func TestConfigValues(t *testing.T) {
	base := `"model_type": "qwen2", "vocab_size": 100, "hidden_size": 64, "num_hidden_layers": 2,
		"num_attention_heads": 4, "intermediate_size": 128, "max_position_embeddings": 256, "rms_norm_eps": 1e-6`
	for _, tc := range []struct {
		name, config, gen, want string
	}{
		{"2^24 layers", `{` + strings.Replace(base, `"num_hidden_layers": 2`, `"num_hidden_layers": 16777216`, 1) + `}`, "",
			"config.json: num_hidden_layers 16777216 is out of range (1 to 65536)"},
		{"negative rms eps", `{` + strings.Replace(base, `1e-6`, `-1e-6`, 1) + `}`, "", "config.json: rms_norm_eps -1e-06 must be positive and finite"},
		{"negative rope theta", `{"rope_theta": -1, ` + base + `}`, "", "config.json: rope_theta -1 must be positive and finite"},
		{"bos 2^40", `{"bos_token_id": 1099511627776, ` + base + `}`, "", "config.json: bos_token_id 1099511627776 is not an id of the 100-token vocabulary"},
		{"bos -2", `{"bos_token_id": -2, ` + base + `}`, "", "config.json: bos_token_id -2 is not an id"},
		{"eos -1", `{"eos_token_id": -1, ` + base + `}`, "", "config.json: eos_token_id -1 is not an id of the 100-token vocabulary"},
		{"eos past the vocabulary in generation_config.json", `{"eos_token_id": 2, ` + base + `}`, `{"eos_token_id": [3, 100]}`,
			"generation_config.json: eos_token_id 100 is not an id"},
		{"hidden size not a multiple of heads", `{` + strings.Replace(base, `"num_attention_heads": 4`, `"num_attention_heads": 6`, 1) + `}`, "",
			"config.json: hidden_size 64 is not a multiple of num_attention_heads 6, and no head_dim says the head size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gen []byte
			if tc.gen != "" {
				gen = []byte(tc.gen)
			}
			c, err := ParseHFConfig([]byte(tc.config), gen)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("config %v, error %v; want an error containing %q", c, err, tc.want)
			}
		})
	}
	// -1 and null say "no BOS"; a head_dim given explicitly need not divide.
	for _, extra := range []string{`"bos_token_id": -1`, `"bos_token_id": null`, `"num_attention_heads": 6, "head_dim": 16`} {
		cfg := `{` + extra + `, ` + strings.Replace(base, `"num_attention_heads": 4, `, ``, strings.Count(extra, "heads")) + `}`
		c, err := ParseHFConfig([]byte(cfg), nil)
		if err != nil || c.BOS != -1 {
			t.Errorf("%s: config %v, error %v", extra, c, err)
		}
	}

	for _, tc := range []struct {
		name string
		edit func(w *gguf.Writer)
		want string
	}{
		{"2^24 layers", func(w *gguf.Writer) { w.Set("llama.block_count", uint32(1<<24)) }, "llama.block_count 16777216 is out of range"},
		{"rope theta +Inf", func(w *gguf.Writer) { w.Set("llama.rope.freq_base", float32(math.Inf(1))) },
			"llama.rope.freq_base +Inf must be positive and finite"},
		{"rope theta NaN", func(w *gguf.Writer) { w.Set("llama.rope.freq_base", float32(math.NaN())) }, "llama.rope.freq_base NaN must be"},
		{"rms eps +Inf", func(w *gguf.Writer) { w.Set("llama.attention.layer_norm_rms_epsilon", float32(math.Inf(1))) },
			"llama.attention.layer_norm_rms_epsilon +Inf must be positive and finite"},
		{"rms eps NaN", func(w *gguf.Writer) { w.Set("llama.attention.layer_norm_rms_epsilon", float32(math.NaN())) },
			"llama.attention.layer_norm_rms_epsilon NaN must be"},
		{"bos 2^40", func(w *gguf.Writer) { w.Set("tokenizer.ggml.bos_token_id", uint64(1<<40)) },
			`"tokenizer.ggml.bos_token_id" is 1099511627776, not an id of the 100-token vocabulary`},
		{"eos past the vocabulary", func(w *gguf.Writer) { w.Set("tokenizer.ggml.eos_token_id", uint32(100)) },
			`"tokenizer.ggml.eos_token_id" is 100, not an id`},
		{"hidden size not a multiple of heads", func(w *gguf.Writer) { w.Set("llama.attention.head_count", uint32(6)) },
			"llama.embedding_length 64 is not a multiple of llama.attention.head_count 6"},
	} {
		t.Run("GGUF "+tc.name, func(t *testing.T) {
			c, err := ConfigFromGGUF(ggufConfigFile(t, tc.edit))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("config %v, error %v; want an error containing %q", c, err, tc.want)
			}
		})
	}
	// GGUF writers store -1 as 2^32-1.
	c, err := ConfigFromGGUF(ggufConfigFile(t, func(w *gguf.Writer) {
		w.Set("tokenizer.ggml.bos_token_id", uint32(math.MaxUint32))
		w.Set("tokenizer.ggml.eos_token_id", uint32(math.MaxUint32))
	}))
	if err != nil || c.BOS != -1 || len(c.EOS) != 0 {
		t.Errorf("2^32-1 ids: config %v, error %v; want no BOS or EOS", c, err)
	}
}

func f64(v float64) *float64 { return &v }
func f32(v float32) *float64 { return f64(float64(v)) } // a GGUF stores float32
func intp(v int) *int        { return &v }

// TestShippedConfigs loads every model in ../shared/models in every format
// it is shipped in and checks the Config against config.json and
// generation_config.json (HF folders) or the GGUF metadata, as each
// SOURCE.md describes them.
func TestShippedConfigs(t *testing.T) {
	stories := Config{Architecture: "llama", VocabSize: 512, Hidden: 64, Layers: 5, Heads: 8, KVHeads: 4, HeadDim: 8,
		Intermediate: 172, MaxPositions: 2048, NormEps: 1e-5, RopeTheta: 10000, RopeLayout: kernels.RopeInterleaved,
		BOS: 1, EOS: []int{2}}
	qwen2 := Config{Architecture: "qwen2", VocabSize: 151936, Hidden: 64, Layers: 2, Heads: 2, KVHeads: 1, HeadDim: 32,
		Intermediate: 128, MaxPositions: 32768, TiedEmbeddings: true, AttentionBias: true, NormEps: 1e-6, RopeTheta: 1e6,
		RopeLayout: kernels.RopeHalves, BOS: 151643}
	qwen3 := Config{Architecture: "qwen3", VocabSize: 151936, Hidden: 64, Layers: 2, Heads: 2, KVHeads: 1, HeadDim: 128,
		Intermediate: 128, MaxPositions: 40960, TiedEmbeddings: true, QKNorm: true, NormEps: 1e-6, RopeTheta: 1e6,
		RopeLayout: kernels.RopeHalves, BOS: 151643}
	llama3 := Config{Architecture: "llama", VocabSize: 128256, Hidden: 64, Layers: 2, Heads: 2, KVHeads: 1, HeadDim: 32,
		Intermediate: 128, MaxPositions: 131072, TiedEmbeddings: true, NormEps: 1e-5, RopeTheta: 500000, BOS: 128000}

	// HF: the EOS set is config.json's eos_token_id with generation_config's
	// list; the sampling values are generation_config's. GGUF: eos (and eot)
	// token ids; sampling values as float32 general.sampling.* keys.
	with := func(c Config, f func(c *Config)) Config { f(&c); return c }
	cases := []struct {
		path string
		want Config
	}{
		{"stories260K/stories260K.gguf", stories},
		{"stories260K/stories260K-q8_0.gguf", stories},
		{"qwen2-tiny/hf", with(qwen2, func(c *Config) {
			c.EOS = []int{151643, 151645}
			c.Generation = GenerationConfig{Temperature: f64(0.7), TopP: f64(0.8), TopK: intp(20), RepetitionPenalty: f64(1.1)}
		})},
		{"qwen2-tiny/qwen2-tiny-f16.gguf", with(qwen2, func(c *Config) {
			c.EOS = []int{151645}
			c.Generation = GenerationConfig{Temperature: f32(0.7), TopP: f32(0.8), TopK: intp(20)}
		})},
		{"qwen3-tiny/hf", with(qwen3, func(c *Config) {
			c.EOS = []int{151643, 151645}
			c.Generation = GenerationConfig{Temperature: f64(0.6), TopP: f64(0.95), TopK: intp(20)}
		})},
		{"qwen3-tiny/qwen3-tiny-bf16.gguf", with(qwen3, func(c *Config) {
			c.EOS = []int{151645}
			c.Generation = GenerationConfig{Temperature: f32(0.6), TopP: f32(0.95), TopK: intp(20)}
		})},
		{"llama3-tiny/hf", with(llama3, func(c *Config) {
			c.RopeLayout = kernels.RopeHalves
			c.RopeScaling = &RopeScaling{Type: "llama3", Factor: 32, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 8192}
			c.EOS = []int{128001, 128008, 128009}
			c.Generation = GenerationConfig{Temperature: f64(0.6), TopP: f64(0.9)}
		})},
		{"llama3-tiny/llama3-tiny-f16.gguf", with(llama3, func(c *Config) {
			c.RopeLayout = kernels.RopeInterleaved // the converter permuted Q/K
			c.EOS = []int{128009}                  // tokenizer_config's eos_token
			c.Generation = GenerationConfig{Temperature: f32(0.6), TopP: f32(0.9)}
		})},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			m, err := Load(shared.Path(t, "models/"+tc.path))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if !reflect.DeepEqual(m.Config, tc.want) {
				t.Errorf("config\n %s\nwant\n %s", configString(&m.Config), configString(&tc.want))
			}
			wantFormat := "gguf"
			if strings.HasSuffix(tc.path, "/hf") {
				wantFormat = "safetensors"
			}
			if m.Format != wantFormat || len(m.Layers) != tc.want.Layers {
				t.Errorf("format %s with %d layers", m.Format, len(m.Layers))
			}
		})
	}
}

// configString shows a Config with its pointers followed.
func configString(c *Config) string {
	b, _ := json.Marshal(c)
	return fmt.Sprintf("%s rope layout %v", b, c.RopeLayout)
}
