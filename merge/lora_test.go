package merge

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/quant"
	"github.com/aha-inference/aha/safetensors"
)

// writeAdapter writes a PEFT LoRA adapter of rank r for modules (module
// path → [out, in]) with config (r and target_modules added), its factors
// deterministic functions of the element index; it returns the folder.
func writeAdapter(t testing.TB, config map[string]any, r int, modules map[string][2]int64) string {
	t.Helper()
	dir := t.TempDir()
	config["r"] = r
	if _, ok := config["target_modules"]; !ok {
		config["target_modules"] = []string{"q_proj", "v_proj", "down_proj"}
	}
	data, _ := json.Marshal(config)
	if err := os.WriteFile(filepath.Join(dir, "adapter_config.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	for m, shape := range modules {
		ts = append(ts,
			safetensors.Tensor{Name: "base_model.model." + m + ".lora_A.weight", Type: quant.F32, Shape: []int64{int64(r), shape[1]}},
			safetensors.Tensor{Name: "base_model.model." + m + ".lora_B.weight", Type: quant.F32, Shape: []int64{shape[0], int64(r)}})
	}
	w, err := safetensors.Create(filepath.Join(dir, "adapter_model.safetensors"), ts, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	for k, x := range w.Tensors {
		v := make([]float32, len(x.Data)/4)
		for i := range v {
			v[i] = float32(0.05 * math.Sin(float64(7*k+i)))
		}
		quant.Quantize(quant.F32, v, x.Data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

var tinyModules = map[string][2]int64{
	"model.layers.0.self_attn.q_proj": {64, 64},
	"model.layers.1.self_attn.v_proj": {32, 64},
	"model.layers.0.mlp.down_proj":    {64, 128},
	"model.layers.1.self_attn.q_proj": {64, 64},
	"model.layers.1.mlp.down_proj":    {64, 128},
	"model.layers.0.self_attn.v_proj": {32, 64},
}

// TestLoRA: every adapted weight is W + s·B·A computed here in float64,
// rounded to float32 (within one float32 ulp, as the two sums may round in
// another order); every other tensor is copied exactly.
func TestLoRA(t *testing.T) {
	src := shared.Path(t, "models/qwen2-tiny/hf")
	for _, tc := range []struct {
		name   string
		rslora bool
		scale  float64
	}{{"lora", false, 16.0 / 4}, {"rslora", true, 16.0 / 2}} {
		t.Run(tc.name, func(t *testing.T) {
			adapter := writeAdapter(t, map[string]any{"peft_type": "LORA", "lora_alpha": 16, "use_rslora": tc.rslora, "bias": "none"}, 4, tinyModules)
			out := filepath.Join(t.TempDir(), "merged")
			if err := LoRA(adapter, src, Output{Dir: out, Cast: true, Type: quant.F32}); err != nil {
				t.Fatal(err)
			}
			got, base := open(t, out), open(t, src)
			af, err := safetensors.Open(filepath.Join(adapter, "adapter_model.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer af.Close()
			factor := func(name string) []float32 {
				for _, x := range af.Tensors {
					if x.Name == name {
						return tensor(t, x)
					}
				}
				t.Fatalf("no %s", name)
				return nil
			}
			for _, name := range base.Names() {
				w, g := tensor(t, base.Tensor(name)), tensor(t, got.Tensor(name))
				module := strings.TrimSuffix(name, ".weight")
				shape, adapted := tinyModules[module]
				for i := range w {
					want := float64(w[i])
					if adapted {
						a, b := factor("base_model.model."+module+".lora_A.weight"), factor("base_model.model."+module+".lora_B.weight")
						row, col, in := int64(i)/shape[1], int64(i)%shape[1], shape[1]
						var d float64
						for j := range int64(4) {
							d += float64(b[row*4+j]) * float64(a[j*in+col])
						}
						want += tc.scale * d
					}
					ulp := float64(math.Nextafter32(float32(math.Abs(want)), float32(math.Inf(1))) - float32(math.Abs(want)))
					if math.Abs(float64(g[i])-want) > ulp {
						t.Fatalf("%s[%d] = %v, want %v (float64)", name, i, g[i], want)
					}
				}
			}
		})
	}
}

// TestLoRAErrors: adapters aha cannot merge are refused, naming why, and
// write nothing; Adapt refuses them with the same words.
func TestLoRAErrors(t *testing.T) {
	src := shared.Path(t, "models/qwen2-tiny/hf")
	plain := func() map[string]any { return map[string]any{"lora_alpha": 8} }
	with := func(k string, v any) map[string]any { c := plain(); c[k] = v; return c }
	base, err := model.LoadHF(src)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	noFile := writeAdapter(t, plain(), 4, tinyModules)
	os.Remove(filepath.Join(noFile, "adapter_model.safetensors"))
	for _, tc := range []struct {
		name    string
		adapter string
		want    string
	}{
		{"dora", writeAdapter(t, with("use_dora", true), 4, tinyModules), "DoRA (use_dora) is not supported"},
		{"unknown module", writeAdapter(t, with("target_modules", []string{"q_proj", "lm_head"}), 4, tinyModules), `target module "lm_head" is not one aha has`},
		{"module not targeted", writeAdapter(t, with("target_modules", []string{"q_proj"}), 4, tinyModules), "which is not among the target modules"},
		{"modules to save", writeAdapter(t, with("modules_to_save", []string{"embed_tokens"}), 4, tinyModules), "modules_to_save [embed_tokens] is not supported"},
		{"wrong rank", writeAdapter(t, plain(), 4, map[string][2]int64{"model.layers.0.self_attn.q_proj": {64, 32}}), "lora_A is [4 32] and lora_B is [64 4], want [4 64] and [64 4]"},
		{"not in base", writeAdapter(t, plain(), 4, map[string][2]int64{"model.layers.7.self_attn.q_proj": {64, 64}}), "model.layers.7.self_attn.q_proj.weight, which the base model does not have"},
		{"missing adapter file", noFile, "adapter_model.safetensors: no such file"},
		{"missing config", t.TempDir(), "adapter_config.json: no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Adapt(base, tc.adapter); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Adapt: got %v, want an error containing %q", err, tc.want)
			}
			parent := t.TempDir()
			err := LoRA(tc.adapter, src, Output{Dir: filepath.Join(parent, "out")})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if left, _ := os.ReadDir(parent); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// TestAdapt: a model with an adapter folded in at load holds exactly the
// weights of the folder LoRA writes (the same fold, rounded the same way to
// the base's BF16), so on the CPU's kernels its logits are bit-identical
// to the merged folder's; closing it leaves the base serving as before.
func TestAdapt(t *testing.T) {
	src := shared.Path(t, "models/qwen2-tiny/hf")
	adapter := writeAdapter(t, map[string]any{"lora_alpha": 16}, 4, tinyModules)
	out := filepath.Join(t.TempDir(), "merged")
	if err := LoRA(adapter, src, Output{Dir: out}); err != nil {
		t.Fatal(err)
	}
	cpu := kernels.NewCPU(2)
	load := func(dir string) *model.Model {
		m, err := model.LoadHF(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		m.SetBackend(cpu)
		return m
	}
	merged, base := load(out), load(src)
	if err := merged.Ready(nil); err != nil {
		t.Fatal(err)
	}
	adapted, err := Adapt(base, adapter)
	if err != nil {
		t.Fatal(err)
	}
	if err := adapted.Ready(nil); err != nil {
		t.Fatal(err)
	}
	if adapted.Path != src || adapted.Adapter != adapter || adapted.Base() != base {
		t.Errorf("adapted model: path %s, adapter %s, base %p; want %s, %s, %p", adapted.Path, adapted.Adapter, adapted.Base(), src, adapter, base)
	}
	want := merged.Matrices()
	for name, w := range adapted.Matrices() {
		if !bytes.Equal(w.Data, want[name].Data) {
			t.Errorf("%s differs from the merged folder's", name)
		}
	}
	prompt := []int{9707, 11, 1879, 0, 576, 3974, 13876}
	logits := func(m *model.Model) []float32 {
		s, err := m.NewState(64, quant.F32)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.Forward(s, prompt, true)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(got)
	}
	got := logits(adapted)
	if !slices.Equal(got, logits(merged)) {
		t.Error("logits with the adapter folded in at load differ from the merged folder's")
	}
	if err := adapted.Close(); err != nil {
		t.Fatal(err)
	}
	if err := base.Ready(nil); err != nil {
		t.Fatal(err)
	}
	plain := logits(base)
	if slices.Equal(plain, got) {
		t.Error("the adapter changed no logit")
	}
	fresh := load(src)
	if err := fresh.Ready(nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(plain, logits(fresh)) {
		t.Error("the base's logits changed after an adapter was folded into a model made from it")
	}
}
