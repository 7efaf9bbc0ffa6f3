package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/quant"
	"github.com/aha-inference/aha/safetensors"
)

// TestMergeCommand: aha merge writes a folder that aha generate runs, says
// what it wrote, and refuses bad command lines with exit status 2.
func TestMergeCommand(t *testing.T) {
	src := shared.Path(t, "models/qwen2-tiny/hf")
	out := filepath.Join(t.TempDir(), "merged")
	_, stderr, code := aha(t, "merge", "--method", "linear", "-o", out,
		"--model", "ded="+src+":1.0", "--model", "ind="+src+":0.2", "--model", "abd="+src+":0.1", "--threads", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "wrote "+out) || !strings.Contains(stderr, "peak memory") {
		t.Errorf("summary missing: %s", stderr)
	}
	want, _, _ := aha(t, "generate", "-m", src, "-p", "Hello", "--temp", "0", "--max-tokens", "8", "-t", "2")
	got, stderr, code := aha(t, "generate", "-m", out, "-p", "Hello", "--temp", "0", "--max-tokens", "8", "-t", "2")
	if code != 0 || got != want {
		t.Errorf("the merge of a model with itself generates %q (exit %d: %s), want %q", got, code, stderr, want)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--method", "dare", "--model", "a=" + src}, 1, `unknown merge method "dare"`},
		{[]string{"--model", "a=" + src, "-t", "2"}, 2, "--t is slerp's interpolation parameter"},
		{[]string{"--model", "a"}, 2, "want name=DIR"},
		{[]string{"--method", "ties", "--model", "a=" + src}, 1, "ties needs a base model"},
		{[]string{"--lora", src}, 2, "--lora needs --base"},
		{[]string{"--model", "a=" + src, "-o", out}, 1, "already exists"},
	} {
		args := append([]string{"merge"}, tc.args...)
		if !strings.Contains(strings.Join(tc.args, " "), "-o") {
			args = append(args, "-o", filepath.Join(t.TempDir(), "x"))
		}
		_, stderr, code := aha(t, args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("aha %q: exit %d, %s; want exit %d and %q", args, code, stderr, tc.code, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "model.safetensors.index.json")); err != nil {
		t.Error(err)
	}
}

// TestLoRAFlag: generate --lora folds the adapter in at load and samples
// exactly what the folder aha merge --lora writes samples (the same
// tokens and log-probabilities), unlike the base; a bad adapter is an
// error naming it.
func TestLoRAFlag(t *testing.T) {
	src := shared.Path(t, "models/qwen2-tiny/hf")
	adapter := t.TempDir()
	os.WriteFile(filepath.Join(adapter, "adapter_config.json"), []byte(`{"peft_type": "LORA", "r": 2, "lora_alpha": 8, "target_modules": ["q_proj", "up_proj"]}`), 0o644)
	var ts []safetensors.Tensor
	for _, m := range []struct {
		name    string
		out, in int64
	}{{"model.layers.0.self_attn.q_proj", 64, 64}, {"model.layers.1.mlp.up_proj", 128, 64}} {
		ts = append(ts,
			safetensors.Tensor{Name: "base_model.model." + m.name + ".lora_A.weight", Type: quant.F32, Shape: []int64{2, m.in}},
			safetensors.Tensor{Name: "base_model.model." + m.name + ".lora_B.weight", Type: quant.F32, Shape: []int64{m.out, 2}})
	}
	w, err := safetensors.Create(filepath.Join(adapter, "adapter_model.safetensors"), ts, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, x := range w.Tensors {
		v := make([]float32, len(x.Data)/4)
		for i := range v {
			v[i] = float32(0.1 * math.Cos(float64(3*k+i)))
		}
		quant.Quantize(quant.F32, v, x.Data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "merged")
	if _, stderr, code := aha(t, "merge", "--lora", adapter, "--base", src, "-o", out); code != 0 {
		t.Fatalf("merge: exit %d: %s", code, stderr)
	}
	gen := func(args ...string) string {
		args = append([]string{"generate", "-p", "Hello", "--max-tokens", "12", "--seed", "1", "--json", "--logprobs", "1", "-t", "2"}, args...)
		stdout, stderr, code := aha(t, args...)
		if code != 0 {
			t.Fatalf("aha %q: exit %d: %s", args, code, stderr)
		}
		return stdout
	}
	want, got := gen("-m", out), gen("-m", src, "--lora", adapter)
	if got != want {
		t.Errorf("generate --lora gave\n%s\nthe merged folder\n%s", got, want)
	}
	if gen("-m", src) == want {
		t.Error("the adapter changed nothing")
	}
	os.Remove(filepath.Join(adapter, "adapter_model.safetensors"))
	_, stderr, code := aha(t, "generate", "-m", src, "--lora", adapter, "-p", "Hello", "-t", "2")
	if code != 1 || !strings.Contains(stderr, "--lora "+adapter+": adapter:") || !strings.Contains(stderr, "no such file") {
		t.Errorf("a missing adapter file: exit %d, %s", code, stderr)
	}
}
