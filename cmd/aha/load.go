package main

import (
	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/loader"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/tokenizer"
	"github.com/aha-inference/aha/tokenizer/template"
)

// loaded is a model loaded through package loader, in the shape the
// rollout commands take it.
type loaded struct {
	*loader.Loaded
	model *model.Model
	tok   *tokenizer.Tokenizer
}

// load opens the model at path ("" = the embedded default) on the CPU.
func load(path string, threads int) (*loaded, error) { return loadOn(path, "", "cpu", threads) }

// loadOn opens the model at path ("" = the embedded default) on device,
// with the LoRA adapter folder lora folded in if one is given.
func loadOn(path, lora, device string, threads int) (*loaded, error) {
	l, err := loader.Load(path, loader.Options{Device: device, Threads: threads, LoRA: lora})
	if err != nil {
		return nil, err
	}
	return &loaded{Loaded: l, model: l.Model, tok: l.Tokenizer}, nil
}

func (l *loaded) close() { l.Close() }

func (l *loaded) engine(opts engine.Options) (*engine.Engine, error) { return l.Engine(opts) }

// chatPrompt renders msgs with the model's chat template, or the one in
// templateFile if given; name is unused, the load having named the model.
func (l *loaded) chatPrompt(_ string, msgs []template.Message, templateFile string, kwargs map[string]any) ([]int, string, error) {
	chat := l.Chat
	if templateFile != "" {
		var err error
		if chat, err = loader.NewChat(l.tok, l.Name, templateFile); err != nil {
			return nil, "", err
		}
	}
	return chat.Prompt(msgs, kwargs)
}
