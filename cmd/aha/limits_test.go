//go:build linux

package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aha-inference/aha/gguf"
)

// TestInspectHugeCounts: a file of under a kilobyte claiming 2^24 layers
// is answered with an error in under a second and 50 MB, where the
// per-layer structures alone would be 10 GB. The binary runs under a 2 GB
// address-space limit, so that a regression fails here instead of taking
// the machine down.
func TestInspectHugeCounts(t *testing.T) {
	dir := t.TempDir()
	ggufPath := filepath.Join(dir, "huge.gguf")
	w := &gguf.Writer{}
	w.Set("general.architecture", "llama")
	for k, v := range map[string]uint32{"embedding_length": 64, "block_count": 1 << 24, "attention.head_count": 4,
		"feed_forward_length": 128, "context_length": 256, "vocab_size": 32} {
		w.Set("llama."+k, v)
	}
	w.Set("llama.attention.layer_norm_rms_epsilon", float32(1e-5))
	if err := w.WriteFile(ggufPath); err != nil {
		t.Fatal(err)
	}
	hf := filepath.Join(dir, "hf")
	os.Mkdir(hf, 0o755)
	cfg, _ := json.Marshal(map[string]any{"model_type": "llama", "vocab_size": 32, "hidden_size": 64,
		"num_hidden_layers": 1 << 24, "num_attention_heads": 4, "intermediate_size": 128,
		"max_position_embeddings": 256, "rms_norm_eps": 1e-5})
	header := []byte(`{"model.norm.weight": {"dtype": "F32", "shape": [64], "data_offsets": [0, 256]}}`)
	st := append(binary.LittleEndian.AppendUint64(nil, uint64(len(header))), header...)
	for name, data := range map[string][]byte{"config.json": cfg, "model.safetensors": append(st, make([]byte, 256)...)} {
		if err := os.WriteFile(filepath.Join(hf, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, path := range []string{ggufPath, filepath.Join(hf, "config.json")} {
		if st, err := os.Stat(path); err != nil || st.Size() > 1024 {
			t.Fatalf("%s: %v, %v; want a file under 1 KB", path, st, err)
		}
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"inspect", ggufPath}, 0, "config: llama.block_count 16777216 is out of range"},
		{[]string{"inspect", hf}, 1, "config.json: num_hidden_layers 16777216 is out of range"},
		{[]string{"generate", "-t", "2", "-m", ggufPath, "-p", "x"}, 1, "llama.block_count 16777216 is out of range"},
		{[]string{"generate", "-t", "2", "-m", hf, "-p", "x"}, 1, "num_hidden_layers 16777216 is out of range"},
	} {
		cmd := exec.Command("sh", append([]string{"-c", `ulimit -v 2000000 && exec "$0" "$@"`, ahaBin}, tc.args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		err := cmd.Run()
		took := time.Since(start)
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		maxRSS := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
		out := stdout.String() + stderr.String()
		t.Logf("aha %s: exit %d in %v, peak resident %d MB", strings.Join(tc.args, " "), code, took.Round(time.Millisecond), maxRSS>>20)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("aha %q: exit %d, output %q; want exit %d mentioning %q", tc.args, code, out, tc.code, tc.want)
		}
		if took > time.Second || maxRSS > 50<<20 {
			t.Errorf("aha %q took %v and %d MB; want under a second and 50 MB", tc.args, took, maxRSS>>20)
		}
	}
}
