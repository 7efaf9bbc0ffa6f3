package serve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/serve/toolcall"
	"github.com/aha-inference/aha/tokenizer/template"
)

// Tool calling, as vLLM does it: the request's tools reach the chat
// template as its tools variable (transformers' apply_chat_template(tools=…)),
// assistant turns with tool_calls and "tool" turns render through the
// template's own tool branches, and on /v1/chat/completions the Hermes
// <tool_call> blocks of the completion come back as OpenAI tool_calls.

// parseTools checks the tools field, a list of
// {"type": "function", "function": {"name", "description", "parameters"}},
// and returns it as the template sees it: the objects as given, their keys
// in the request's order (tool schemas are printed with tojson). Absent or
// null: nil.
func parseTools(raw json.RawMessage) (any, *apiError) {
	if isNull(raw) {
		return nil, nil
	}
	var tools []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &tools); err != nil {
		return nil, invalid("tools", "tools: expected a list of tool objects ({\"type\": \"function\", \"function\": {\"name\": …}})")
	}
	for i, tool := range tools {
		name := fmt.Sprintf("tools[%d]", i)
		if tool == nil {
			return nil, invalid(name, "%s: expected a tool object, got null", name)
		}
		if typ, ok := tool["type"]; ok && !isString(typ, "function") {
			return nil, invalid(name+".type", "%s.type: only \"function\" tools are supported, got %s", name, typ)
		}
		var fn map[string]json.RawMessage
		if err := json.Unmarshal(tool["function"], &fn); err != nil || fn == nil {
			return nil, invalid(name+".function", "%s.function: expected an object with the function's name, description and parameters", name)
		}
		var fname string
		if err := json.Unmarshal(fn["name"], &fname); err != nil || fname == "" {
			return nil, invalid(name+".function.name", "%s.function.name: expected a non-empty string", name)
		}
		if d, ok := fn["description"]; ok && !isNull(d) && d[0] != '"' {
			return nil, invalid(name+".function.description", "%s.function.description: expected a string", name)
		}
		if p, ok := fn["parameters"]; ok && !isNull(p) && p[0] != '{' {
			return nil, invalid(name+".function.parameters", "%s.function.parameters: expected a JSON Schema object", name)
		}
	}
	v, err := template.DecodeJSON(raw)
	if err != nil {
		return nil, invalid("tools", "tools: %v", err)
	}
	return v, nil
}

// wantToolCalls reports whether a completion is to be searched for tool
// calls: tools were given and tool_choice is not "none". (tool_choice
// "required" or a named function would need constrained decoding, which
// aha does not have: checkUnsupported refuses them.)
func wantToolCalls(raw json.RawMessage, tools any) bool {
	if list, _ := tools.([]any); len(list) == 0 {
		return false
	}
	return !isString(raw, "none")
}

// isString reports whether raw is the JSON string s.
func isString(raw json.RawMessage, s string) bool {
	var got string
	return json.Unmarshal(raw, &got) == nil && got == s
}

// templateToolCalls turns an assistant message's OpenAI tool_calls into
// what chat templates read, as vLLM does: each call's arguments, a JSON
// string in the API, decoded into an object (templates print them with
// tojson or iterate them), and an empty or null arguments made {}. No
// calls (null or []): nil, so the message takes the template's plain
// assistant path.
func templateToolCalls(raw json.RawMessage, field string) ([]any, *apiError) {
	if isNull(raw) {
		return nil, nil
	}
	var calls []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &calls); err != nil {
		return nil, invalid(field, "%s: expected a list of tool calls ({\"id\", \"type\": \"function\", \"function\": {\"name\", \"arguments\"}})", field)
	}
	if len(calls) == 0 {
		return nil, nil
	}
	out := make([]any, len(calls))
	for i, call := range calls {
		name := fmt.Sprintf("%s[%d]", field, i)
		if call == nil {
			return nil, invalid(name, "%s: expected a tool call object, got null", name)
		}
		if typ, ok := call["type"]; ok && !isString(typ, "function") {
			return nil, invalid(name+".type", "%s.type: only \"function\" tool calls are supported, got %s", name, typ)
		}
		var fn struct {
			Name      *string         `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		}
		if err := json.Unmarshal(call["function"], &fn); err != nil {
			return nil, invalid(name+".function", "%s.function: expected an object with name and arguments", name)
		}
		if fn.Name == nil || *fn.Name == "" {
			return nil, invalid(name+".function.name", "%s.function.name: expected a non-empty string", name)
		}
		args, aerr := toolArguments(fn.Arguments, name+".function.arguments")
		if aerr != nil {
			return nil, aerr
		}
		tc := map[string]any{"type": "function", "function": map[string]any{"name": *fn.Name, "arguments": args}}
		if id, ok := call["id"]; ok && !isNull(id) {
			var s string
			if json.Unmarshal(id, &s) != nil {
				return nil, invalid(name+".id", "%s.id: expected a string", name)
			}
			tc["id"] = s
		}
		out[i] = tc
	}
	return out, nil
}

// toolArguments decodes a tool call's arguments: a JSON string holding an
// object (OpenAI's form) or an object. vLLM coerces arguments that are not
// an object to {} with a warning; here they are an error, since rendering
// something other than what the caller sent would silently change the
// prompt.
func toolArguments(raw json.RawMessage, field string) (any, *apiError) {
	text := []byte(raw)
	if !isNull(raw) && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, invalid(field, "%s: %v", field, err)
		}
		text = []byte(s)
	}
	text = bytes.TrimSpace(text)
	if len(text) == 0 || string(text) == "null" {
		text = []byte("{}")
	}
	if text[0] != '{' {
		return nil, invalid(field, "%s: expected a JSON object (as a string or an object), got %.40s", field, text)
	}
	v, err := template.DecodeJSON(text)
	if err != nil {
		return nil, invalid(field, "%s: not valid JSON: %v", field, err)
	}
	return v, nil
}

// toolCall is a tool call in a response: in a message, or (with Index) in
// a streamed delta.
type toolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function toolFunction `json:"function"`
}

type toolFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// responseToolCalls gives each parsed call an id, OpenAI's "call_…".
func responseToolCalls(calls []toolcall.Call) []toolCall {
	out := make([]toolCall, len(calls))
	for i, c := range calls {
		out[i] = toolCall{ID: fmt.Sprintf("call_%016x%08x", rand.Uint64(), rand.Uint32()), Type: "function",
			Function: toolFunction{Name: c.Name, Arguments: c.Arguments}}
	}
	return out
}

// toolMessage is the message of a finished sample whose text may hold tool
// calls, and its finish reason. As in vLLM, any call found makes the
// finish reason tool_calls, even when the sample ran out of tokens after
// it; the content is the text before the first call, null if none.
func toolMessage(text, finish string) (*chatMessage, *string) {
	content, calls := toolcall.Parse(text)
	if calls == nil {
		return &chatMessage{Role: "assistant", Content: &text}, &finish
	}
	m := &chatMessage{Role: "assistant", Content: nilIfEmpty(content), ToolCalls: responseToolCalls(calls)}
	return m, new("tool_calls")
}

// toolDelta passes one streamed event's text through the sample's parser
// p. It returns the delta for the event itself, which is empty while text
// is held (the event's logprobs and ids still go out with it), with the
// event's finish reason unless calls were found; and, on the sample's
// last event when calls were found, the choices that follow it: one delta
// per call, then an empty delta with finish_reason tool_calls. Put
// together, the deltas say what toolMessage says.
func toolDelta(ev engine.Event, p *toolcall.Stream) (*chatDelta, *string, []chatChoice) {
	text := p.Feed(ev.Text)
	if ev.Finish == "" {
		return &chatDelta{Content: nilIfEmpty(text)}, nil, nil
	}
	rest, calls := p.Finish()
	d := &chatDelta{Content: nilIfEmpty(text + rest)}
	if calls == nil {
		return d, new(ev.Finish), nil
	}
	var after []chatChoice
	for i, tc := range responseToolCalls(calls) {
		tc.Index = new(i)
		after = append(after, chatChoice{Index: ev.Sample, Delta: &chatDelta{ToolCalls: []toolCall{tc}}})
	}
	after = append(after, chatChoice{Index: ev.Sample, Delta: &chatDelta{}, FinishReason: new("tool_calls")})
	return d, nil, after
}

// nilIfEmpty is s, or nil (JSON null or left out) when it is empty.
func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
