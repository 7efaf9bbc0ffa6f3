package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aha-inference/aha/internal/shared"
)

// The command tests run the real binary, built once, so exit codes, stdout
// and stderr are exactly what a user sees.
var ahaBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aha-test")
	if err != nil {
		panic(err)
	}
	ahaBin = filepath.Join(dir, "aha")
	build := exec.Command("go", "build", "-o", ahaBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building aha: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// aha runs the binary and returns stdout, stderr and the exit code.
func aha(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(ahaBin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr.String(), "panic:") || strings.Contains(stderr.String(), "goroutine ") {
		t.Fatalf("aha %q panicked:\n%s", args, stderr.String())
	}
	return stdout.String(), stderr.String(), code
}

// TestGenerateStory: with no model flag, the embedded stories260K writes
// llama.cpp's greedy story, and only the story goes to stdout.
func TestGenerateStory(t *testing.T) {
	var ref struct {
		Text string `json:"generated_text"`
	}
	data, err := os.ReadFile(shared.Path(t, "models/stories260K/reference-greedy-llama.cpp.json"))
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(data, &ref)
	stdout, stderr, code := aha(t, "generate", "-p", "Once upon a time", "--temp", "0", "--max-tokens", "64")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.TrimSuffix(stdout, "\n") != ref.Text {
		t.Errorf("story\n got %q\nwant %q", stdout, ref.Text)
	}
	if !strings.Contains(stderr, "prompt 5 tokens") || !strings.Contains(stderr, "generated 64 tokens") {
		t.Errorf("summary line missing from stderr: %s", stderr)
	}
}

func TestGenerateJSON(t *testing.T) {
	stdout, stderr, code := aha(t, "generate", "-p", "Once upon a time", "--max-tokens", "8", "--seed", "3", "--json", "--logprobs", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var s jsonSample
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("%v: %q", err, stdout)
	}
	if s.Seed != 3 || len(s.TokenIDs) != 8 || len(s.Logprobs) != 8 || s.FinishReason != "length" {
		t.Errorf("%+v", s)
	}
	again, _, _ := aha(t, "generate", "-p", "Once upon a time", "--max-tokens", "8", "--seed", "3", "--json", "--logprobs", "1")
	if again != stdout {
		t.Errorf("the same seed gave\n%s\nand\n%s", stdout, again)
	}
}

// TestGenerateSamples checks -n: one JSON line per sample in index order,
// seeds s+i, each sample the same as a lone run with its seed.
func TestGenerateSamples(t *testing.T) {
	args := []string{"generate", "-p", "Once upon a time", "--max-tokens", "12", "--seed", "5", "--json", "--logprobs", "0", "--top-k", "20"}
	stdout, stderr, code := aha(t, append(args, "-n", "4")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4: %q", len(lines), stdout)
	}
	for i, line := range lines {
		var s jsonSample
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Fatal(err)
		}
		if s.Index != i || s.Seed != uint64(5+i) || len(s.Logprobs) != len(s.TokenIDs) || s.FinishReason == "" || strings.Contains(line, "_ms") {
			t.Errorf("line %d: %s", i, line)
		}
		alone, _, _ := aha(t, append(args[:5:5], "--seed", fmt.Sprint(5+i), "--json", "--logprobs", "0", "--top-k", "20")...)
		var a jsonSample
		json.Unmarshal([]byte(alone), &a)
		if !reflect.DeepEqual(a.TokenIDs, s.TokenIDs) {
			t.Errorf("sample %d: %v, alone with seed %d: %v", i, s.TokenIDs, 5+i, a.TokenIDs)
		}
	}
	text, _, _ := aha(t, "generate", "-p", "Once upon a time", "--max-tokens", "12", "-n", "3")
	if strings.Count(text, "--- sample ") != 3 || !strings.Contains(text, "finish: length") {
		t.Errorf("text output of -n 3:\n%s", text)
	}
}

// TestBadInput: every mistake gets a clear message and a non-zero exit.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	noConfig := filepath.Join(dir, "empty")
	os.Mkdir(noConfig, 0o755)
	alien := filepath.Join(dir, "alien")
	os.Mkdir(alien, 0o755)
	os.WriteFile(filepath.Join(alien, "config.json"), []byte(`{"model_type": "mamba", "architectures": ["MambaForCausalLM"]}`), 0o644)
	garbage := filepath.Join(dir, "garbage.gguf")
	os.WriteFile(garbage, []byte("this is not a model"), 0o644)
	long := strings.Repeat("once upon a time ", 700)

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"generate", "-m", filepath.Join(dir, "missing.gguf"), "-p", "hi"}, "missing.gguf: no such file"},
		{[]string{"generate", "-m", noConfig, "-p", "hi"}, "has no config.json"},
		{[]string{"generate", "-m", alien, "-p", "hi"}, `unsupported architecture "mamba" (supported: llama, qwen2, qwen3)`},
		{[]string{"generate", "-m", garbage, "-p", "hi"}, "not a GGUF file"},
		{[]string{"generate", "-p", ""}, "the prompt is empty"},
		{[]string{"generate"}, "the prompt is empty"},
		{[]string{"generate", "-p", long}, "the context holds 2048"},
		{[]string{"generate", "-p", "hi", "--temp", "-1"}, "temperature -1 must be ≥ 0"},
		{[]string{"generate", "-p", "hi", "--top-p", "2"}, "top_p 2 must be in (0, 1]"},
		{[]string{"generate", "-p", "hi", "--bogus"}, "flag provided but not defined"},
		{[]string{"nosuchcommand"}, `unknown command "nosuchcommand"`},
	} {
		_, stderr, code := aha(t, tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("aha %q: exit %d, stderr %q; want an error containing %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestTokenize(t *testing.T) {
	stdout, _, code := aha(t, "tokenize", "Once upon a time")
	if code != 0 || stdout != "1 403 407 261 378\n" {
		t.Errorf("exit %d, stdout %q", code, stdout)
	}
	stdout, _, _ = aha(t, "tokenize", "--no-bos", "Once upon a time")
	if stdout != "403 407 261 378\n" {
		t.Errorf("--no-bos: %q", stdout)
	}
	// A vocab-only GGUF is enough.
	vocab := shared.Path(t, "testdata/vocab/ggml-vocab-qwen2.gguf")
	stdout, _, code = aha(t, "tokenize", "-m", vocab, "--json", "The capital of France is")
	var got struct {
		IDs    []int    `json:"ids"`
		Pieces []string `json:"pieces"`
	}
	if err := json.Unmarshal([]byte(stdout), &got); err != nil || code != 0 {
		t.Fatalf("exit %d, %v: %q", code, err, stdout)
	}
	if want := []int{785, 6722, 315, 9625, 374}; !slices.Equal(got.IDs, want) || strings.Join(got.Pieces, "") != "The capital of France is" {
		t.Errorf("got %+v, want ids %v", got, want)
	}
	// --chat renders with the model's template; the prompt goes to stderr.
	stdout, stderr, code := aha(t, "tokenize", "-m", shared.Path(t, "models/qwen3-tiny/hf"), "--chat", "What is 2+2?")
	if code != 0 || stdout != "151644 872 198 3838 374 220 17 10 17 30 151645 198 151644 77091 198\n" ||
		stderr != "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n" {
		t.Errorf("--chat: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
