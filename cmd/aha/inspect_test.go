package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/aha-inference/aha/internal/shared"
)

// inspected is the part of `aha inspect --json` the tests read.
type inspected struct {
	Architecture string `json:"architecture"`
	Config       *struct {
		VocabSize int `json:"vocab_size"`
		Hidden    int `json:"hidden_size"`
		Layers    int `json:"layers"`
		Heads     int `json:"heads"`
		KVHeads   int `json:"kv_heads"`
	} `json:"config"`
	Tokenizer struct {
		Model  string `json:"model"`
		Tokens int    `json:"tokens"`
		BOS    *int   `json:"bos_token_id"`
	} `json:"tokenizer"`
	Tensors []struct {
		Name  string   `json:"name"`
		Type  string   `json:"type"`
		Shape []uint64 `json:"shape"`
		Bytes uint64   `json:"bytes"`
	} `json:"tensors"`
}

func inspectJSON(t *testing.T, args ...string) inspected {
	t.Helper()
	stdout, stderr, code := aha(t, append([]string{"inspect", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("aha inspect %v: exit %d: %s", args, code, stderr)
	}
	var s inspected
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("aha inspect %v: %v\n%s", args, err, stdout)
	}
	return s
}

// TestInspectStories260K: the shared file and the embedded copy (no path)
// report the model SOURCE.md describes.
func TestInspectStories260K(t *testing.T) {
	for _, args := range [][]string{{shared.Path(t, "models/stories260K/stories260K.gguf")}, nil} {
		s := inspectJSON(t, args...)
		c := s.Config
		if s.Architecture != "llama" || c == nil || len(s.Tensors) != 48 || c.Layers != 5 || c.Heads != 8 || c.KVHeads != 4 || c.Hidden != 64 || c.VocabSize != 512 {
			t.Errorf("inspect %v: %s, %d tensors, config %+v", args, s.Architecture, len(s.Tensors), c)
		}
		if s.Tokenizer.Model != "llama" || s.Tokenizer.Tokens != 512 || s.Tokenizer.BOS == nil || *s.Tokenizer.BOS != 1 {
			t.Errorf("inspect %v: tokenizer %+v", args, s.Tokenizer)
		}
		if e := s.Tensors[0]; e.Name != "token_embd.weight" || e.Type != "F32" || len(e.Shape) != 2 || e.Shape[0] != 64 || e.Shape[1] != 512 || e.Bytes != 64*512*4 {
			t.Errorf("first tensor %+v", e)
		}
	}
	stdout, _, code := aha(t, "inspect")
	if code != 0 || !strings.Contains(stdout, "48 tensors, 292,800 parameters, 1,171,200 bytes") || !strings.Contains(stdout, "blk.4.ffn_down.weight") {
		t.Errorf("text output (exit %d):\n%s", code, stdout)
	}
}

// TestInspectHFLikeGGUF: an HF folder is described with the GGUF names and
// shapes of the file llama.cpp's converter made from it.
func TestInspectHFLikeGGUF(t *testing.T) {
	hf := inspectJSON(t, shared.Path(t, "models/qwen3-tiny/hf"))
	gg := inspectJSON(t, shared.Path(t, "models/qwen3-tiny/qwen3-tiny-bf16.gguf"))
	shapes := map[string][]uint64{}
	for _, e := range gg.Tensors {
		shapes[e.Name] = e.Shape
	}
	if len(hf.Tensors) != len(gg.Tensors) {
		t.Errorf("%d tensors in the folder, %d in the GGUF", len(hf.Tensors), len(gg.Tensors))
	}
	for _, e := range hf.Tensors {
		if want, ok := shapes[e.Name]; !ok || !reflect.DeepEqual(e.Shape, want) {
			t.Errorf("%s: shape %v, the GGUF has %v (present: %v)", e.Name, e.Shape, want, ok)
		}
	}
	if !reflect.DeepEqual(hf.Config, gg.Config) || !reflect.DeepEqual(hf.Tokenizer, gg.Tokenizer) {
		t.Errorf("config %+v / %+v, tokenizer %+v / %+v", hf.Config, gg.Config, hf.Tokenizer, gg.Tokenizer)
	}
}

func TestInspectErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"inspect", "/no/such/model.gguf"}, 1, "no such file"},
		{[]string{"inspect", "a", "b"}, 2, "one path"},
		{[]string{"inspect", t.TempDir()}, 1, "no config.json"},
	} {
		_, stderr, code := aha(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("aha %q: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}
