package merge

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aha-inference/aha/bench"
	converter "github.com/aha-inference/aha/convert"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/quant"
	"github.com/aha-inference/aha/safetensors"
)

// BenchmarkMergeMemory merges three synthetic BF16 checkpoints of a real
// model's shape (Qwen2.5-1.5B; AHA_MERGE_SHAPE names another of
// convert.SyntheticShapes) with the Meta-Ability-Alignment recipe, and
// reports the merge's peak resident memory against the inputs' total
// size. It writes four checkpoints to the temporary folder (about 12 GB
// for the 1.5B shape). Run it with
//
//	go test -run '^$' -bench MergeMemory -benchtime 1x ./merge
func BenchmarkMergeMemory(b *testing.B) {
	shape := os.Getenv("AHA_MERGE_SHAPE")
	if shape == "" {
		shape = "qwen2.5-1.5b"
	}
	c, err := converter.SyntheticConfig(shape)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var models []Model
	var inputs int64
	for k, name := range []string{"ded", "ind", "abd"} {
		d := filepath.Join(dir, name)
		n, err := writeSyntheticHF(d, &c, uint64(k+1))
		if err != nil {
			b.Fatal(err)
		}
		inputs += n
		models = append(models, Model{Name: name, Dir: d})
	}
	r := Recipe{Method: "linear", Weights: []float32{1, 0.2, 0.1}, Normalize: true}
	b.ResetTimer()
	for i := range b.N {
		out := filepath.Join(dir, fmt.Sprint("out", i))
		bench.ResetPeakRSS()
		start := time.Now()
		if err := Folders(r, "", models, Output{Dir: out}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/merge")
		b.ReportMetric(float64(bench.PeakRSS())/(1<<20), "peak-MiB")
		b.ReportMetric(float64(inputs)/(1<<20), "inputs-MiB")
		b.ReportMetric(float64(largest(&c))/(1<<20), "largest-tensor-MiB")
		os.RemoveAll(out)
	}
}

// qwenTensors lists a llama-family HF checkpoint's tensors for c.
func qwenTensors(c *model.Config) []safetensors.Tensor {
	h, q, kv := int64(c.Hidden), int64(c.Heads*c.HeadDim), int64(c.KVHeads*c.HeadDim)
	ff, v := int64(c.Intermediate), int64(c.VocabSize)
	t := func(name string, shape ...int64) safetensors.Tensor {
		return safetensors.Tensor{Name: name, Type: quant.BF16, Shape: shape}
	}
	ts := []safetensors.Tensor{t("model.embed_tokens.weight", v, h), t("model.norm.weight", h)}
	if !c.TiedEmbeddings {
		ts = append(ts, t("lm_head.weight", v, h))
	}
	for l := range c.Layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		ts = append(ts, t(p+"input_layernorm.weight", h), t(p+"post_attention_layernorm.weight", h),
			t(p+"self_attn.q_proj.weight", q, h), t(p+"self_attn.k_proj.weight", kv, h), t(p+"self_attn.v_proj.weight", kv, h),
			t(p+"self_attn.o_proj.weight", h, q), t(p+"mlp.gate_proj.weight", ff, h), t(p+"mlp.up_proj.weight", ff, h),
			t(p+"mlp.down_proj.weight", h, ff))
		if c.AttentionBias {
			ts = append(ts, t(p+"self_attn.q_proj.bias", q), t(p+"self_attn.k_proj.bias", kv), t(p+"self_attn.v_proj.bias", kv))
		}
	}
	return ts
}

func largest(c *model.Config) int64 {
	var n int64
	for _, t := range qwenTensors(c) {
		n = max(n, 2*t.Shape[0]*t.Shape[len(t.Shape)-1])
	}
	return n
}

// writeSyntheticHF writes a Hugging Face folder of config c with random
// BF16 weights from seed, and returns its weights' size in bytes.
func writeSyntheticHF(dir string, c *model.Config, seed uint64) (int64, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	cfg, _ := json.Marshal(map[string]any{"model_type": c.Architecture, "architectures": []string{"Qwen2ForCausalLM"},
		"vocab_size": c.VocabSize, "hidden_size": c.Hidden, "torch_dtype": "bfloat16"})
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		return 0, err
	}
	w, err := safetensors.Create(filepath.Join(dir, "model.safetensors"), qwenTensors(c), nil)
	if err != nil {
		return 0, err
	}
	x := seed*0x9e3779b97f4a7c15 | 1
	var size int64
	for _, t := range w.Tensors {
		for lo := 0; lo < len(t.Data); lo += 1 << 22 {
			part := t.Data[lo:min(len(t.Data), lo+1<<22)]
			for i := 0; i < len(part); i += 2 {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				// A random sign and mantissa, magnitudes in [2⁻⁸, 2⁻⁴):
				// finite weights of a trained model's size.
				binary.LittleEndian.PutUint16(part[i:], uint16(0x3b80+x%0x200)|uint16(x>>16)&0x8000)
			}
			w.Release(part)
		}
		size += int64(len(t.Data))
	}
	return size, w.Close()
}
