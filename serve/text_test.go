package serve

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aha-inference/aha/engine"
)

// TestCompletionTextJoinsPrompt: a completion's text, whole or streamed, is
// what its tokens add to the prompt's text, so echo's prompt + completion
// is Decode(prompt + completion). stories260K is a SentencePiece
// vocabulary, whose decoder drops the leading space of a whole text only.
func TestCompletionTextJoinsPrompt(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	req := map[string]any{"prompt": "Answer:", "max_tokens": 12, "n": 4, "seed": 3, "temperature": 1,
		"return_token_ids": true}
	var resp struct {
		Choices []struct {
			Index          int    `json:"index"`
			Text           string `json:"text"`
			PromptTokenIDs []int  `json:"prompt_token_ids"`
			TokenIDs       []int  `json:"token_ids"`
		} `json:"choices"`
	}
	ts.postOK(t, "/v1/completions", req, &resp)
	spaced := 0
	for _, c := range resp.Choices {
		head := ts.tok.Decode(c.PromptTokenIDs, true)
		if all := ts.tok.Decode(slices.Concat(c.PromptTokenIDs, c.TokenIDs), true); head+c.Text != all {
			t.Errorf("choice %d: %q + %q != %q", c.Index, head, c.Text, all)
		}
		if strings.HasPrefix(c.Text, " ") {
			spaced++
		}
	}
	if len(resp.Choices) != 4 || spaced == 0 {
		t.Fatalf("%d choices, %d starting with a space: %+v", len(resp.Choices), spaced, resp.Choices)
	}

	// Streamed, the deltas join into the same texts.
	req["stream"] = true
	texts := make([]string, 4)
	for _, raw := range ts.stream(t, "/v1/completions", req) {
		var chunk struct {
			Choices []struct {
				Index int    `json:"index"`
				Text  string `json:"text"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(raw, &chunk); err != nil {
			t.Fatal(err)
		}
		for _, c := range chunk.Choices {
			texts[c.Index] += c.Text
		}
	}
	for _, c := range resp.Choices {
		if texts[c.Index] != c.Text {
			t.Errorf("choice %d streamed %q, whole %q", c.Index, texts[c.Index], c.Text)
		}
	}

	// echo puts the prompt's text in front: the full text.
	delete(req, "stream")
	req["echo"] = true
	ts.postOK(t, "/v1/completions", req, &resp)
	for _, c := range resp.Choices {
		if all := ts.tok.Decode(slices.Concat(c.PromptTokenIDs, c.TokenIDs), true); c.Text != all {
			t.Errorf("echo, choice %d: %q, want %q", c.Index, c.Text, all)
		}
	}
}
