package loader

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/internal/progress"
	"github.com/aha-inference/aha/merge"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/model/builtin"
	"github.com/aha-inference/aha/tokenizer"
)

// Options say how to load a model.
type Options struct {
	// Device is the backend: "cpu" (the default when empty) or "cuda".
	Device string
	// Threads sizes the CPU backend (0: one per physical core, at most the
	// CPUs this process may use).
	Threads int
	// LoRA is a PEFT adapter folder to fold into the weights at load, in
	// memory, as the commands' --lora gives it; "" for none.
	LoRA string
	// Template is a chat template file overriding the model's; "" for the
	// model's own.
	Template string
	// Log receives the progress bars and the load line; nil: stderr.
	Log io.Writer
}

// Loaded is a model ready to run, with its tokenizer and chat template.
type Loaded struct {
	Model     *model.Model
	Tokenizer *tokenizer.Tokenizer
	Chat      *Chat
	// Name is what the load line called the model: its path, or the
	// embedded model's name.
	Name string
}

// Load opens the model at path ("" = the embedded default) as opts say.
func Load(path string, opts Options) (*Loaded, error) {
	start := time.Now()
	out := opts.Log
	if out == nil {
		out = os.Stderr
	}
	device := opts.Device
	if device == "" {
		device = "cpu"
	}
	backend, err := Backend(device, opts.Threads)
	if err != nil {
		return nil, err
	}
	m, err := model.Load(path)
	if err != nil {
		return nil, err
	}
	m.SetBackend(backend)
	if opts.LoRA != "" {
		// Folded before Ready, so that only the adapted matrices and the
		// base's others are prepared, each once.
		adapted, err := merge.Adapt(m, opts.LoRA)
		if err != nil {
			m.Close()
			// Named as the commands' flag, which is where it comes from.
			return nil, fmt.Errorf("--lora %s: %w", opts.LoRA, err)
		}
		m = adapted
	}
	l := &Loaded{Model: m, Name: m.Path}
	if path == "" {
		l.Name = builtin.Name + " (embedded)"
	}
	if l.Tokenizer, err = modelTokenizer(m); err != nil {
		l.Close()
		return nil, err
	}
	if l.Chat, err = NewChat(l.Tokenizer, l.Name, opts.Template); err != nil {
		l.Close()
		return nil, err
	}
	err = m.Ready(func(label string, total int64) (func(int64), func()) {
		bar := progress.New(out, label, total)
		return bar.Add, bar.Finish
	})
	if err != nil {
		l.Close()
		return nil, err
	}
	name := l.Name
	if opts.LoRA != "" {
		name += " with the adapter " + opts.LoRA
	}
	c := &m.Config
	fmt.Fprintf(out, "loaded %s: %s, %d layers, hidden %d, vocab %d, %s, in %v; running on %s\n",
		name, c.Architecture, c.Layers, c.Hidden, c.VocabSize, m.Format, time.Since(start).Round(time.Millisecond), DescribeBackend(m.Backend()))
	return l, nil
}

// modelTokenizer reads the tokenizer a model carries: a GGUF file's
// tokenizer.* keys, or the tokenizer files of a Hugging Face folder.
func modelTokenizer(m *model.Model) (*tokenizer.Tokenizer, error) {
	var tok *tokenizer.Tokenizer
	var err error
	if m.GGUF != nil {
		tok, err = tokenizer.FromGGUF(m.GGUF)
	} else {
		tok, err = tokenizer.FromHF(m.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.Path, err)
	}
	return tok, nil
}

// Close unmaps the model's files (a model with an adapter folded in shares
// its base's, which are unmapped).
func (l *Loaded) Close() error { return l.Model.Base().Close() }

// Engine starts a batching engine over the model, its samples decoded to
// text by the model's tokenizer.
func (l *Loaded) Engine(opts engine.Options) (*engine.Engine, error) {
	opts.NewDecoder = func(prompt []int) engine.Decoder { return l.Tokenizer.NewStream(prompt, true) }
	return engine.New(l.Model, opts)
}

// Tokenizer opens only the tokenizer of path: a GGUF file (a vocab-only
// one will do), a folder holding tokenizer.json, or "" for the embedded
// model.
func Tokenizer(path string) (*tokenizer.Tokenizer, error) {
	if path != "" && path != builtin.Name {
		return tokenizer.Load(path)
	}
	f, _, err := model.Open(path)
	if err != nil {
		return nil, err
	}
	return tokenizer.FromGGUF(f)
}

// Checkpoint opens the checkpoint at dir to replace the served model old:
// a PEFT LoRA adapter (a folder with adapter_config.json) is folded into
// old's base, never on top of an adapter old already carries; anything
// else is a Hugging Face folder, run on old's backend. The weights are not
// made ready: the caller checks the shapes first.
func Checkpoint(old *model.Model, dir string) (*model.Model, error) {
	if _, err := os.Stat(filepath.Join(dir, "adapter_config.json")); err == nil {
		return merge.Adapt(old.Base(), dir)
	}
	m, err := model.LoadHF(dir)
	if err != nil {
		return nil, err
	}
	m.SetBackend(old.Backend())
	return m, nil
}
