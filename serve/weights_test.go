package serve

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/merge"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/quant"
	"github.com/aha-inference/aha/safetensors"
	"github.com/aha-inference/aha/tokenizer"
)

// newQwenServer serves the tiny Qwen2 checkpoint, whose byte-level
// vocabulary has tokens holding parts of characters, and returns its folder.
func newQwenServer(t *testing.T) (*testServer, string) {
	t.Helper()
	dir := shared.Path(t, "models/qwen2-tiny/hf")
	m, err := model.LoadHF(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.FromHF(dir)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	return newTestServer(t, m, tok, Config{}, engine.Options{CacheTokens: 4096}), dir
}

// perturbedCopy writes a copy of the Hugging Face folder dir into a new
// temporary folder with the BF16 tensor name negated, and returns it.
func perturbedCopy(t *testing.T, dir, name string) string {
	t.Helper()
	out := t.TempDir()
	for _, f := range []string{"config.json", "generation_config.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	// A safetensors file: an 8-byte little-endian header size, a JSON
	// header of tensor offsets into the data after it, then the data.
	n := binary.LittleEndian.Uint64(data)
	var header map[string]struct {
		Dtype   string   `json:"dtype"`
		Offsets [2]int64 `json:"data_offsets"`
	}
	if err := json.Unmarshal(data[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	h, ok := header[name]
	if !ok || h.Dtype != "BF16" {
		t.Fatalf("%s: no BF16 tensor %s", dir, name)
	}
	body := data[8+n:]
	for i := h.Offsets[0] + 1; i < h.Offsets[1]; i += 2 {
		body[i] ^= 0x80 // the sign bit of each little-endian bfloat16
	}
	if err := os.WriteFile(filepath.Join(out, "model.safetensors"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLoadWeights swaps between two checkpoints of one architecture, and
// checks that failed loads leave the served weights alone.
func TestLoadWeights(t *testing.T) {
	ts, dir := newQwenServer(t)
	tok := ts.tok
	negated := perturbedCopy(t, dir, "model.norm.weight")

	prompt := tok.Encode("The capital of France is", true)
	generate := func() trlOut {
		var out trlOut
		ts.postOK(t, "/generate/", map[string]any{"prompts": [][]int{prompt}, "max_tokens": 8, "temperature": 0, "logprobs": 0}, &out)
		return out
	}
	load := func(path string) (int, string) {
		status, body := ts.post(t, "/load_weights/", map[string]any{"path": path})
		return status, string(body)
	}
	original := generate()

	if status, body := load(negated); status != http.StatusOK || !strings.Contains(body, negated) {
		t.Fatalf("loading %s: %d %s", negated, status, body)
	}
	if got := ts.eng.Model().Path; got != negated {
		t.Errorf("serving %s after the swap, want %s", got, negated)
	}
	swapped := generate()
	if reflect.DeepEqual(swapped.Logprobs, original.Logprobs) {
		t.Errorf("the negated final norm changed nothing: %v", swapped)
	}

	truncated := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "model.safetensors" {
			b = b[:len(b)/2]
		}
		if err := os.WriteFile(filepath.Join(truncated, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []struct{ path, want string }{
		{filepath.Join(t.TempDir(), "missing"), "config.json"},
		{shared.Path(t, "models/llama3-tiny/hf"), "differs"},
		{truncated, "model.safetensors"},
		{shared.Path(t, "models/qwen2-tiny/qwen2-tiny-f16.gguf"), "config.json"},
	} {
		status, body := load(bad.path)
		if status != http.StatusBadRequest || !strings.Contains(body, bad.want) || !strings.Contains(body, `"param":"path"`) {
			t.Errorf("loading %s: %d %s; want 400 naming %q", bad.path, status, body, bad.want)
		}
		if got := generate(); !reflect.DeepEqual(got, swapped) {
			t.Errorf("after failing to load %s the output changed: %v, want %v", bad.path, got, swapped)
		}
	}

	if status, body := load(dir); status != http.StatusOK {
		t.Fatalf("loading %s back: %d %s", dir, status, body)
	}
	if got := generate(); !reflect.DeepEqual(got, original) {
		t.Errorf("after swapping back: %v, want the original %v", got, original)
	}
	checkBlocksFree(t, ts)
}

// writeAdapter writes a PEFT LoRA adapter of rank 2 for the tiny Qwen2's
// layer 0 q_proj and layer 1 down_proj into a new folder, its factors
// cos(seed + i)/10, and returns the folder.
func writeAdapter(t *testing.T, seed float64) string {
	t.Helper()
	dir := t.TempDir()
	config := `{"peft_type": "LORA", "r": 2, "lora_alpha": 8, "target_modules": ["q_proj", "down_proj"]}`
	if err := os.WriteFile(filepath.Join(dir, "adapter_config.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	for _, m := range []struct {
		name    string
		out, in int64
	}{{"model.layers.0.self_attn.q_proj", 64, 64}, {"model.layers.1.mlp.down_proj", 64, 128}} {
		ts = append(ts,
			safetensors.Tensor{Name: "base_model.model." + m.name + ".lora_A.weight", Type: quant.F32, Shape: []int64{2, m.in}},
			safetensors.Tensor{Name: "base_model.model." + m.name + ".lora_B.weight", Type: quant.F32, Shape: []int64{m.out, 2}})
	}
	w, err := safetensors.Create(filepath.Join(dir, "adapter_model.safetensors"), ts, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range w.Tensors {
		v := make([]float32, len(x.Data)/4)
		for i := range v {
			v[i] = float32(math.Cos(seed+float64(i)) / 10)
		}
		quant.Quantize(quant.F32, v, x.Data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestLoadAdapter swaps adapters in: each is folded into the base the
// server started with (not into the adapter before it), giving exactly
// what the folder aha merge --lora writes gives; a bad adapter leaves the
// served weights alone, and a full checkpoint replaces adapter and base.
func TestLoadAdapter(t *testing.T) {
	ts, dir := newQwenServer(t)
	prompt := ts.tok.Encode("The capital of France is", true)
	generate := func() trlOut {
		var out trlOut
		ts.postOK(t, "/generate/", map[string]any{"prompts": [][]int{prompt}, "max_tokens": 8, "temperature": 0, "logprobs": 0}, &out)
		return out
	}
	load := func(path string) {
		t.Helper()
		if status, body := ts.post(t, "/load_weights/", map[string]any{"path": path}); status != http.StatusOK {
			t.Fatalf("loading %s: %d %s", path, status, body)
		}
	}
	adapter, other := writeAdapter(t, 0), writeAdapter(t, 1)
	merged := filepath.Join(t.TempDir(), "merged")
	if err := merge.LoRA(adapter, dir, merge.Output{Dir: merged}); err != nil {
		t.Fatal(err)
	}
	original := generate()
	load(merged)
	want := generate()
	load(dir)

	load(adapter)
	if m := ts.eng.Model(); m.Adapter != adapter || m.Base().Path != dir {
		t.Errorf("serving %s with the adapter %q, want %s with %s", m.Base().Path, m.Adapter, dir, adapter)
	}
	got := generate()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("with the adapter swapped in: %v, want the merged folder's %v", got, want)
	}
	if reflect.DeepEqual(got, original) {
		t.Error("the adapter changed nothing")
	}
	load(other)
	if reflect.DeepEqual(generate(), want) {
		t.Error("another adapter changed nothing")
	}
	load(adapter)
	if got := generate(); !reflect.DeepEqual(got, want) {
		t.Errorf("the adapter again, after another: %v, want %v (adapters do not add up)", got, want)
	}

	missing := writeAdapter(t, 0)
	os.Remove(filepath.Join(missing, "adapter_model.safetensors"))
	truncated := writeAdapter(t, 0)
	path := filepath.Join(truncated, "adapter_model.safetensors")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:len(b)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	wrongShape := writeAdapter(t, 0)
	os.WriteFile(filepath.Join(wrongShape, "adapter_config.json"), []byte(`{"r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "down_proj"]}`), 0o644)
	notTargeted := writeAdapter(t, 0)
	os.WriteFile(filepath.Join(notTargeted, "adapter_config.json"), []byte(`{"r": 2, "lora_alpha": 8, "target_modules": ["q_proj"]}`), 0o644)
	for _, bad := range []struct{ path, want string }{
		{missing, "adapter_model.safetensors: no such file"},
		{truncated, "adapter_model.safetensors"},
		{wrongShape, "want [4 64] and [64 4] at r=4"},
		{notTargeted, "which is not among the target modules"},
	} {
		status, body := ts.post(t, "/load_weights/", map[string]any{"path": bad.path})
		if status != http.StatusBadRequest || !strings.Contains(string(body), bad.want) || !strings.Contains(string(body), "previous weights are still served") {
			t.Errorf("loading %s: %d %s; want 400 naming %q", bad.path, status, body, bad.want)
		}
		if got := generate(); !reflect.DeepEqual(got, want) {
			t.Errorf("after failing to load %s the output changed: %v, want %v", bad.path, got, want)
		}
	}

	load(dir)
	if m := ts.eng.Model(); m.Adapter != "" || m.Base() != m {
		t.Errorf("a full checkpoint after an adapter: serving %s with the adapter %q", m.Path, m.Adapter)
	}
	if got := generate(); !reflect.DeepEqual(got, original) {
		t.Errorf("after swapping the base back in: %v, want the original %v", got, original)
	}
	checkBlocksFree(t, ts)
}
