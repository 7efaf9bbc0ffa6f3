package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aha-inference/aha/internal/shared"
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
