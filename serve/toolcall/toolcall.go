// Package toolcall finds the tool calls in a model's completion, in the
// Hermes form that Qwen2.5, Qwen3 and QwQ are trained to write (their chat
// templates ask for it):
//
//	<tool_call>
//	{"name": "get_weather", "arguments": {"city": "Paris"}}
//	</tool_call>
//
// It reads them as vLLM's hermes tool parser does: every block is a call,
// the last one may be left unclosed (the model stopped after it), the text
// before the first block is the message's content and text between or after
// blocks is dropped. If any block is not a JSON object with a string name
// and an arguments value, nothing is a call and the whole text stays
// content, so a model that merely talks about <tool_call> loses nothing.
package toolcall

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aha-inference/aha/tokenizer/template"
)

const (
	startTag = "<tool_call>"
	endTag   = "</tool_call>"
)

// Call is one tool call.
type Call struct {
	Name string
	// Arguments is the arguments value as JSON text, written as vLLM
	// writes it (Python's json.dumps: ", " and ": ", keys in the model's
	// order), which is what OpenAI's function.arguments string holds.
	Arguments string
}

// Parse splits a completion into its content and its tool calls. With no
// calls, content is the whole text.
func Parse(text string) (content string, calls []Call) {
	start := strings.Index(text, startTag)
	if start < 0 {
		return text, nil
	}
	for rest := text[start:]; ; {
		body, after, closed := strings.Cut(rest[len(startTag):], endTag)
		c, err := parseCall(body)
		if err != nil {
			return text, nil
		}
		calls = append(calls, c)
		if !closed {
			break
		}
		i := strings.Index(after, startTag)
		if i < 0 {
			break
		}
		rest = after[i:]
	}
	return text[:start], calls
}

// parseCall reads one block's JSON: {"name": "…", "arguments": …}.
func parseCall(body string) (Call, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &obj); err != nil {
		return Call{}, err
	}
	var name *string
	if err := json.Unmarshal(obj["name"], &name); err != nil || name == nil {
		return Call{}, fmt.Errorf("tool call without a string name: %.40q", body)
	}
	c := Call{Name: *name}
	raw, ok := obj["arguments"]
	if !ok {
		return Call{}, fmt.Errorf("tool call %q without arguments", c.Name)
	}
	// Decoding keeps the model's key order; encoding writes Python's spacing.
	args, err := template.DecodeJSON(raw)
	if err != nil {
		return Call{}, err
	}
	if c.Arguments, err = template.EncodeJSON(args); err != nil {
		return Call{}, err
	}
	return c, nil
}

// Stream finds tool calls in a completion that arrives in pieces. Content
// before the first <tool_call> passes through as it comes (less a tail
// that could be the start of the tag); from the tag on, the text is held
// until the end, because a malformed block anywhere turns the whole
// completion back into content. Put together, what a Stream releases is
// exactly what Parse returns for the whole text.
type Stream struct {
	pending string // held: a possible start of the tag, or everything from the tag on
	holding bool   // the tag was seen
}

// Feed takes the next piece of the completion and returns the content that
// can be released now.
func (s *Stream) Feed(piece string) string {
	if s.holding {
		s.pending += piece
		return ""
	}
	buf := s.pending + piece
	if i := strings.Index(buf, startTag); i >= 0 {
		s.holding, s.pending = true, buf[i:]
		return buf[:i]
	}
	keep := partialTag(buf)
	s.pending = buf[len(buf)-keep:]
	return buf[:len(buf)-keep]
}

// Finish ends the completion: it returns the content still held and the
// calls, as Parse would for the whole text.
func (s *Stream) Finish() (content string, calls []Call) {
	if !s.holding {
		return s.pending, nil
	}
	if _, calls = Parse(s.pending); calls == nil {
		return s.pending, nil
	}
	return "", calls
}

// partialTag is the length of the longest suffix of s that is a proper
// prefix of the opening tag.
func partialTag(s string) int {
	for n := min(len(startTag)-1, len(s)); n > 0; n-- {
		if strings.HasSuffix(s, startTag[:n]) {
			return n
		}
	}
	return 0
}
