package main

import (
	"fmt"
	"log"
	"maps"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/internal/progress"
	"github.com/aha-inference/aha/merge"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/model/builtin"
	"github.com/aha-inference/aha/tokenizer"
	"github.com/aha-inference/aha/tokenizer/template"
)

// loaded is a model with its tokenizer, as every command that runs a model
// needs them.
type loaded struct {
	model *model.Model
	tok   *tokenizer.Tokenizer

	noTemplate sync.Once // says once that the model has no chat template
}

// load opens the model at path ("" = the embedded default) on the CPU.
func load(path string, threads int) (*loaded, error) { return loadOn(path, "", "cpu", threads) }

// loadOn opens the model at path ("" = the embedded default) and its
// tokenizer on the device --device names (falling back to the CPU when a
// GPU cannot be used), folds in the LoRA adapter in the folder lora if one
// is given, brings the weights into memory (or uploads them to the GPU)
// with a progress bar, and says on stderr what was loaded.
func loadOn(path, lora, device string, threads int) (*loaded, error) {
	start := time.Now()
	m, err := model.Load(path)
	if err != nil {
		return nil, err
	}
	backend, err := selectBackend(device, threads)
	if err != nil {
		m.Close()
		return nil, err
	}
	m.SetBackend(backend)
	if lora != "" {
		// Folded before Ready, so that only the adapted matrices and the
		// base's others are prepared, each once.
		adapted, err := merge.Adapt(m, lora)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("--lora %s: %w", lora, err)
		}
		m = adapted
	}
	var tok *tokenizer.Tokenizer
	if m.GGUF != nil {
		tok, err = tokenizer.FromGGUF(m.GGUF)
	} else {
		tok, err = tokenizer.FromHF(m.Path)
	}
	if err != nil {
		m.Base().Close()
		return nil, fmt.Errorf("%s: %w", m.Path, err)
	}
	name := m.Path
	if path == "" {
		name = builtin.Name + " (embedded)"
	}
	err = m.Ready(func(label string, total int64) (func(int64), func()) {
		bar := progress.New(os.Stderr, label, total)
		return bar.Add, bar.Finish
	})
	if err != nil {
		m.Base().Close()
		return nil, err
	}
	if lora != "" {
		name += " with the adapter " + lora
	}
	c := &m.Config
	fmt.Fprintf(os.Stderr, "loaded %s: %s, %d layers, hidden %d, vocab %d, %s, in %v; running on %s\n",
		name, c.Architecture, c.Layers, c.Hidden, c.VocabSize, m.Format, time.Since(start).Round(time.Millisecond), describeBackend(m.Backend()))
	return &loaded{model: m, tok: tok}, nil
}

// close unmaps the model's files (a model with an adapter folded in
// shares its base's).
func (l *loaded) close() { l.model.Base().Close() }

// engine starts a batching engine over the model, its samples decoded to
// text by the model's tokenizer.
func (l *loaded) engine(opts engine.Options) (*engine.Engine, error) {
	opts.NewDecoder = func(prompt []int) engine.Decoder { return l.tok.NewStream(prompt, true) }
	return engine.New(l.model, opts)
}

// chatPrompt renders messages into a prompt with the model's chat
// template, the one in templateFile if given, or the plain fallback for a
// model without one (saying so once on stderr), and tokenizes it. Templates
// write their own BOS where the model wants one; the BOS is added only when
// the tokenizer adds one and the rendered text does not already start with it
// (the fallback never writes one). kwargs are extra template variables
// (chat_template_kwargs, such as Qwen3's enable_thinking).
func (l *loaded) chatPrompt(name string, msgs []template.Message, templateFile string, kwargs map[string]any) ([]int, string, error) {
	src := l.tok.ChatTemplate()
	if templateFile != "" {
		b, err := os.ReadFile(templateFile)
		if err != nil {
			return nil, "", fmt.Errorf("chat template: %w", err)
		}
		src = string(b)
	}
	tpl := template.Fallback
	if src == "" {
		l.noTemplate.Do(func() {
			log.Printf("%s has no chat template; using the plain fallback (system, blank line, user, blank line)", name)
		})
	} else {
		var err error
		if tpl, err = template.Parse(src); err != nil {
			return nil, "", err
		}
	}
	vars := maps.Clone(kwargs)
	if vars == nil {
		vars = map[string]any{}
	}
	vars["bos_token"], vars["eos_token"] = l.tok.BOSToken(), l.tok.EOSToken()
	text, err := tpl.Render(template.Context{Messages: msgs, AddGenerationPrompt: true, Vars: vars})
	if err != nil {
		return nil, "", err
	}
	addBOS := l.tok.AddBOS() && (l.tok.BOSToken() == "" || !strings.HasPrefix(text, l.tok.BOSToken()))
	return l.tok.Encode(text, addBOS), text, nil
}
