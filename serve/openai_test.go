package serve

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/tokenizer/template"
)

type completionOut struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Index    int    `json:"index"`
		Text     string `json:"text"`
		Logprobs *struct {
			Tokens        []string             `json:"tokens"`
			TokenLogprobs []*float64           `json:"token_logprobs"`
			TopLogprobs   []map[string]float64 `json:"top_logprobs"`
			TextOffset    []int                `json:"text_offset"`
		} `json:"logprobs"`
		FinishReason   *string `json:"finish_reason"`
		PromptTokenIDs []int   `json:"prompt_token_ids"`
		TokenIDs       []int   `json:"token_ids"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

func TestModels(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{Name: "stories"}, engine.Options{})
	status, body := ts.get(t, "/v1/models")
	var out struct {
		Object string `json:"object"`
		Data   []struct {
			ID          string `json:"id"`
			Object      string `json:"object"`
			MaxModelLen int    `json:"max_model_len"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); status != 200 || err != nil {
		t.Fatalf("status %d, %v: %s", status, err, body)
	}
	if out.Object != "list" || len(out.Data) != 1 || out.Data[0].ID != "stories" || out.Data[0].MaxModelLen != ts.eng.Context() {
		t.Errorf("got %s", body)
	}
	list := body

	// GET /v1/models/{id}: OpenAI's Model object (id, object "model",
	// created, owned_by), the list's entry; ids may hold slashes.
	for _, name := range []string{"stories", "org/stories-260K"} {
		ts := newTestServer(t, nil, nil, Config{Name: name}, engine.Options{})
		for _, path := range []string{"/v1/models/" + name, "/v1/models/" + url.PathEscape(name), "/v1/models/" + name + "/"} {
			status, body := ts.get(t, path)
			var m struct {
				ID      *string `json:"id"`
				Object  *string `json:"object"`
				Created *int64  `json:"created"`
				OwnedBy *string `json:"owned_by"`
			}
			if err := json.Unmarshal(body, &m); status != 200 || err != nil || m.ID == nil || *m.ID != name || m.Object == nil || *m.Object != "model" ||
				m.Created == nil || *m.Created <= 0 || m.OwnedBy == nil {
				t.Errorf("GET %s: %d %s", path, status, body)
			}
		}
	}
	var entry struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(list, &entry); err != nil {
		t.Fatal(err)
	}
	if _, one := ts.get(t, "/v1/models/stories"); !reflect.DeepEqual(bytes.TrimSpace(one), []byte(entry.Data[0])) {
		t.Errorf("GET /v1/models/stories gave %s, the list %s", one, entry.Data[0])
	}
	for _, name := range []string{"gpt-4", "stories/x", ""} {
		status, body := ts.get(t, "/v1/models/"+name+"/")
		var e struct {
			Error struct {
				Message string `json:"message"`
				Param   string `json:"param"`
				Code    string `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal(body, &e); status != http.StatusNotFound || err != nil || !strings.Contains(e.Error.Message, "the model "+name+" ") ||
			e.Error.Param != "model" || e.Error.Code != "model_not_found" {
			t.Errorf("GET /v1/models/%s/: %d %s, want a 404 naming the model", name, status, body)
		}
	}
}

// TestCompletions checks a completion against the engine run directly, in
// every prompt form.
func TestCompletions(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{Name: "stories"}, engine.Options{})
	const text = "Once upon a time"
	ids := ts.tok.Encode(text, true)
	want, err := ts.eng.Generate(t.Context(), engine.Request{Prompt: ids, N: 2, MaxTokens: 24,
		Sampling: engine.SamplingParams{Temperature: 0.8, TopP: 1, Seed: 7}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, prompt := range []any{text, ids, []any{text}, []any{ids}} {
		var out completionOut
		ts.postOK(t, "/v1/completions", map[string]any{"model": "stories", "prompt": prompt, "n": 2, "max_tokens": 24,
			"temperature": 0.8, "seed": 7, "return_token_ids": true}, &out)
		if out.Object != "text_completion" || !strings.HasPrefix(out.ID, "cmpl-") || out.Model != "stories" || len(out.Choices) != 2 {
			t.Fatalf("prompt %v: %+v", prompt, out)
		}
		completion := 0
		for i, c := range out.Choices {
			s := want.Samples[i]
			if c.Index != i || c.Text != s.Text || !reflect.DeepEqual(c.TokenIDs, s.Tokens) || *c.FinishReason != s.FinishReason {
				t.Errorf("prompt %v, choice %d: got %q %v %s, want %q %v %s", prompt, i, c.Text, c.TokenIDs, *c.FinishReason, s.Text, s.Tokens, s.FinishReason)
			}
			if !reflect.DeepEqual(c.PromptTokenIDs, ids) {
				t.Errorf("prompt_token_ids %v, want %v", c.PromptTokenIDs, ids)
			}
			completion += len(c.TokenIDs)
		}
		if u := out.Usage; u.PromptTokens != len(ids) || u.CompletionTokens != completion || u.TotalTokens != len(ids)+completion {
			t.Errorf("usage %+v", *u)
		}
	}
}

// TestCompletionsManyPrompts checks choice order (prompt-major) and echo.
func TestCompletionsManyPrompts(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	prompts := []string{"Once upon a time", "The cat", "Tom"}
	var out completionOut
	ts.postOK(t, "/v1/completions", map[string]any{"prompt": prompts, "n": 3, "max_tokens": 8, "temperature": 0, "echo": true}, &out)
	if len(out.Choices) != 9 {
		t.Fatalf("%d choices, want 9", len(out.Choices))
	}
	for i, c := range out.Choices {
		var one completionOut
		ts.postOK(t, "/v1/completions", map[string]any{"prompt": prompts[i/3], "max_tokens": 8, "temperature": 0}, &one)
		if c.Index != i || c.Text != prompts[i/3]+one.Choices[0].Text {
			t.Errorf("choice %d (index %d): %q, want the prompt then %q", i, c.Index, c.Text, one.Choices[0].Text)
		}
	}
}

// TestCompletionLogprobs checks the legacy logprobs object, with echo.
func TestCompletionLogprobs(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	ids := ts.tok.Encode("Once upon a time", true)
	var out completionOut
	ts.postOK(t, "/v1/completions", map[string]any{"prompt": ids, "max_tokens": 12, "logprobs": 3, "echo": true,
		"temperature": 0.7, "seed": 3, "return_token_ids": true}, &out)
	c := out.Choices[0]
	l := c.Logprobs
	n := len(ids) + len(c.TokenIDs)
	if len(l.Tokens) != n || len(l.TokenLogprobs) != n || len(l.TopLogprobs) != n || len(l.TextOffset) != n {
		t.Fatalf("logprobs lengths %d %d %d %d, want %d", len(l.Tokens), len(l.TokenLogprobs), len(l.TopLogprobs), len(l.TextOffset), n)
	}
	if l.TokenLogprobs[0] != nil || l.TopLogprobs[0] != nil {
		t.Errorf("the first prompt token has a logprob: %v %v", l.TokenLogprobs[0], l.TopLogprobs[0])
	}
	all := append(append([]int{}, ids...), c.TokenIDs...)
	for i := 1; i < n; i++ {
		lp := *l.TokenLogprobs[i]
		if lp > 0 || math.IsNaN(lp) {
			t.Errorf("position %d: logprob %g", i, lp)
		}
		if l.Tokens[i] != ts.tok.TokenText(all[i]) {
			t.Errorf("position %d: token %q, want %q", i, l.Tokens[i], ts.tok.TokenText(all[i]))
		}
		// The top dict holds 3 alternatives and the chosen token.
		if got, ok := l.TopLogprobs[i][l.Tokens[i]]; !ok || math.Abs(got-lp) > 1e-6 || len(l.TopLogprobs[i]) < 3 || len(l.TopLogprobs[i]) > 4 {
			t.Errorf("position %d: top %v lacks the token %q at %g", i, l.TopLogprobs[i], l.Tokens[i], lp)
		}
		if l.TextOffset[i] != l.TextOffset[i-1]+utf8.RuneCountInString(l.Tokens[i-1]) {
			t.Errorf("position %d: text offset %d after %d", i, l.TextOffset[i], l.TextOffset[i-1])
		}
	}
	// The completion's logprobs are the engine's.
	want, err := ts.eng.Generate(t.Context(), engine.Request{Prompt: ids, MaxTokens: 12, Logprobs: true,
		Sampling: engine.SamplingParams{Temperature: 0.7, TopP: 1, Seed: 3}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, lp := range want.Samples[0].Logprobs {
		if got := *l.TokenLogprobs[len(ids)+i]; float32(got) != lp { // float32 written as its shortest form
			t.Errorf("token %d: logprob %g, engine %g", i, got, lp)
		}
	}
}

type chatOut struct {
	Object  string `json:"object"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		Logprobs *struct {
			Content []chatLP `json:"content"`
		} `json:"logprobs"`
		FinishReason string `json:"finish_reason"`
		TokenIDs     []int  `json:"token_ids"`
	} `json:"choices"`
	PromptTokenIDs []int `json:"prompt_token_ids"`
	Usage          struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

type chatLP struct {
	Token       string   `json:"token"`
	Logprob     float64  `json:"logprob"`
	Bytes       []int    `json:"bytes"`
	TopLogprobs []chatLP `json:"top_logprobs"`
}

func TestChatCompletions(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	msgs := []map[string]any{{"role": "system", "content": "Tell a story."}, {"role": "user", "content": []any{map[string]any{"type": "text", "text": "Once upon"}, map[string]any{"type": "text", "text": " a time"}}}}
	var out chatOut
	ts.postOK(t, "/v1/chat/completions", map[string]any{"messages": msgs, "max_tokens": 16, "n": 2, "logprobs": true,
		"top_logprobs": 2, "seed": 5, "return_token_ids": true}, &out)
	wantPrompt, _, err := ts.srv.cfg.Chat.Prompt([]template.Message{{"role": "system", "content": "Tell a story."}, {"role": "user", "content": "Once upon a time"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Object != "chat.completion" || len(out.Choices) != 2 || !reflect.DeepEqual(out.PromptTokenIDs, wantPrompt) || out.Usage.PromptTokens != len(wantPrompt) {
		t.Fatalf("%+v", out)
	}
	for i, c := range out.Choices {
		if c.Index != i || c.Message.Role != "assistant" || c.Message.Content != ts.tok.Decode(c.TokenIDs, true) {
			t.Errorf("choice %d: %+v (decoded ids: %q)", i, c, ts.tok.Decode(c.TokenIDs, true))
		}
		if len(c.Logprobs.Content) != len(c.TokenIDs) {
			t.Fatalf("choice %d: %d logprobs for %d tokens", i, len(c.Logprobs.Content), len(c.TokenIDs))
		}
		for j, lp := range c.Logprobs.Content {
			piece := ts.tok.Piece(c.TokenIDs[j])
			if lp.Token != ts.tok.TokenText(c.TokenIDs[j]) || len(lp.Bytes) != len(piece) || len(lp.TopLogprobs) != 2 || lp.TopLogprobs[0].Logprob < lp.TopLogprobs[1].Logprob || lp.Logprob > lp.TopLogprobs[0].Logprob {
				t.Errorf("choice %d token %d: %+v", i, j, lp)
			}
		}
	}
}

// TestStreamMatches checks that a streamed response, put back together,
// is the non-streamed one for the same seed.
func TestStreamMatches(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	t.Run("completions", func(t *testing.T) {
		req := map[string]any{"prompt": []string{"Once upon a time", "Lily"}, "n": 2, "max_tokens": 20, "temperature": 0.9,
			"seed": 11, "logprobs": 2, "return_token_ids": true, "stop": "park"}
		var want completionOut
		ts.postOK(t, "/v1/completions", req, &want)
		req["stream"] = true
		req["stream_options"] = map[string]any{"include_usage": true}
		text := make([]string, 4)
		ids := make([][]int, 4)
		var lps [][]float64
		lps = make([][]float64, 4)
		finish := make([]string, 4)
		chunks := ts.stream(t, "/v1/completions", req)
		for k, raw := range chunks {
			var c completionOut
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			if k == len(chunks)-1 {
				if len(c.Choices) != 0 || c.Usage == nil || !reflect.DeepEqual(c.Usage, want.Usage) {
					t.Errorf("last chunk %s, want the usage %+v", raw, *want.Usage)
				}
				continue
			}
			if len(c.Choices) != 1 || c.Object != "text_completion" {
				t.Fatalf("chunk %s", raw)
			}
			ch := c.Choices[0]
			if finish[ch.Index] != "" {
				t.Errorf("choice %d continues after finishing: %s", ch.Index, raw)
			}
			text[ch.Index] += ch.Text
			ids[ch.Index] = append(ids[ch.Index], ch.TokenIDs...)
			if ch.Logprobs != nil {
				for _, lp := range ch.Logprobs.TokenLogprobs {
					lps[ch.Index] = append(lps[ch.Index], *lp)
				}
			}
			if ch.FinishReason != nil {
				finish[ch.Index] = *ch.FinishReason
			}
		}
		for i, c := range want.Choices {
			var wantLPs []float64
			for _, lp := range c.Logprobs.TokenLogprobs {
				wantLPs = append(wantLPs, *lp)
			}
			if text[i] != c.Text || !reflect.DeepEqual(ids[i], c.TokenIDs) || !reflect.DeepEqual(lps[i], wantLPs) || finish[i] != *c.FinishReason {
				t.Errorf("choice %d: streamed %q %v %v %s, want %q %v %v %s", i, text[i], ids[i], lps[i], finish[i], c.Text, c.TokenIDs, wantLPs, *c.FinishReason)
			}
		}
	})
	t.Run("chat", func(t *testing.T) {
		req := map[string]any{"messages": []map[string]any{{"role": "user", "content": "Once upon a time"}}, "n": 3,
			"max_tokens": 20, "seed": 2, "logprobs": true, "top_logprobs": 1, "return_token_ids": true}
		var want chatOut
		ts.postOK(t, "/v1/chat/completions", req, &want)
		req["stream"] = true
		text := make([]string, 3)
		ids := make([][]int, 3)
		lps := make([][]chatLP, 3)
		finish := make([]string, 3)
		for k, raw := range ts.stream(t, "/v1/chat/completions", req) {
			var c struct {
				Object  string `json:"object"`
				Choices []struct {
					Index int `json:"index"`
					Delta struct {
						Role    string  `json:"role"`
						Content *string `json:"content"`
					} `json:"delta"`
					Logprobs *struct {
						Content []chatLP `json:"content"`
					} `json:"logprobs"`
					FinishReason *string `json:"finish_reason"`
					TokenIDs     []int   `json:"token_ids"`
				} `json:"choices"`
				PromptTokenIDs []int `json:"prompt_token_ids"`
			}
			if err := json.Unmarshal(raw, &c); err != nil || len(c.Choices) != 1 || c.Object != "chat.completion.chunk" {
				t.Fatalf("chunk %s: %v", raw, err)
			}
			ch := c.Choices[0]
			if k < 3 {
				if ch.Delta.Role != "assistant" || ch.Index != k {
					t.Errorf("chunk %d does not open choice %d with the role: %s", k, k, raw)
				}
				if k == 0 && !reflect.DeepEqual(c.PromptTokenIDs, want.PromptTokenIDs) {
					t.Errorf("first chunk's prompt_token_ids %v, want %v", c.PromptTokenIDs, want.PromptTokenIDs)
				}
			}
			if ch.Delta.Content != nil {
				text[ch.Index] += *ch.Delta.Content
			}
			ids[ch.Index] = append(ids[ch.Index], ch.TokenIDs...)
			if ch.Logprobs != nil {
				lps[ch.Index] = append(lps[ch.Index], ch.Logprobs.Content...)
			}
			if ch.FinishReason != nil {
				finish[ch.Index] = *ch.FinishReason
			}
		}
		for i, c := range want.Choices {
			if text[i] != c.Message.Content || !reflect.DeepEqual(ids[i], c.TokenIDs) || !reflect.DeepEqual(lps[i], c.Logprobs.Content) || finish[i] != c.FinishReason {
				t.Errorf("choice %d: streamed %q %v %s, want %q %v %s", i, text[i], ids[i], finish[i], c.Message.Content, c.TokenIDs, c.FinishReason)
			}
		}
	})
}

// TestSeeds checks that a seed makes a request repeatable and that an
// unseeded request still gives its samples distinct seeds.
func TestSeeds(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	run := func(req map[string]any) completionOut {
		var out completionOut
		ts.postOK(t, "/v1/completions", req, &out)
		return out
	}
	seeded := map[string]any{"prompt": "Once upon a time", "n": 2, "max_tokens": 32, "seed": 42, "return_token_ids": true}
	a, b := run(seeded), run(seeded)
	if !reflect.DeepEqual(a.Choices, b.Choices) {
		t.Errorf("the same seed gave different samples: %+v and %+v", a.Choices, b.Choices)
	}
	unseeded := map[string]any{"prompt": "Once upon a time", "n": 4, "max_tokens": 32, "return_token_ids": true}
	c := run(unseeded)
	distinct := map[string]bool{}
	for _, ch := range c.Choices {
		distinct[ch.Text] = true
	}
	// Four 32-token samples from a 512-token vocabulary at temperature 1
	// coincide with negligible probability, unless they share a seed.
	if len(distinct) < 2 {
		t.Errorf("an unseeded request gave %d identical samples", len(c.Choices))
	}
}

func TestHealthAndDrain(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	if status, body := ts.get(t, "/health/"); status != http.StatusOK || !strings.Contains(string(body), `"ok"`) {
		t.Errorf("health: %d %s", status, body)
	}
	if status, body := ts.get(t, "/get_world_size/"); status != http.StatusOK || strings.TrimSpace(string(body)) != `{"world_size":1}` {
		t.Errorf("world size: %d %s", status, body)
	}
	ts.srv.Drain()
	if status, _ := ts.get(t, "/health/"); status != http.StatusServiceUnavailable {
		t.Errorf("health while draining: %d", status)
	}
	if status, body := ts.post(t, "/v1/completions", `{"prompt": "a"}`); status != http.StatusServiceUnavailable {
		t.Errorf("completion while draining: %d %s", status, body)
	}
	if status, _ := ts.get(t, "/metrics"); status != http.StatusOK {
		t.Errorf("metrics while draining: %d", status)
	}
}

// checkTokenLogprobs checks a chat choice's logprobs against OpenAI's
// schema (ChatCompletionTokenLogprob): token, logprob, bytes and
// top_logprobs are all required, and each TopLogprob has exactly token,
// logprob and bytes. It returns the number of positions.
func checkTokenLogprobs(t *testing.T, logprobs json.RawMessage, top int) int {
	t.Helper()
	var l struct {
		Content []map[string]json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(logprobs, &l); err != nil || l.Content == nil {
		t.Fatalf("logprobs %s: %v", logprobs, err)
	}
	checkEntry := func(e map[string]json.RawMessage, keys ...string) {
		t.Helper()
		for _, k := range keys {
			if _, ok := e[k]; !ok {
				t.Errorf("entry %s lacks %q", e, k)
			}
		}
		var token string
		var lp float64
		var b []int
		if json.Unmarshal(e["token"], &token) != nil || json.Unmarshal(e["logprob"], &lp) != nil || json.Unmarshal(e["bytes"], &b) != nil {
			t.Errorf("entry %s: token, logprob or bytes of the wrong type", e)
		}
	}
	for _, e := range l.Content {
		checkEntry(e, "token", "logprob", "bytes", "top_logprobs")
		var tops []map[string]json.RawMessage
		if err := json.Unmarshal(e["top_logprobs"], &tops); err != nil || tops == nil || len(tops) != top {
			t.Errorf("top_logprobs %s: want a list of %d", e["top_logprobs"], top)
		}
		for _, tp := range tops {
			checkEntry(tp, "token", "logprob", "bytes")
			if len(tp) != 3 {
				t.Errorf("top logprob %s has fields beyond token, logprob and bytes", tp)
			}
		}
	}
	return len(l.Content)
}

// TestChatLogprobsSchema checks chat logprobs with and without
// top_logprobs, streamed and not, against OpenAI's schema.
func TestChatLogprobsSchema(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	for _, top := range []int{-1, 0, 3} {
		req := map[string]any{"messages": []map[string]any{{"role": "user", "content": "Once upon a time"}}, "max_tokens": 6, "logprobs": true, "seed": 1}
		if top >= 0 {
			req["top_logprobs"] = top
		}
		var out struct {
			Choices []struct {
				Logprobs json.RawMessage `json:"logprobs"`
			} `json:"choices"`
		}
		ts.postOK(t, "/v1/chat/completions", req, &out)
		want := max(top, 0)
		if n := checkTokenLogprobs(t, out.Choices[0].Logprobs, want); n == 0 {
			t.Errorf("top_logprobs %d: no positions", top)
		}
		req["stream"] = true
		for _, raw := range ts.stream(t, "/v1/chat/completions", req) {
			var c struct {
				Choices []struct {
					Logprobs json.RawMessage `json:"logprobs"`
				} `json:"choices"`
			}
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			if len(c.Choices) == 1 && !isNull(c.Choices[0].Logprobs) {
				checkTokenLogprobs(t, c.Choices[0].Logprobs, want)
			}
		}
	}
}

// TestLogprobTokenText checks how logprobs name tokens over a byte-level
// vocabulary whose tokens can hold part of a character: each reads as
// Hugging Face decodes it alone (one U+FFFD for a partial character), text
// offsets count code points, and chat bytes are the token's own.
func TestLogprobTokenText(t *testing.T) {
	ts, _ := newQwenServer(t)
	const text = "Hi 🦙 and 日本語, Äpfel, 鱻龘 ꙮ"
	ids := ts.tok.Encode(text, true)
	var out completionOut
	ts.postOK(t, "/v1/completions", map[string]any{"prompt": text, "echo": true, "logprobs": 2, "max_tokens": 4, "temperature": 0}, &out)
	l := out.Choices[0].Logprobs
	if len(l.Tokens) < len(ids) {
		t.Fatalf("%d tokens for a prompt of %d", len(l.Tokens), len(ids))
	}
	offset, partial := 0, 0
	for i, tok := range l.Tokens {
		if !utf8.ValidString(tok) || l.TextOffset[i] != offset {
			t.Errorf("token %d %q at offset %d, want valid UTF-8 at %d", i, tok, l.TextOffset[i], offset)
		}
		offset += utf8.RuneCountInString(tok)
		for alt := range l.TopLogprobs[i] {
			if !utf8.ValidString(alt) {
				t.Errorf("token %d: alternative %q is not valid UTF-8", i, alt)
			}
		}
		if i >= len(ids) {
			continue
		}
		piece := ts.tok.Piece(ids[i])
		if start := strings.TrimPrefix(piece, " "); len(start) >= 2 && !utf8.FullRuneInString(start) {
			partial++
			if want := piece[:len(piece)-len(start)] + "\uFFFD"; tok != want {
				t.Errorf("prompt token %d holds %q, the start of a character: named %q, want %q", i, piece, tok, want)
			}
		} else if tok != ts.tok.Decode(ids[i:i+1], false) {
			t.Errorf("prompt token %d named %q, want %q", i, tok, ts.tok.Decode(ids[i:i+1], false))
		}
	}
	if partial == 0 {
		t.Fatalf("no prompt token of %q holds part of a character: the test checks nothing", text)
	}

	var chat chatOut
	ts.postOK(t, "/v1/chat/completions", map[string]any{"messages": []map[string]any{{"role": "user", "content": text}}, "max_tokens": 6,
		"temperature": 0, "logprobs": true, "top_logprobs": 2, "return_token_ids": true}, &chat)
	for j, lp := range chat.Choices[0].Logprobs.Content {
		id := chat.Choices[0].TokenIDs[j]
		if lp.Token != ts.tok.TokenText(id) || string(bytesOf(lp.Bytes)) != ts.tok.Piece(id) {
			t.Errorf("chat token %d: %q %v, want %q with the bytes of %q", j, lp.Token, lp.Bytes, ts.tok.TokenText(id), ts.tok.Piece(id))
		}
	}
}

func bytesOf(v []int) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

// TestStreamTextOffsets checks that streamed legacy logprobs give each
// token's offset in the choice's whole text, continuing across chunks.
func TestStreamTextOffsets(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	chunks := ts.stream(t, "/v1/completions", map[string]any{"prompt": []string{"Once upon a time", "Lily"}, "n": 2, "max_tokens": 16,
		"logprobs": 1, "seed": 8, "ignore_eos": true, "stream": true})
	sent := map[int]int{}
	tokens := 0
	for _, raw := range chunks {
		var c completionOut
		if err := json.Unmarshal(raw, &c); err != nil || len(c.Choices) != 1 {
			t.Fatalf("chunk %s: %v", raw, err)
		}
		ch := c.Choices[0]
		if ch.Logprobs != nil {
			tokens++
			if len(ch.Logprobs.TextOffset) != 1 || ch.Logprobs.TextOffset[0] != sent[ch.Index] {
				t.Errorf("choice %d: text_offset %v, want [%d]", ch.Index, ch.Logprobs.TextOffset, sent[ch.Index])
			}
		}
		sent[ch.Index] += utf8.RuneCountInString(ch.Text)
	}
	if tokens != 4*16 {
		t.Errorf("%d tokens streamed with logprobs, want %d", tokens, 4*16)
	}
}
