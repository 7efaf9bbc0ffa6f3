package serve

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aha-inference/aha/engine"
)

// TestBadInput sends every kind of bad request and expects a 4xx (or the
// 501/404 that says what is missing) with an OpenAI error object naming
// the field; then the server must still answer a good request.
func TestBadInput(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{Name: "stories", MaxBodyBytes: 1 << 16, MaxN: 16, MaxLogprobs: 20}, engine.Options{})
	ctx := ts.eng.Context()
	vocab := ts.eng.Model().Config.VocabSize
	long := make([]int, ctx)
	for i := range long {
		long[i] = 1 + i%100
	}
	big := `{"prompt": "` + strings.Repeat("a", 1<<16) + `"}`
	msgs := `"messages": [{"role": "user", "content": "hi"}]`
	tests := []struct {
		name, method, path, body string
		status                   int
		param                    string // "" when the error names no field
	}{
		{"invalid JSON", "POST", "/v1/completions", `{"prompt": "a",`, 400, ""},
		{"not an object", "POST", "/v1/completions", `[1, 2]`, 400, ""},
		{"null body", "POST", "/v1/completions", `null`, 400, ""},
		{"empty body", "POST", "/v1/completions", ``, 400, ""},
		{"body over the limit", "POST", "/v1/completions", big, 413, ""},
		{"n a string", "POST", "/v1/completions", `{"prompt": "a", "n": "2"}`, 400, "n"},
		{"n fractional", "POST", "/v1/completions", `{"prompt": "a", "n": 1.5}`, 400, "n"},
		{"n zero", "POST", "/v1/completions", `{"prompt": "a", "n": 0}`, 400, "n"},
		{"n negative", "POST", "/v1/completions", `{"prompt": "a", "n": -3}`, 400, "n"},
		{"n huge", "POST", "/v1/completions", `{"prompt": "a", "n": 1000000}`, 400, "n"},
		{"n overflows", "POST", "/v1/completions", `{"prompt": "a", "n": 1e30}`, 400, "n"},
		{"temperature a string", "POST", "/v1/completions", `{"prompt": "a", "temperature": "hot"}`, 400, "temperature"},
		{"negative temperature", "POST", "/v1/completions", `{"prompt": "a", "temperature": -0.5}`, 400, "temperature"},
		{"top_p zero", "POST", "/v1/completions", `{"prompt": "a", "top_p": 0}`, 400, "top_p"},
		{"top_p over 1", "POST", "/v1/completions", `{"prompt": "a", "top_p": 1.5}`, 400, "top_p"},
		{"top_k below -1", "POST", "/v1/completions", `{"prompt": "a", "top_k": -2}`, 400, "top_k"},
		{"min_p 1", "POST", "/v1/completions", `{"prompt": "a", "min_p": 1}`, 400, "min_p"},
		{"repetition_penalty 0", "POST", "/v1/completions", `{"prompt": "a", "repetition_penalty": 0}`, 400, "repetition_penalty"},
		{"presence_penalty 3", "POST", "/v1/completions", `{"prompt": "a", "presence_penalty": 3}`, 400, "presence_penalty"},
		{"logit_bias key", "POST", "/v1/completions", `{"prompt": "a", "logit_bias": {"x": 1}}`, 400, "logit_bias"},
		{"logit_bias id", "POST", "/v1/completions", fmt.Sprintf(`{"prompt": "a", "logit_bias": {"%d": 1}}`, vocab), 400, "logit_bias"},
		{"stop number", "POST", "/v1/completions", `{"prompt": "a", "stop": 3}`, 400, "stop"},
		{"stop empty", "POST", "/v1/completions", `{"prompt": "a", "stop": [""]}`, 400, "stop"},
		{"stop id", "POST", "/v1/completions", `{"prompt": "a", "stop_token_ids": [-1]}`, 400, "stop_token_ids"},
		{"max_tokens zero", "POST", "/v1/completions", `{"prompt": "a", "max_tokens": 0}`, 400, "max_tokens"},
		{"max_tokens beyond the context", "POST", "/v1/completions", fmt.Sprintf(`{"prompt": "a", "max_tokens": %d}`, ctx), 400, "max_tokens"},
		{"max_tokens past the context with the prompt", "POST", "/v1/completions", fmt.Sprintf(`{"prompt": %s, "max_tokens": 10}`, ids(long[:ctx-5])), 400, "max_tokens"},
		{"min_tokens over max_tokens", "POST", "/v1/completions", `{"prompt": "a", "max_tokens": 3, "min_tokens": 5}`, 400, "min_tokens"},
		{"prompt missing", "POST", "/v1/completions", `{"max_tokens": 3}`, 400, "prompt"},
		{"prompt empty list", "POST", "/v1/completions", `{"prompt": []}`, 400, "prompt"},
		{"prompt empty ids", "POST", "/v1/completions", `{"prompt": [[]]}`, 400, "prompt"},
		{"prompt an object", "POST", "/v1/completions", `{"prompt": {"text": "a"}}`, 400, "prompt"},
		{"prompt ids fractional", "POST", "/v1/completions", `{"prompt": [1, 2.5]}`, 400, "prompt"},
		{"prompt longer than the context", "POST", "/v1/completions", fmt.Sprintf(`{"prompt": %s}`, ids(long)), 400, "prompt"},
		{"token id outside the vocabulary", "POST", "/v1/completions", fmt.Sprintf(`{"prompt": [1, %d]}`, vocab), 400, "prompt"},
		{"negative token id", "POST", "/v1/completions", `{"prompt": [1, -1]}`, 400, "prompt"},
		{"second prompt bad", "POST", "/v1/completions", fmt.Sprintf(`{"prompt": ["a", [%d]]}`, vocab+7), 400, "prompt[1]"},
		{"logprobs over the limit", "POST", "/v1/completions", `{"prompt": "a", "logprobs": 21}`, 400, "logprobs"},
		{"logprob_mode", "POST", "/v1/completions", `{"prompt": "a", "logprob_mode": "fancy"}`, 400, "logprob_mode"},
		{"echo logprobs stream", "POST", "/v1/completions", `{"prompt": "a", "echo": true, "logprobs": 1, "stream": true}`, 400, "echo"},
		{"skip_special_tokens false", "POST", "/v1/completions", `{"prompt": "a", "skip_special_tokens": false}`, 400, "skip_special_tokens"},
		{"response_format", "POST", "/v1/completions", `{"prompt": "a", "response_format": {"type": "json_object"}}`, 400, "response_format"},
		{"guided_json", "POST", "/v1/completions", `{"prompt": "a", "guided_json": {"type": "object"}}`, 400, "guided_json"},
		{"guided_regex", "POST", "/v1/completions", `{"prompt": "a", "guided_regex": "[a-z]+"}`, 400, "guided_regex"},
		{"guided_choice", "POST", "/v1/completions", `{"prompt": "a", "guided_choice": ["x"]}`, 400, "guided_choice"},
		{"guided_grammar", "POST", "/v1/completions", `{"prompt": "a", "guided_grammar": "root ::= x"}`, 400, "guided_grammar"},
		{"best_of", "POST", "/v1/completions", `{"prompt": "a", "best_of": 3}`, 400, "best_of"},
		{"suffix", "POST", "/v1/completions", `{"prompt": "a", "suffix": "end"}`, 400, "suffix"},
		{"unknown model", "POST", "/v1/completions", `{"model": "gpt-4", "prompt": "a"}`, 404, "model"},
		{"model a number", "POST", "/v1/completions", `{"model": 4, "prompt": "a"}`, 400, "model"},

		{"messages missing", "POST", "/v1/chat/completions", `{"n": 1}`, 400, "messages"},
		{"messages empty", "POST", "/v1/chat/completions", `{"messages": []}`, 400, "messages"},
		{"messages a string", "POST", "/v1/chat/completions", `{"messages": "hi"}`, 400, "messages"},
		{"message without role", "POST", "/v1/chat/completions", `{"messages": [{"content": "hi"}]}`, 400, "messages[0].role"},
		{"message content a number", "POST", "/v1/chat/completions", `{"messages": [{"role": "user", "content": 3}]}`, 400, "messages[0].content"},
		{"message image part", "POST", "/v1/chat/completions", `{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}`, 400, "messages[0].content[0]"},
		{"tools not a list", "POST", "/v1/chat/completions", `{` + msgs + `, "tools": {"type": "function"}}`, 400, "tools"},
		{"tool without function", "POST", "/v1/chat/completions", `{` + msgs + `, "tools": [{"type": "function"}]}`, 400, "tools[0].function"},
		{"tool without name", "POST", "/v1/chat/completions", `{` + msgs + `, "tools": [{"type": "function", "function": {"name": "f"}}, {"function": {"description": "d"}}]}`, 400, "tools[1].function.name"},
		{"tool of another type", "POST", "/v1/chat/completions", `{` + msgs + `, "tools": [{"type": "retrieval", "function": {"name": "f"}}]}`, 400, "tools[0].type"},
		{"tool parameters a string", "POST", "/v1/chat/completions", `{` + msgs + `, "tools": [{"type": "function", "function": {"name": "f", "parameters": "{}"}}]}`, 400, "tools[0].function.parameters"},
		{"tool_choice required", "POST", "/v1/chat/completions", `{` + msgs + `, "tool_choice": "required"}`, 400, "tool_choice"},
		{"tool_choice a function", "POST", "/v1/chat/completions", `{` + msgs + `, "tool_choice": {"type": "function", "function": {"name": "f"}}}`, 400, "tool_choice"},
		{"tool call arguments malformed", "POST", "/v1/chat/completions", `{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{\"a\": "}}]}]}`, 400, "messages[1].tool_calls[0].function.arguments"},
		{"tool call arguments a list", "POST", "/v1/chat/completions", `{"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "[1]"}}]}]}`, 400, "messages[0].tool_calls[0].function.arguments"},
		{"tool call without name", "POST", "/v1/chat/completions", `{"messages": [{"role": "assistant", "tool_calls": [{"function": {"arguments": "{}"}}]}]}`, 400, "messages[0].tool_calls[0].function.name"},
		{"tool calls not a list", "POST", "/v1/chat/completions", `{"messages": [{"role": "assistant", "tool_calls": {"function": {"name": "f"}}}]}`, 400, "messages[0].tool_calls"},
		{"chat response_format", "POST", "/v1/chat/completions", `{` + msgs + `, "response_format": {"type": "json_schema"}}`, 400, "response_format"},
		{"top_logprobs without logprobs", "POST", "/v1/chat/completions", `{` + msgs + `, "top_logprobs": 2}`, 400, "top_logprobs"},
		{"top_logprobs over the limit", "POST", "/v1/chat/completions", `{` + msgs + `, "logprobs": true, "top_logprobs": 21}`, 400, "top_logprobs"},
		{"logprobs not a bool", "POST", "/v1/chat/completions", `{` + msgs + `, "logprobs": 2}`, 400, "logprobs"},
		{"chat max_completion_tokens", "POST", "/v1/chat/completions", `{` + msgs + fmt.Sprintf(`, "max_completion_tokens": %d}`, ctx), 400, "max_completion_tokens"},
		{"chat max_completion_tokens zero", "POST", "/v1/chat/completions", `{` + msgs + `, "max_completion_tokens": 0}`, 400, "max_completion_tokens"},
		{"chat max_completion_tokens past the context", "POST", "/v1/chat/completions", `{` + msgs + fmt.Sprintf(`, "max_completion_tokens": %d}`, ctx-2), 400, "max_completion_tokens"},
		{"chat min_tokens over max_completion_tokens", "POST", "/v1/chat/completions", `{` + msgs + `, "max_completion_tokens": 2, "min_tokens": 3}`, 400, "min_tokens"},
		{"chat max_tokens zero", "POST", "/v1/chat/completions", `{` + msgs + `, "max_tokens": 0}`, 400, "max_tokens"},
		{"chat unknown model", "POST", "/v1/chat/completions", `{"model": "x", ` + msgs + `}`, 404, "model"},

		{"generate prompts missing", "POST", "/generate/", `{"n": 2}`, 400, "prompts"},
		{"generate prompts wrong", "POST", "/generate/", `{"prompts": [true]}`, 400, "prompts[0]"},
		{"generate stream", "POST", "/generate/", `{"prompts": ["a"], "stream": true}`, 400, "stream"},
		{"chat stream", "POST", "/chat/", `{"messages": [[{"role": "user", "content": "hi"}]], "stream": true}`, 400, "stream"},
		{"chat messages null", "POST", "/chat/", `{"messages": null}`, 400, "messages"},
		{"generate n zero", "POST", "/generate/", `{"prompts": ["a"], "n": 0}`, 400, "n"},
		{"generate logprobs negative", "POST", "/generate/", `{"prompts": ["a"], "logprobs": -1}`, 400, "logprobs"},
		{"generate allowed_token_ids out of the vocabulary", "POST", "/generate/", fmt.Sprintf(`{"prompts": ["a"], "generation_kwargs": {"allowed_token_ids": [3, %d]}}`, vocab), 400, "allowed_token_ids"},
		{"generate allowed_token_ids empty", "POST", "/generate/", `{"prompts": ["a"], "generation_kwargs": {"allowed_token_ids": []}}`, 400, "allowed_token_ids"},
		{"generate bad_words empty", "POST", "/generate/", `{"prompts": ["a"], "generation_kwargs": {"bad_words": ["x", " "]}}`, 400, "bad_words"},
		{"generate bad_words too many", "POST", "/generate/", `{"prompts": ["a"], "generation_kwargs": {"bad_words": [` + strings.Repeat(`"x",`, 200) + `"x"]}}`, 400, "bad_words"},
		{"generate truncate_prompt_tokens zero", "POST", "/generate/", `{"prompts": ["a"], "generation_kwargs": {"truncate_prompt_tokens": 0}}`, 400, "truncate_prompt_tokens"},
		{"generate truncate_prompt_tokens -2", "POST", "/generate/", `{"prompts": ["a"], "generation_kwargs": {"truncate_prompt_tokens": -2}}`, 400, "truncate_prompt_tokens"},
		{"generate truncate_prompt_tokens over the context", "POST", "/generate/", fmt.Sprintf(`{"prompts": ["a"], "generation_kwargs": {"truncate_prompt_tokens": %d}}`, ctx+1), 400, "truncate_prompt_tokens"},
		{"generate detokenize false with stop", "POST", "/generate/", `{"prompts": ["a"], "generation_kwargs": {"detokenize": false, "stop": ["x"]}}`, 400, "detokenize"},
		{"generate spaces_between_special_tokens a string", "POST", "/generate/", `{"prompts": ["a"], "generation_kwargs": {"spaces_between_special_tokens": "no"}}`, 400, "generation_kwargs.spaces_between_special_tokens"},
		{"completions allowed_token_ids negative", "POST", "/v1/completions", `{"prompt": "a", "allowed_token_ids": [-1]}`, 400, "allowed_token_ids"},
		{"chat truncate_prompt_tokens", "POST", "/v1/chat/completions", `{` + msgs + `, "truncate_prompt_tokens": -5}`, 400, "truncate_prompt_tokens"},
		{"generate kwargs unknown", "POST", "/generate/", `{"prompts": ["a"], "generation_kwargs": {"beam_width": 2}}`, 400, "generation_kwargs.beam_width"},
		{"generate kwargs wrong type", "POST", "/generate/", `{"prompts": ["a"], "generation_kwargs": {"seed": "x"}}`, 400, "generation_kwargs.seed"},
		{"generate kwargs not an object", "POST", "/generate/", `{"prompts": ["a"], "generation_kwargs": [1]}`, 400, "generation_kwargs"},
		{"generate kwargs structured outputs", "POST", "/generate/", `{"prompts": ["a"], "generation_kwargs": {"structured_outputs": {"regex": "a"}}}`, 400, "generation_kwargs.structured_outputs"},
		{"generate regex", "POST", "/generate/", `{"prompts": ["a"], "structured_outputs_regex": "a+"}`, 400, "structured_outputs_regex"},
		{"generate images", "POST", "/generate/", `{"prompts": ["a"], "images": [["aGk="]]}`, 400, "images"},
		{"generate top_p", "POST", "/generate/", `{"prompts": ["a"], "top_p": -1}`, 400, "top_p"},
		{"generate token out of vocabulary", "POST", "/generate/", fmt.Sprintf(`{"prompts": [[%d]]}`, vocab), 400, "prompts[0]"},
		{"chat messages not nested", "POST", "/chat/", `{` + msgs + `}`, 400, "messages[0]"},
		{"chat template kwargs", "POST", "/chat/", `{"messages": [[{"role": "user", "content": "hi"}]], "chat_template_kwargs": [false]}`, 400, "chat_template_kwargs"},
		{"chat tools", "POST", "/chat/", `{"messages": [[{"role": "user", "content": "hi"}]], "tools": [{"type": "function"}]}`, 400, "tools[0].function"},
		{"scores lengths differ", "POST", "/get_sequence_logprobs/", `{"sequences": [[1, 2]], "prompt_lengths": []}`, 400, "prompt_lengths"},
		{"scores prompt length", "POST", "/get_sequence_logprobs/", `{"sequences": [[1, 2]], "prompt_lengths": [3]}`, 400, "prompt_lengths[0]"},
		{"scores token", "POST", "/get_sequence_logprobs/", fmt.Sprintf(`{"sequences": [[1, %d]], "prompt_lengths": [1]}`, vocab), 400, "sequences[0]"},
		{"scores too long", "POST", "/get_sequence_logprobs/", fmt.Sprintf(`{"sequences": [%s, [1]], "prompt_lengths": [1, 1]}`, ids(append(long, 1))), 400, "sequences[0]"},
		{"scores format", "POST", "/get_sequence_logprobs/", `{"sequences": [[1, 2]], "prompt_lengths": [1], "response_format": "xml"}`, 400, "response_format"},
		{"scores top", "POST", "/get_sequence_logprobs/", `{"sequences": [[1, 2]], "prompt_lengths": [1], "top_logprobs": 1000}`, 400, "top_logprobs"},
		{"scores temperature", "POST", "/get_sequence_logprobs/", `{"sequences": [[1, 2]], "prompt_lengths": [1], "temperature": -1}`, 400, "temperature"},
		{"scores sequences wrong", "POST", "/get_sequence_logprobs/", `{"sequences": [["a"]], "prompt_lengths": [1]}`, 400, "sequences"},
		{"load_weights without path", "POST", "/load_weights/", `{}`, 400, "path"},
		{"load_weights path a number", "POST", "/load_weights/", `{"path": 1}`, 400, "path"},
		{"load_weights missing folder", "POST", "/load_weights/", `{"path": "/nonexistent/checkpoint"}`, 400, "path"},
		{"init_communicator", "POST", "/init_communicator/", `{}`, 501, ""},
		{"GET on a POST endpoint", "GET", "/v1/completions", ``, 405, ""},
		{"POST on a GET endpoint", "POST", "/v1/models", `{}`, 405, ""},
		{"unknown path", "GET", "/v2/everything", ``, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, ts.url+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct {
				Error *struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    any     `json:"code"`
				} `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Error == nil {
				t.Fatalf("status %d, not an error object: %v", resp.StatusCode, err)
			}
			e := out.Error
			param := ""
			if e.Param != nil {
				param = *e.Param
			}
			if resp.StatusCode != tt.status || param != tt.param || e.Message == "" || e.Type == "" {
				t.Errorf("status %d, param %q, type %q, message %q; want status %d, param %q", resp.StatusCode, param, e.Type, e.Message, tt.status, tt.param)
			}
			if tt.param != "" && !strings.Contains(e.Message, strings.SplitN(tt.param, "[", 2)[0]) && tt.status != 404 {
				t.Errorf("message %q does not name %s", e.Message, tt.param)
			}
		})
	}
	var out completionOut
	ts.postOK(t, "/v1/completions", map[string]any{"prompt": "Once upon a time", "max_tokens": 4}, &out)
	if len(out.Choices) != 1 {
		t.Errorf("after the bad requests: %+v", out)
	}
	checkBlocksFree(t, ts)
}

func ids(v []int) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// checkBlocksFree expects every KV block free and no sequence left once
// the prefix cache is dropped.
func checkBlocksFree(t *testing.T, ts *testServer) {
	t.Helper()
	if status, body := ts.post(t, "/reset_prefix_cache/", ""); status != http.StatusOK {
		t.Fatalf("reset_prefix_cache: %d %s", status, body)
	}
	if st := ts.eng.Stats(); st.BlocksUsed != 0 || st.Running != 0 || st.Waiting != 0 {
		t.Errorf("engine not idle: %+v", st)
	}
}

// TestPanicRecovered checks that a panicking handler answers 500 and
// leaves the server serving.
func TestPanicRecovered(t *testing.T) {
	ts := newTestServer(t, nil, nil, Config{}, engine.Options{})
	ts.srv.routes["/boom"] = route{method: http.MethodGet, handle: func(w http.ResponseWriter, r *http.Request) *apiError { panic("boom") }}
	status, body := ts.get(t, "/boom")
	if status != http.StatusInternalServerError || !strings.Contains(string(body), `"server_error"`) {
		t.Errorf("panic: %d %s", status, body)
	}
	if status, _ := ts.get(t, "/health/"); status != http.StatusOK {
		t.Errorf("after the panic: health %d", status)
	}
	_, metrics := ts.get(t, "/metrics")
	if !strings.Contains(string(metrics), `aha_requests_total{endpoint="/boom",code="500"} 1`) {
		t.Errorf("the 500 is not counted:\n%s", metrics)
	}
}
