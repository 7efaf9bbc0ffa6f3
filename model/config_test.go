package model

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/model/gguf"
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
		{"odd head dim", `{"head_dim": 15, ` + base + `}`, "", nil, "head dim 15 is odd"},
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
