package loader

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/tokenizer/template"
)

// TestLoadEmbedded loads the embedded model, says so on the log, and
// generates from it through the engine.
func TestLoadEmbedded(t *testing.T) {
	var out bytes.Buffer
	l, err := Load("", Options{Threads: 1, Log: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if line := out.String(); !strings.Contains(line, "loaded stories260K (embedded)") || !strings.Contains(line, "running on cpu") {
		t.Errorf("load line %q does not name the model and the backend", line)
	}
	e, err := l.Engine(engine.Options{CacheTokens: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	prompt := l.Tokenizer.Encode("Once upon a time", true)
	res, err := e.Generate(t.Context(), engine.Request{Prompt: prompt, MaxTokens: 4, Sampling: engine.SamplingParams{Temperature: 0}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Samples[0]; len(s.Tokens) != 4 || s.Text != l.Tokenizer.Decode(s.Tokens, true) {
		t.Errorf("sample %d tokens %q, want 4 tokens decoding to the text", len(s.Tokens), s.Text)
	}
}

// TestLoadErrors: a bad device, model or template file is an error naming
// it, and nothing is left open.
func TestLoadErrors(t *testing.T) {
	for _, c := range []struct {
		path string
		opts Options
		want string
	}{
		{"", Options{Device: "tpu"}, `"tpu"`},
		{filepath.Join(t.TempDir(), "missing.gguf"), Options{}, "missing.gguf"},
		{"", Options{Template: filepath.Join(t.TempDir(), "missing.jinja")}, "missing.jinja"},
		{"", Options{LoRA: t.TempDir()}, "--lora"},
	} {
		c.opts.Log = &bytes.Buffer{}
		if _, err := Load(c.path, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%q, %+v) = %v, want an error naming %s", c.path, c.opts, err, c.want)
		}
	}
}

// TestChatSpecialTokens: a chat template is given every special token the
// tokenizer has, not only BOS and EOS, and kwargs beside them; the BOS is
// added once, where the template does not write it.
func TestChatSpecialTokens(t *testing.T) {
	tok, err := Tokenizer("")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, src := range map[string]string{
		"with-bos.jinja":    "{{ bos_token }}[{{ unk_token }}|{{ eos_token }}|{{ greeting }}]{{ messages[0]['content'] }}",
		"without-bos.jinja": "[{{ unk_token }}|{{ eos_token }}|{{ greeting }}]{{ messages[0]['content'] }}",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	msgs := []template.Message{{"role": "user", "content": "hi"}}
	kwargs := map[string]any{"greeting": "hello"}
	for name, wantText := range map[string]string{
		"with-bos.jinja":    "<s>[<unk>|</s>|hello]hi",
		"without-bos.jinja": "[<unk>|</s>|hello]hi",
	} {
		chat, err := NewChat(tok, "stories260K", filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		ids, text, err := chat.Prompt(msgs, kwargs)
		if err != nil {
			t.Fatal(err)
		}
		if text != wantText {
			t.Errorf("%s: rendered %q, want %q", name, text, wantText)
		}
		bos := 0
		for _, id := range ids {
			if id == tok.BOS() {
				bos++
			}
		}
		if bos != 1 || ids[0] != tok.BOS() {
			t.Errorf("%s: ids %v, want one BOS, first", name, ids)
		}
	}
}

// TestChatFallback: a model without a chat template renders with the plain
// fallback.
func TestChatFallback(t *testing.T) {
	tok, err := Tokenizer("")
	if err != nil {
		t.Fatal(err)
	}
	if tok.ChatTemplate() != "" {
		t.Skip("the embedded model has a chat template")
	}
	chat, err := NewChat(tok, "stories260K", "")
	if err != nil {
		t.Fatal(err)
	}
	_, text, err := chat.Prompt([]template.Message{{"role": "user", "content": "hi"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := template.Fallback.Render(template.Context{Messages: []template.Message{{"role": "user", "content": "hi"}}, AddGenerationPrompt: true})
	if err != nil || text != want || chat.Source != "" {
		t.Errorf("rendered %q (source %q), want the fallback's %q (%v)", text, chat.Source, want, err)
	}
}
