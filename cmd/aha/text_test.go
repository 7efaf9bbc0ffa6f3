package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/loader"
)

// TestCompletionTextJoinsPrompt checks, on every fixture in both of its
// forms, that a sample's text is what its tokens add to the prompt's text:
// Decode(prompt) + text = Decode(prompt + completion). This is the text
// generate prints, serve returns and rollout records. On SentencePiece
// vocabularies the completion of "Answer:" keeps its leading space.
func TestCompletionTextJoinsPrompt(t *testing.T) {
	for _, rel := range []string{"", "models/stories260K/stories260K.gguf",
		"models/qwen2-tiny/qwen2-tiny-f16.gguf", "models/qwen2-tiny/hf",
		"models/qwen3-tiny/qwen3-tiny-bf16.gguf", "models/qwen3-tiny/hf",
		"models/llama3-tiny/llama3-tiny-f16.gguf", "models/llama3-tiny/hf"} {
		name := rel
		if rel == "" {
			name = "embedded"
		}
		t.Run(name, func(t *testing.T) {
			path := ""
			if rel != "" {
				path = shared.Path(t, rel)
			}
			l, err := loader.Load(path, loader.Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			e, err := l.Engine(engine.Options{CacheTokens: 2048})
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			spaced := 0
			for _, prompt := range []string{"Answer:", "Once upon a time", "Ünïcödé 日本語のテ"} {
				ids := l.Tokenizer.Encode(prompt, l.Tokenizer.AddBOS())
				out, err := e.Generate(context.Background(), engine.Request{Prompt: ids, N: 6, MaxTokens: 16,
					Sampling: engine.SamplingParams{Temperature: 1, Seed: 7}}, nil)
				if err != nil {
					t.Fatal(err)
				}
				head := l.Tokenizer.Decode(ids, true)
				for _, s := range out.Samples {
					all := l.Tokenizer.Decode(slices.Concat(ids, s.Tokens), true)
					if head+s.Text != all {
						t.Errorf("prompt %q, sample %d: %q + %q != %q", prompt, s.Index, head, s.Text, all)
					}
					if strings.HasPrefix(s.Text, " ") {
						spaced++
					}
				}
			}
			if rel == "" && spaced == 0 {
				t.Error("no stories260K completion starts with a space; its words do")
			}
		})
	}
}

// TestGenerateKeepsLeadingSpace: what generate prints after a prompt is the
// text its tokens add, so the greedy story after "Answer:" starts with the
// space its first word carries.
func TestGenerateKeepsLeadingSpace(t *testing.T) {
	stdout, stderr, code := aha(t, "generate", "-p", "Answer:", "--temp", "0", "--max-tokens", "8")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(stdout, " ") || strings.TrimSpace(stdout) == "" {
		t.Errorf("generate printed %q; want the completion with its leading space", stdout)
	}
}
