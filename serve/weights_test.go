package serve

import (
	"encoding/binary"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/model"
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
