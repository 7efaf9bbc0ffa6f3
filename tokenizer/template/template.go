package template

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nikolalohinski/gonja/v2/builtins"
	"github.com/nikolalohinski/gonja/v2/config"
	"github.com/nikolalohinski/gonja/v2/exec"
	"github.com/nikolalohinski/gonja/v2/loaders"
)

// Message is one turn of a conversation. Templates read it as a Python dict:
// message['content'], message.content, 'tool_calls' in message,
// message.reasoning_content is defined. Keys absent from the map are
// undefined in the template; keys present with a nil value are none.
type Message map[string]any

// Context is everything a template sees when it renders.
type Context struct {
	Messages            []Message
	AddGenerationPrompt bool
	// Vars holds the other template variables: the special tokens
	// (bos_token, eos_token, …), enable_thinking, date_string, tools,
	// documents. A key that is absent is undefined in the template, as in
	// transformers; tools and documents are none unless set here.
	Vars map[string]any
	// Now is the clock strftime_now reads; nil means time.Now.
	Now func() time.Time
}

// Template is a parsed chat template. It is safe for concurrent use.
type Template struct {
	tpl *exec.Template
}

// rootName names the one template a Template holds, in gonja's error messages.
const rootName = "chat_template"

// environment is transformers' Jinja environment: the standard filters,
// tests and statements, with tojson, range and namespace replaced by the
// versions transformers and its immutable sandbox provide, mutating list and
// dict methods removed, and set and macro guarded (guards.go).
var environment = newEnvironment()

// settings mirrors transformers' ImmutableSandboxedEnvironment(trim_blocks=True,
// lstrip_blocks=True); everything else keeps Jinja2's defaults.
var settings = func() *config.Config {
	c := config.New()
	c.TrimBlocks = true
	c.LeftStripBlocks = true
	return c
}()

func newEnvironment() *exec.Environment {
	filters := exec.NewFilterSet(map[string]exec.FilterFunction{}).Update(builtins.Filters)
	for name, f := range map[string]exec.FilterFunction{"tojson": toJSONFilter, "items": itemsFilter} {
		if err := filters.Replace(name, f); err != nil {
			panic(err) // gonja without these filters: a broken dependency, not bad input
		}
	}
	globals := exec.EmptyContext().Update(builtins.GlobalFunctions).Update(builtins.GlobalVariables)
	globals.Set("range", safeRange)
	globals.Set("namespace", newNamespace)
	listMethods, dictMethods := readOnlyMethods()
	return &exec.Environment{
		Context:           globals,
		Filters:           filters,
		Tests:             builtins.Tests,
		ControlStructures: guardedControlStructures(),
		Methods: exec.Methods{
			Bool:  builtins.Methods.Bool,
			Int:   builtins.Methods.Int,
			Float: builtins.Methods.Float,
			Str:   strMethods(),
			Dict:  dictMethods,
			List:  listMethods,
		},
	}
}

// Parse parses a chat template's Jinja source.
func Parse(src string) (t *Template, err error) {
	defer recoverInto(&err, "parse chat template")
	// Python cannot even hold such text, and gonja's lexer can loop forever
	// on some of it.
	if !utf8.ValidString(src) {
		return nil, errors.New("parse chat template: not valid UTF-8")
	}
	if err := checkTagsASCII(src); err != nil {
		return nil, fmt.Errorf("parse chat template: %w", err)
	}
	tpl, err := exec.NewTemplate(rootName, settings, sourceLoader(src), environment)
	if err != nil {
		return nil, fmt.Errorf("parse chat template: %w", unwrapSource(err))
	}
	return &Template{tpl: tpl}, nil
}

// Render renders the conversation in c. A template that calls
// raise_exception fails with an error carrying its message.
func (t *Template) Render(c Context) (out string, err error) {
	defer recoverInto(&err, "render chat template")
	data := map[string]any{"tools": nil, "documents": nil}
	maps.Copy(data, c.Vars)
	// Each message is copied: transformers' sandbox never lets a template
	// change the caller's conversation, and this makes sure no path through
	// gonja can.
	messages := make(list, len(c.Messages))
	for i, m := range c.Messages {
		messages[i] = maps.Clone(map[string]any(m))
	}
	data["messages"] = messages
	data["add_generation_prompt"] = c.AddGenerationPrompt
	now := c.Now
	if now == nil {
		now = time.Now
	}
	data["strftime_now"] = func(format string) string { return strftime(now(), format) }
	// raise_exception is bound per render so that the message it was called
	// with can be told apart from gonja's own errors, whose wrapping loses
	// the error chain.
	var raised *RaisedError
	data["raise_exception"] = func(message string) (string, error) {
		raised = &RaisedError{Message: message}
		return "", raised
	}

	out, err = t.tpl.ExecuteToString(exec.NewContext(data))
	if raised != nil {
		return "", raised
	}
	if err != nil {
		return "", fmt.Errorf("render chat template: %w", err)
	}
	return out, nil
}

// RaisedError is the error of a template that called raise_exception, as
// transformers raises jinja2's TemplateError: the conversation is one the
// template refuses (say, two tool calls where the model allows one).
type RaisedError struct {
	Message string
}

func (e *RaisedError) Error() string { return "chat template raised an exception: " + e.Message }

// recoverInto turns a panic inside gonja into an error, so that no template
// text or message content can crash the caller.
func recoverInto(err *error, what string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: internal error in the Jinja engine: %v", what, r)
	}
}

// unwrapSource drops the whole template source that gonja puts in its parse
// errors ("failed to parse template '<source>': <reason>"), keeping the
// reason, which names the line.
func unwrapSource(err error) error {
	if inner := errors.Unwrap(err); inner != nil {
		return inner
	}
	return err
}

// sourceLoader serves the template's own source and nothing else: as in
// transformers, which gives Jinja no loader, include, import and extends
// find no template (and so can never read files from disk).
type sourceLoader string

func (l sourceLoader) Read(name string) (io.Reader, error) {
	if name != rootName {
		return nil, fmt.Errorf("template %q not found: chat templates cannot load other templates", name)
	}
	return strings.NewReader(string(l)), nil
}

func (l sourceLoader) Resolve(name string) (string, error) { return name, nil }

func (l sourceLoader) Inherit(string) (loaders.Loader, error) { return l, nil }

// fallbackSource is the prompt format for models that ship no chat template
// (tiny base models such as stories260K): each message's text followed by a
// blank line, and nothing more for the generation prompt.
const fallbackSource = "{% for message in messages %}{{ message['content'] }}{{ '\\n\\n' }}{% endfor %}"

// Fallback renders conversations for a model without a chat template.
var Fallback = func() *Template {
	t, err := Parse(fallbackSource)
	if err != nil {
		panic(err) // the constant above is broken: a bug, caught by the tests
	}
	return t
}()
