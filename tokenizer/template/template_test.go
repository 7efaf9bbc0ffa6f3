package template

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/tokenizer"
)

// expectedCase is one file of shared/testdata/chat_templates/expected: a
// conversation and the prompt transformers renders for it.
type expectedCase struct {
	Template            string          `json:"template"`
	TemplateSHA256      string          `json:"template_sha256"`
	Messages            []Message       `json:"messages"`
	AddGenerationPrompt bool            `json:"add_generation_prompt"`
	Tools               json.RawMessage `json:"tools"`
	Documents           json.RawMessage `json:"documents"`
	Variables           map[string]any  `json:"variables"`
	Expected            string          `json:"expected"`
}

// loadTemplate reads a case's template: a .jinja file, or the chat_template
// of a tokenizer_config.json ("path#chat_template"), whose special tokens are
// returned too.
func loadTemplate(t *testing.T, ref string) (src string, vars map[string]any) {
	t.Helper()
	path, fromConfig := strings.CutSuffix(ref, "#chat_template")
	data, err := os.ReadFile(shared.Path(t, filepath.Join("testdata", path)))
	if err != nil {
		t.Fatal(err)
	}
	if !fromConfig {
		return string(data), nil
	}
	cfg, err := tokenizer.ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.ChatTemplate(), cfg.TemplateVars()
}

// TestExpected renders every case of shared/testdata/chat_templates/expected
// and wants transformers' output byte for byte.
func TestExpected(t *testing.T) {
	dir := shared.Path(t, "testdata/chat_templates/expected")
	var index struct {
		Cases []string `json:"cases"`
	}
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Cases) < 70 {
		t.Fatalf("index.json lists %d cases, want at least 70", len(index.Cases))
	}
	for _, name := range index.Cases {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			var c expectedCase
			if err := json.Unmarshal(data, &c); err != nil {
				t.Fatal(err)
			}
			src, configVars := loadTemplate(t, c.Template)
			// The special tokens tokenizer.ParseConfig reads must be the ones
			// transformers passed.
			for k, v := range c.Variables {
				if got, ok := configVars[k]; configVars != nil && strings.HasSuffix(k, "_token") && (!ok || got != v) {
					t.Errorf("tokenizer.ParseConfig %s = %v, want %v", k, got, v)
				}
			}
			if string(c.Tools) != "null" || string(c.Documents) != "null" {
				t.Fatalf("case passes tools or documents; this test passes none")
			}
			tmpl, err := Parse(src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tmpl.Render(Context{Messages: c.Messages, AddGenerationPrompt: c.AddGenerationPrompt, Vars: c.Variables})
			if err != nil {
				t.Fatal(err)
			}
			if got != c.Expected {
				t.Errorf("render differs from transformers\n got %q\nwant %q", got, c.Expected)
			}
		})
	}
}

// toolCase is one file of testdata/tools: a shared template rendered with
// tools by @huggingface/jinja and checked against Python's jinja2
// (testdata/gen-tools). Messages, tools and variables are decoded as
// DecodeJSON decodes them, so objects keep their order, as in Python.
type toolCase struct {
	Template            string                       `json:"template"`
	TemplateSHA256      string                       `json:"template_sha256"`
	Messages            []map[string]json.RawMessage `json:"messages"`
	AddGenerationPrompt bool                         `json:"add_generation_prompt"`
	Tools               json.RawMessage              `json:"tools"`
	Variables           map[string]json.RawMessage   `json:"variables"`
	Expected            *string                      `json:"expected"`
	Error               string                       `json:"error"`
}

// TestToolCases renders every tool case and wants the reference's output
// byte for byte, or its template's raise_exception message.
func TestToolCases(t *testing.T) {
	files, err := filepath.Glob("testdata/tools/*.json")
	if err != nil || len(files) < 30 {
		t.Fatalf("%d tool cases in testdata/tools (%v), want at least 30", len(files), err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var c toolCase
			if err := json.Unmarshal(data, &c); err != nil {
				t.Fatal(err)
			}
			src, _ := loadTemplate(t, c.Template)
			if sum := fmt.Sprintf("%x", sha256.Sum256([]byte(src))); sum != c.TemplateSHA256 {
				t.Fatalf("template sha256 %s, the case was rendered from %s", sum, c.TemplateSHA256)
			}
			decode := func(raw json.RawMessage) any {
				v, err := DecodeJSON(raw)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			ctx := Context{AddGenerationPrompt: c.AddGenerationPrompt, Vars: map[string]any{"tools": decode(c.Tools)}}
			for k, v := range c.Variables {
				ctx.Vars[k] = decode(v)
			}
			for _, m := range c.Messages {
				msg := Message{}
				for k, v := range m {
					msg[k] = decode(v)
				}
				ctx.Messages = append(ctx.Messages, msg)
			}
			tmpl, err := Parse(src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tmpl.Render(ctx)
			if c.Expected == nil {
				var raised *RaisedError
				if !errors.As(err, &raised) || raised.Message != c.Error {
					t.Fatalf("got %q, %v; want the template to raise %q", got, err, c.Error)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != *c.Expected {
				t.Errorf("render differs from the reference\n got %q\nwant %q", got, *c.Expected)
			}
		})
	}
}

// TestStrftimeNow renders Llama 3.2's template without date_string: the
// template then prints strftime_now("%d %b %Y") from the pinned clock.
func TestStrftimeNow(t *testing.T) {
	src, vars := loadTemplate(t, "tokenizers/llama3.2/tokenizer_config.json#chat_template")
	tmpl, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Date(2026, time.March, 5, 23, 59, 0, 0, time.UTC) }
	got, err := tmpl.Render(Context{
		Messages:            []Message{{"role": "user", "content": "Hi"}},
		AddGenerationPrompt: true,
		Vars:                vars,
		Now:                 now,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 05 Mar 2026\n\n<|eot_id|>" +
		"<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// pythonCase is one case of testdata/python_cases.json, rendered by Python's
// jinja2 set up as transformers sets it up (testdata/gen_python_cases.py).
type pythonCase struct {
	Name     string                     `json:"name"`
	Template string                     `json:"template"`
	Vars     map[string]json.RawMessage `json:"vars"`
	Expected *string                    `json:"expected"`
	Error    string                     `json:"error"`
}

// knownGaps are the Python cases gonja renders differently, with the reason.
// None of the chat templates in the shared test data runs into them; the test
// fails when one starts to match, so that the list stays true.
var knownGaps = map[string]string{
	"str-index-negative":          "gonja refuses the negative index that reaches a string's first character, and indexes bytes",
	"list-literal-index-negative": "gonja refuses the negative index that reaches the first item of a list literal (split results and messages index as Python)",
	"print-none-bool":             "gonja prints none as an empty string, Python as None; and 2**10 as a float",
	"print-list-dict":             "gonja prints none inside a list as nothing, Python as None",
	"undefined-tests":             "gonja has no undefined distinct from none: a variable set to none is not defined",
	"str-concat-tilde":            "gonja prints none as an empty string, Python as None",
	"filter-misc":                 "gonja's default replaces none too, Python's only undefined",
	"str-unicode-len":             "gonja indexes strings by byte, Python by character",
	"str-format":                  "gonja does not implement Python's % string formatting (an error here, not a panic)",
	"filter-dictsort":             "gonja's dictsort sees no items in an ordered dict (a template literal or DecodeJSON object)",
	"filter-abs-round":            "gonja rounds halves away from zero, Python to even",
	"dict-methods":                "gonja's dict methods turn an ordered dict into a Go map, losing its order",
	"undefined-concat":            "gonja concatenates undefined as an empty string, Python raises an error",
}

// TestPython compares the renderer with Python's jinja2 on small programs
// covering the Jinja features and Python methods chat templates use.
func TestPython(t *testing.T) {
	data, err := os.ReadFile("testdata/python_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Now   string       `json:"now"`
		Cases []pythonCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	now, err := time.ParseInLocation("2006-01-02T15:04:05.999999", file.Now, time.Local)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range file.Cases {
		t.Run(c.Name, func(t *testing.T) {
			ctx := Context{Vars: map[string]any{}, Now: func() time.Time { return now }}
			for k, raw := range c.Vars {
				if k == "messages" {
					if err := json.Unmarshal(raw, &ctx.Messages); err != nil {
						t.Fatal(err)
					}
					continue
				}
				v, err := DecodeJSON(raw)
				if err != nil {
					t.Fatal(err)
				}
				ctx.Vars[k] = v
			}
			got, err := render(c.Template, ctx)
			var problem string
			switch {
			case c.Expected == nil && err == nil:
				problem = fmt.Sprintf("Python fails with %q; Go renders %q", c.Error, got)
			case c.Expected != nil && err != nil:
				problem = fmt.Sprintf("Python renders %q; Go fails: %v", *c.Expected, err)
			case c.Expected != nil && got != *c.Expected:
				problem = fmt.Sprintf("differs from Python\n got %q\nwant %q", got, *c.Expected)
			}
			reason, known := knownGaps[c.Name]
			switch {
			case known && problem == "":
				t.Errorf("matches Python now: remove it from knownGaps (%s)", reason)
			case known:
				t.Skipf("known gap: %s: %s", reason, problem)
			case problem != "":
				t.Error(problem)
			}
		})
	}
}

func render(src string, c Context) (string, error) {
	tmpl, err := Parse(src)
	if err != nil {
		return "", err
	}
	return tmpl.Render(c)
}

func TestRaiseException(t *testing.T) {
	tmpl, err := Parse("{% if messages | length > 1 %}{{ raise_exception('only one message, got ' ~ messages | length) }}{% endif %}ok")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmpl.Render(Context{Messages: []Message{{"role": "user"}, {"role": "user"}}})
	var raised *RaisedError
	if !errors.As(err, &raised) || raised.Message != "only one message, got 2" {
		t.Fatalf("got error %v, want a RaisedError with the template's message", err)
	}
	if got, err := tmpl.Render(Context{Messages: []Message{{"role": "user"}}}); err != nil || got != "ok" {
		t.Fatalf("got %q, %v; want ok", got, err)
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      string // a substring of the error
	}{
		{"unclosed block", "line one\n{% if true %}\nline three", "Line: 3"},
		{"bad expression", "x\n{{ 1 + }}", "Line: 2"},
		{"unknown filter", "{{ 'a' | nosuchfilter }}", "nosuchfilter"},
		{"include reads no files", "{% include '/etc/passwd' %}", "not found"},
		{"range is bounded", "{% for i in range(1000000) %}{% endfor %}", "range too big"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := Parse(tc.src)
			if err == nil {
				_, err = tmpl.Render(Context{})
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestRenderKeepsMessages(t *testing.T) {
	msgs := []Message{{"role": "user", "content": "original", "parts": []any{"a"}}}
	for _, src := range []string{
		"{% set m = messages[0] %}{% set _ = m.update({'content': 'changed'}) %}",
		"{% set _ = messages[0].parts.append('b') %}",
		"{% set m = messages[0] %}{% set m.content = 'changed' %}",
	} {
		// As in transformers' immutable sandbox, the attempt is an error.
		if _, err := render(src, Context{Messages: msgs}); err == nil {
			t.Errorf("%s: rendered without error", src)
		}
	}
	if msgs[0]["content"] != "original" || len(msgs[0]["parts"].([]any)) != 1 {
		t.Fatalf("Render changed the caller's message: %v", msgs[0])
	}
}

// TestGuards checks the templates that would overflow gonja's stack, which
// no recover can catch, fail with an error instead.
func TestGuards(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"namespace containing itself", "{% set ns = namespace(x=1) %}{% set ns.x = ns %}{{ ns.x }}", "contain itself"},
		{"namespaces containing each other", "{% set a = namespace() %}{% set b = namespace(a=a) %}{% set a.b = [b] %}{{ a }}", "contain itself"},
		{"infinite macro recursion", "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "macro recursion"},
		{"mutual macro recursion", "{% macro f() %}{{ g() }}{% endmacro %}{% macro g() %}{{ f() }}{% endmacro %}{{ f() }}", "macro recursion"},
		{"subscript assignment", "{% set d = {} %}{% set d['x'] = 1 %}", "subscript"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := render(tc.src, Context{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestFallback(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Context
		want string
	}{
		{"system and user", Context{Messages: []Message{{"role": "system", "content": "Be nice."}, {"role": "user", "content": "Once upon a time"}}, AddGenerationPrompt: true},
			"Be nice.\n\nOnce upon a time\n\n"},
		{"user only, no generation prompt", Context{Messages: []Message{{"role": "user", "content": "Hi"}}}, "Hi\n\n"},
		{"empty", Context{AddGenerationPrompt: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Fallback.Render(tc.c)
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestDecodeJSON(t *testing.T) {
	tmpl, err := Parse("{{ x | tojson }}|{{ x.b[0] + 1 }}|{{ x['a'] }}|{{ x is mapping }}|{% for k, v in x | items %}{{ k }}{% endfor %}")
	if err != nil {
		t.Fatal(err)
	}
	x, err := DecodeJSON([]byte(`{"z": {"n": 3, "f": 3.0, "e": 1e2}, "b": [0], "a": "é", "b": [1]}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Render(Context{Vars: map[string]any{"x": x}})
	want := `{"z": {"n": 3, "f": 3.0, "e": 100.0}, "b": [1], "a": "é"}|2|é|True|zba`
	if err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
	if got, err := EncodeJSON(x); err != nil || got != `{"z": {"n": 3, "f": 3.0, "e": 100.0}, "b": [1], "a": "é"}` {
		t.Fatalf("EncodeJSON: got %q, %v", got, err)
	}
	for _, bad := range []string{`{`, `[1,]`, `1 2`, strings.Repeat("[", 1000) + strings.Repeat("]", 1000)} {
		if _, err := DecodeJSON([]byte(bad)); err == nil {
			t.Errorf("DecodeJSON(%.20q) succeeded, want an error", bad)
		}
	}
}

func TestStrftime(t *testing.T) {
	at := time.Date(2024, time.July, 6, 15, 4, 5, 7000, time.UTC)
	for _, tc := range []struct{ format, want string }{
		{"%d %b %Y", "06 Jul 2024"},
		{"%-d %B %y", "6 July 24"},
		{"%a %A %j %w %u", "Sat Saturday 188 6 6"},
		{"%H:%M:%S.%f %I%p", "15:04:05.000007 03PM"},
		{"[%e] [%-m] %z%Z %% %q %", "[ 6] [7]  % %q %"},
	} {
		if got := strftime(at, tc.format); got != tc.want {
			t.Errorf("strftime(%q) = %q, want %q", tc.format, got, tc.want)
		}
	}
}

// FuzzRender feeds arbitrary template text and message content: Parse and
// Render may fail, but never panic or hang.
func FuzzRender(f *testing.F) {
	for _, seed := range []string{
		"{% for m in messages %}{{ m.role }}: {{ m.content.strip() }}\n{% endfor %}",
		"{{ messages[0]['content'].split('</think>')[-1] | tojson(indent=2) }}",
		"{% set ns = namespace(x=1) %}{% set ns.x = ns.x + 1 %}{{ ns.x }}{{ raise_exception('no') }}",
		"{% if add_generation_prompt %}{{ bos_token + strftime_now('%d %b %Y') }}{% endif %}",
		"{% macro f(a) %}{{ a * 3 }}{% endmacro %}{{ f(messages | length) }}{% for i in range(3) %}{% break %}{% endfor %}",
		"{{ 1 / 0 }}{{ none.x }}{{ [][5] }}{{ {}['k'] }}",
		"{% for",
	} {
		f.Add(seed, "What is 2+2?<think>\n</think>")
	}
	f.Fuzz(func(t *testing.T, src, content string) {
		if asksHugeAllocation(src) {
			t.Skip("may ask for terabytes, which Go cannot recover from (see the package comment)")
		}
		tmpl, err := Parse(src)
		if err != nil {
			return
		}
		c := Context{
			Messages:            []Message{{"role": "system", "content": content}, {"role": "user", "content": content}},
			AddGenerationPrompt: true,
			Vars:                map[string]any{"bos_token": "<s>", "eos_token": "</s>"},
		}
		_, _ = tmpl.Render(c)
	})
}

// asksHugeAllocation reports whether a template can build a string of any
// size it likes: with the * operator ('x' * 10**12) or a long number literal
// as a width (center(999999999999)). Python raises MemoryError for those;
// gonja allocates, and running out of memory kills a Go process.
func asksHugeAllocation(src string) bool {
	digits := 0
	for _, c := range src {
		if c >= '0' && c <= '9' {
			digits++
			if digits > 6 {
				return true
			}
		} else {
			digits = 0
		}
	}
	return strings.Contains(src, "*")
}

// BenchmarkRenderQwen3 renders Qwen3's template for a four-message conversation.
func BenchmarkRenderQwen3(b *testing.B) {
	data, err := os.ReadFile(shared.Path(b, "testdata/chat_templates/Qwen-Qwen3-0.6B.jinja"))
	if err != nil {
		b.Fatal(err)
	}
	tmpl, err := Parse(string(data))
	if err != nil {
		b.Fatal(err)
	}
	c := Context{
		Messages: []Message{
			{"role": "system", "content": "You are a helpful assistant."},
			{"role": "user", "content": "What is 2+2?"},
			{"role": "assistant", "content": "<think>\nThe user asks for 2+2. Two plus two is four.\n</think>\n\n2+2 = 4."},
			{"role": "user", "content": "And 3+3?"},
		},
		AddGenerationPrompt: true,
		Vars:                map[string]any{"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Render(c); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCheckTagsASCII(t *testing.T) {
	for _, tc := range []struct {
		src string
		ok  bool
	}{
		{"{{ '<｜User｜>' + x }} text é {# comment é #} {% if \"é\" %}{% endif %}", true},
		{"{% raw %}{{ é }}{% endraw %}{{ 'é' }}", true},
		{"{{ 'a\\'é' }}", true},
		{"{{ x }}\n{{ 0.羧 }}", false},
		{"{% set é = 1 %}", false},
		{"{{ 'unclosed", true},
	} {
		err := checkTagsASCII(tc.src)
		if (err == nil) != tc.ok {
			t.Errorf("checkTagsASCII(%q) = %v, want ok=%v", tc.src, err, tc.ok)
		}
	}
	if err := checkTagsASCII("a\n\n{{ x.é }}"); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("error %v does not name line 3", err)
	}
}

// TestConcurrentRender renders one Template from several goroutines (run
// with -race to check the sharing), each wanting its own conversation back.
func TestConcurrentRender(t *testing.T) {
	tmpl, err := Parse("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{{ m.content }}{% endfor %}:{{ ns.n }}")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			for i := range 50 {
				content := fmt.Sprint(g, "-", i)
				got, err := tmpl.Render(Context{Messages: []Message{{"content": content}}})
				if err == nil && got != content+":1" {
					err = fmt.Errorf("got %q, want %q", got, content+":1")
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestQwen3ThinkTagOnly: Qwen3's template splits assistant content on
// </think> and indexes the last part; content with nothing before the tag
// (a one-item or empty-first split) renders as transformers renders it.
// The expected texts are Python jinja2's, in transformers' environment.
func TestQwen3ThinkTagOnly(t *testing.T) {
	src, vars := loadTemplate(t, "chat_templates/Qwen-Qwen3-0.6B.jinja")
	tpl, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		content string
		last    bool
		want    string
	}{
		{"</think>", false, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<|im_end|>\n<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n"},
		{"</think>", true, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n<|im_end|>\n"},
		{"</think>b", true, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nb<|im_end|>\n"},
		{"a</think>", true, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\na\n</think>\n\n<|im_end|>\n"},
	} {
		msgs := []Message{{"role": "user", "content": "hi"}, {"role": "assistant", "content": c.content}}
		if !c.last {
			msgs = append(msgs, Message{"role": "user", "content": "x"})
		}
		got, err := tpl.Render(Context{Messages: msgs, AddGenerationPrompt: !c.last, Vars: vars})
		if err != nil || got != c.want {
			t.Errorf("assistant content %q (last %v): %v\n got %q\nwant %q", c.content, c.last, err, got, c.want)
		}
	}
}
