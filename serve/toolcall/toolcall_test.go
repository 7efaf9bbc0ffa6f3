package toolcall

import (
	"reflect"
	"testing"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	weather := Call{Name: "get_weather", Arguments: `{"city": "Zürich", "unit": "celsius"}`}
	for _, tc := range []struct {
		name, text, content string
		calls               []Call
	}{
		{"no call", "It is sunny.", "It is sunny.", nil},
		{"one call", "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Zürich\", \"unit\": \"celsius\"}}\n</tool_call>", "", []Call{weather}},
		{"text before stays content", "Let me check.\n<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Zürich\",\"unit\":\"celsius\"}}\n</tool_call>",
			"Let me check.\n", []Call{weather}},
		{"two calls, text between and after dropped",
			`<tool_call>{"name": "a", "arguments": {}}</tool_call> and <tool_call>{"name": "b", "arguments": {"x": [1, 2.5, true, null]}}</tool_call> done`,
			"", []Call{{"a", "{}"}, {"b", `{"x": [1, 2.5, true, null]}`}}},
		{"unclosed last call", `<tool_call>{"name": "a", "arguments": {"n": 1}}` + "\n", "", []Call{{"a", `{"n": 1}`}}},
		{"keys keep the model's order", `<tool_call>{"arguments": {"z": 1, "a": {"y": 2, "b": 3}}, "name": "f"}</tool_call>`, "", []Call{{"f", `{"z": 1, "a": {"y": 2, "b": 3}}`}}},
		{"arguments that are not an object", `<tool_call>{"name": "f", "arguments": "x"}</tool_call>`, "", []Call{{"f", `"x"`}}},
		{"malformed JSON leaves everything content", "Hi <tool_call>{\"name\": \"f\", \"arguments\": {</tool_call>", "Hi <tool_call>{\"name\": \"f\", \"arguments\": {</tool_call>", nil},
		{"one bad block spoils all", `<tool_call>{"name": "a", "arguments": {}}</tool_call><tool_call>[1]</tool_call>`, `<tool_call>{"name": "a", "arguments": {}}</tool_call><tool_call>[1]</tool_call>`, nil},
		{"name missing", `<tool_call>{"arguments": {}}</tool_call>`, `<tool_call>{"arguments": {}}</tool_call>`, nil},
		{"name null", `<tool_call>{"name": null, "arguments": {}}</tool_call>`, `<tool_call>{"name": null, "arguments": {}}</tool_call>`, nil},
		{"name not a string", `<tool_call>{"name": 3, "arguments": {}}</tool_call>`, `<tool_call>{"name": 3, "arguments": {}}</tool_call>`, nil},
		{"arguments missing", `<tool_call>{"name": "f"}</tool_call>`, `<tool_call>{"name": "f"}</tool_call>`, nil},
		{"empty block", `<tool_call></tool_call>`, `<tool_call></tool_call>`, nil},
		{"closing tag alone", `a </tool_call> b`, `a </tool_call> b`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			content, calls := Parse(tc.text)
			if content != tc.content || !reflect.DeepEqual(calls, tc.calls) {
				t.Fatalf("Parse(%q) = %q, %q; want %q, %q", tc.text, content, calls, tc.content, tc.calls)
			}
			checkStream(t, tc.text)
		})
	}
}

// checkStream feeds text to a Stream one byte at a time, then in two
// pieces split everywhere, and wants Parse's result each time.
func checkStream(t *testing.T, text string) {
	t.Helper()
	wantContent, wantCalls := Parse(text)
	run := func(pieces []string) {
		var s Stream
		got := ""
		for _, p := range pieces {
			got += s.Feed(p)
		}
		rest, calls := s.Finish()
		if got+rest != wantContent || !reflect.DeepEqual(calls, wantCalls) {
			t.Fatalf("streamed as %q: content %q + %q, calls %q; Parse gives %q, %q", pieces, got, rest, calls, wantContent, wantCalls)
		}
	}
	bytes := make([]string, len(text))
	for i := range len(text) {
		bytes[i] = text[i : i+1]
	}
	run(bytes)
	for i := range len(text) + 1 {
		run([]string{text[:i], text[i:]})
	}
}

func TestStreamReleasesContentEarly(t *testing.T) {
	var s Stream
	for _, step := range []struct{ piece, want string }{
		{"Let me check", "Let me check"},
		{". <tool", ". "},                       // "<tool" may open a call: held
		{"box> is a tag", "<toolbox> is a tag"}, // it did not
		{" <tool_c", " "},
		{"all>{\"name\": \"f\", \"arguments\": {}}", ""}, // inside a call: held to the end
		{"</tool_call>", ""},
	} {
		if got := s.Feed(step.piece); got != step.want {
			t.Fatalf("Feed(%q) = %q, want %q", step.piece, got, step.want)
		}
	}
	if rest, calls := s.Finish(); rest != "" || !reflect.DeepEqual(calls, []Call{{"f", "{}"}}) {
		t.Fatalf("Finish() = %q, %q", rest, calls)
	}
}

// FuzzParse checks that Parse never panics, that what it calls content is
// a prefix of the text, that arguments are JSON, and that a Stream fed the
// same text in two pieces agrees with it.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"plain text",
		"Sure.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
		`<tool_call>{"name": "a", "arguments": {"x": 1e400}}</tool_call><tool_call>{"name": "b", "arguments": [1, {"k": "\u00e9"}]}`,
		"<tool_call>{\"name\": \"x\", \"arguments\": {}}</tool_call><tool_call>",
		"<tool_c<tool_call><tool_call></tool_call>",
	} {
		f.Add(seed, 3)
	}
	f.Fuzz(func(t *testing.T, text string, split int) {
		content, calls := Parse(text)
		if len(content) > len(text) || text[:len(content)] != content {
			t.Fatalf("content %q is not a prefix of %q", content, text)
		}
		for _, c := range calls {
			if !utf8.ValidString(c.Arguments) || c.Arguments == "" {
				t.Fatalf("arguments %q", c.Arguments)
			}
		}
		split = max(0, min(len(text), split))
		var s Stream
		got := s.Feed(text[:split])
		got += s.Feed(text[split:])
		rest, streamed := s.Finish()
		if got+rest != content || !reflect.DeepEqual(streamed, calls) {
			t.Fatalf("stream split at %d: %q + %q, %q; Parse: %q, %q", split, got, rest, streamed, content, calls)
		}
	})
}
