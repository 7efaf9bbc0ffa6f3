package serve

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/serve/toolcall"
	"github.com/aha-inference/aha/tokenizer/template"
)

// TestToolRenders sends the tool cases of tokenizer/template/testdata/tools
// as OpenAI requests (arguments as JSON strings, a tool-calling turn's
// content null) to both chat endpoints, and wants the prompt each case
// expects: what vLLM hands the template must be what reaches it here.
func TestToolRenders(t *testing.T) {
	files, err := filepath.Glob("../tokenizer/template/testdata/tools/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no tool cases (%v)", err)
	}
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	for _, file := range files {
		var c struct {
			Template            string                       `json:"template"`
			Messages            []map[string]json.RawMessage `json:"messages"`
			AddGenerationPrompt bool                         `json:"add_generation_prompt"`
			Tools               json.RawMessage              `json:"tools"`
			Variables           map[string]any               `json:"variables"`
			Expected            *string                      `json:"expected"`
		}
		data, err := os.ReadFile(file)
		if err == nil {
			err = json.Unmarshal(data, &c)
		}
		if err != nil {
			t.Fatal(err)
		}
		// The server always opens the assistant's turn.
		if c.Expected == nil || !c.AddGenerationPrompt {
			continue
		}
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			src, err := os.ReadFile(shared.Path(t, filepath.Join("testdata", c.Template)))
			if err != nil {
				t.Fatal(err)
			}
			tmpl, err := template.Parse(string(src))
			if err != nil {
				t.Fatal(err)
			}
			var rendered []string
			ts.srv.cfg.Chat = chatFunc(func(msgs []template.Message, kwargs map[string]any) ([]int, string, error) {
				vars := map[string]any{}
				for k, v := range c.Variables { // the special tokens, as cmd/aha adds them
					vars[k] = v
				}
				for k, v := range kwargs {
					vars[k] = v
				}
				text, err := tmpl.Render(template.Context{Messages: msgs, AddGenerationPrompt: true, Vars: vars})
				rendered = append(rendered, text)
				// The prompt is far longer than the test model's context.
				return ts.tok.Encode("Once upon a time", true), text, err
			})
			msgs := openAIMessages(t, c.Messages)
			var chat chatOut
			ts.postOK(t, "/v1/chat/completions", map[string]any{"messages": msgs, "tools": c.Tools, "max_tokens": 1}, &chat)
			var trl trlOut
			ts.postOK(t, "/chat/", map[string]any{"messages": [][]map[string]any{msgs}, "tools": c.Tools, "max_tokens": 1}, &trl)
			if len(rendered) != 2 {
				t.Fatalf("rendered %d times, want 2", len(rendered))
			}
			for i, got := range rendered {
				if got != *c.Expected {
					t.Errorf("endpoint %d renders\n%q\nwant\n%q", i, got, *c.Expected)
				}
			}
		})
	}
}

// openAIMessages writes a case's messages as an OpenAI client sends them:
// tool-call arguments as a JSON string (the case's own text, so its key
// order), and a tool-calling turn's empty content as null.
func openAIMessages(t *testing.T, msgs []map[string]json.RawMessage) []map[string]any {
	out := make([]map[string]any, len(msgs))
	for i, m := range msgs {
		out[i] = map[string]any{}
		for k, v := range m {
			out[i][k] = v
		}
		raw, ok := m["tool_calls"]
		if !ok {
			continue
		}
		var calls []map[string]any
		if err := json.Unmarshal(raw, &calls); err != nil {
			t.Fatal(err)
		}
		var rawCalls []struct {
			Function struct {
				Arguments json.RawMessage `json:"arguments"`
			} `json:"function"`
		}
		if err := json.Unmarshal(raw, &rawCalls); err != nil {
			t.Fatal(err)
		}
		for j, call := range calls {
			call["function"].(map[string]any)["arguments"] = string(rawCalls[j].Function.Arguments)
		}
		out[i]["tool_calls"] = calls
		if string(m["content"]) == `""` {
			out[i]["content"] = nil
		}
	}
	return out
}

// TestToolCallsReply checks toolMessage on completions with and without
// calls, and that the deltas toolDelta streams for the same text, put
// together, say the same whether the text arrives a byte at a time or
// whole.
func TestToolCallsReply(t *testing.T) {
	call := "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich\"}}\n</tool_call>"
	for _, tc := range []struct {
		name, text, finish string
		content            *string
		calls              []toolFunction
		wantFinish         string
	}{
		{"plain", "It is sunny.", "stop", new("It is sunny."), nil, "stop"},
		{"one call", call, "stop", nil, []toolFunction{{"get_weather", `{"city": "Zürich"}`}}, "tool_calls"},
		{"text then two calls", "Checking.\n" + call + "\n" + strings.Replace(call, "Zürich", "Bern", 1), "stop", new("Checking.\n"),
			[]toolFunction{{"get_weather", `{"city": "Zürich"}`}, {"get_weather", `{"city": "Bern"}`}}, "tool_calls"},
		{"cut off inside a call", "<tool_call>\n{\"name\": \"f\", \"argu", "length", new("<tool_call>\n{\"name\": \"f\", \"argu"), nil, "length"},
		{"cut off after a call", call + "\nmore", "length", nil, []toolFunction{{"get_weather", `{"city": "Zürich"}`}}, "tool_calls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, finish := toolMessage(tc.text, tc.finish)
			if !reflect.DeepEqual(msg.Content, tc.content) || *finish != tc.wantFinish || len(msg.ToolCalls) != len(tc.calls) {
				t.Fatalf("toolMessage: %+v, finish %s", msg, *finish)
			}
			for i, c := range msg.ToolCalls {
				if c.Function != tc.calls[i] || c.Type != "function" || !strings.HasPrefix(c.ID, "call_") || c.Index != nil {
					t.Errorf("call %d: %+v, want %+v", i, c, tc.calls[i])
				}
			}
			want := withoutIDs(t, *msg)
			for _, pieces := range [][]string{{tc.text}, strings.Split(tc.text, "")} {
				streamed, finish := streamToolDeltas(t, pieces, tc.finish)
				if got := withoutIDs(t, streamed); got != want || finish != tc.wantFinish {
					t.Errorf("streamed in %d pieces: %s, finish %s; want %s, %s", len(pieces), got, finish, want, tc.wantFinish)
				}
			}
		})
	}
}

// withoutIDs is m as JSON with its tool calls' random ids left empty.
func withoutIDs(t *testing.T, m chatMessage) string {
	t.Helper()
	m.ToolCalls = slices.Clone(m.ToolCalls)
	for i := range m.ToolCalls {
		m.ToolCalls[i].ID = ""
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// streamToolDeltas sends pieces through toolDelta as one sample's events
// and puts the deltas back together into a message and a finish reason.
func streamToolDeltas(t *testing.T, pieces []string, finish string) (chatMessage, string) {
	t.Helper()
	var p toolcall.Stream
	msg := chatMessage{Role: "assistant"}
	var content string
	var finishes []string
	for i, piece := range pieces {
		ev := engine.Event{Text: piece}
		if i == len(pieces)-1 {
			ev.Finish = finish
		}
		d, f, after := toolDelta(ev, &p)
		choices := append([]chatChoice{{Delta: d, FinishReason: f}}, after...)
		for _, c := range choices {
			if c.Delta.Content != nil {
				content += *c.Delta.Content
			}
			for _, tc := range c.Delta.ToolCalls {
				if tc.Index == nil || *tc.Index != len(msg.ToolCalls) {
					t.Fatalf("tool call delta with index %v, want %d", tc.Index, len(msg.ToolCalls))
				}
				if !strings.HasPrefix(tc.ID, "call_") || tc.Type != "function" {
					t.Fatalf("tool call delta %+v", tc)
				}
				tc.Index = nil
				msg.ToolCalls = append(msg.ToolCalls, tc)
			}
			if c.FinishReason != nil {
				finishes = append(finishes, *c.FinishReason)
			}
		}
	}
	if len(finishes) != 1 {
		t.Fatalf("finish reasons %q, want one", finishes)
	}
	msg.Content = nilIfEmpty(content)
	return msg, finishes[0]
}

// TestToolsStreamMatches checks that with tools given, a streamed chat
// completion put back together is the non-streamed one: text held back
// while it might open a <tool_call> still arrives, and every token keeps
// its logprob and id. A logit bias makes the test model write many "<".
func TestToolsStreamMatches(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	bias := map[string]float64{}
	for id := range ts.tok.VocabSize() {
		if ts.tok.Piece(id) == "<" {
			bias[strconv.Itoa(id)] = 22
		}
	}
	req := map[string]any{"messages": []map[string]any{{"role": "user", "content": "Once upon a time"}}, "n": 2,
		"max_tokens": 24, "seed": 3, "logprobs": true, "return_token_ids": true, "logit_bias": bias,
		"tools": []map[string]any{{"type": "function", "function": map[string]any{"name": "f"}}}}
	var want chatOut
	ts.postOK(t, "/v1/chat/completions", req, &want)
	req["stream"] = true
	text := make([]string, 2)
	ids := make([][]int, 2)
	lps := make([]int, 2)
	finish := make([]string, 2)
	for _, raw := range ts.stream(t, "/v1/chat/completions", req) {
		var c struct {
			Choices []struct {
				Index int `json:"index"`
				Delta struct {
					Content *string `json:"content"`
				} `json:"delta"`
				Logprobs *struct {
					Content []chatLP `json:"content"`
				} `json:"logprobs"`
				FinishReason *string `json:"finish_reason"`
				TokenIDs     []int   `json:"token_ids"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(raw, &c); err != nil || len(c.Choices) != 1 {
			t.Fatalf("chunk %s: %v", raw, err)
		}
		ch := c.Choices[0]
		if ch.Delta.Content != nil {
			text[ch.Index] += *ch.Delta.Content
		}
		ids[ch.Index] = append(ids[ch.Index], ch.TokenIDs...)
		if ch.Logprobs != nil {
			lps[ch.Index] += len(ch.Logprobs.Content)
		}
		if ch.FinishReason != nil {
			finish[ch.Index] = *ch.FinishReason
		}
	}
	for i, c := range want.Choices {
		if !strings.Contains(c.Message.Content, "<") {
			t.Errorf("choice %d has no \"<\": %q", i, c.Message.Content)
		}
		if text[i] != c.Message.Content || !reflect.DeepEqual(ids[i], c.TokenIDs) || lps[i] != len(c.TokenIDs) || finish[i] != c.FinishReason {
			t.Errorf("choice %d: streamed %q %v (%d logprobs) %s, want %q %v %s", i, text[i], ids[i], lps[i], finish[i], c.Message.Content, c.TokenIDs, c.FinishReason)
		}
	}
}
