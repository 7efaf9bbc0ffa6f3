package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/tokenizer/template"
)

func init() {
	register("generate", "generate text from a prompt", runGenerate)
}

// samplingFlags are the sampling options shared by generate and chat.
type samplingFlags struct {
	temp, topP, minP float64
	topK             int
	seed             uint64
	maxTokens        int
	stop             stringList
	useGenConfig     bool
	threads          int
}

func (s *samplingFlags) register(fs *flag.FlagSet) {
	fs.Float64Var(&s.temp, "temp", 1, "sampling temperature (0 = greedy)")
	fs.Float64Var(&s.topP, "top-p", 1, "nucleus sampling: keep the most likely tokens up to this probability mass (1 = off)")
	fs.IntVar(&s.topK, "top-k", 0, "keep only the k most likely tokens (0 = off)")
	fs.Float64Var(&s.minP, "min-p", 0, "drop tokens less likely than this fraction of the most likely one (0 = off)")
	fs.Uint64Var(&s.seed, "seed", 1, "random seed")
	fs.IntVar(&s.maxTokens, "max-tokens", 128, "most tokens to generate")
	fs.Var(&s.stop, "stop", "stop string (repeatable); the output ends before it")
	fs.IntVar(&s.threads, "t", 0, "threads (0 = one per physical core)")
	fs.BoolVar(&s.useGenConfig, "generation-config", false, "apply the model's recommended sampling values (generation_config.json) instead of the neutral defaults; explicit flags still win")
}

// params builds the sampler settings; set names the flags given explicitly.
func (s *samplingFlags) params(l *loaded, set map[string]bool) engine.SamplingParams {
	p := engine.SamplingParams{Temperature: s.temp, TopK: s.topK, TopP: s.topP, MinP: s.minP, Seed: s.seed}
	if s.useGenConfig {
		g := l.model.Config.Generation
		if g.Temperature != nil && !set["temp"] {
			p.Temperature = *g.Temperature
		}
		if g.TopP != nil && !set["top-p"] {
			p.TopP = *g.TopP
		}
		if g.TopK != nil && !set["top-k"] {
			p.TopK = *g.TopK
		}
	}
	return p
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runGenerate(args []string) error {
	fs := newFlags("generate", "[-m MODEL] -p PROMPT [flags]")
	modelPath := fs.String("m", "", "model: a GGUF file or a Hugging Face folder (default: the embedded stories260K)")
	prompt := fs.String("p", "", "the prompt")
	chat := fs.Bool("chat", false, "render the prompt as a user message with the model's chat template")
	system := fs.String("system", "", "system message (with --chat)")
	templateFile := fs.String("template", "", "chat template file overriding the model's (with --chat)")
	noBOS := fs.Bool("no-bos", false, "do not add the BOS token the tokenizer would add")
	asJSON := fs.Bool("json", false, "print one JSON object per sample instead of the text")
	logprobs := fs.Int("logprobs", 0, "with --json: include per-token logprobs and this many top alternatives")
	var sf samplingFlags
	sf.register(fs)
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected arguments %q (the prompt goes in -p)", rest)
	}
	if *prompt == "" {
		return usagef("the prompt is empty: give one with -p")
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	l, err := load(*modelPath, sf.threads)
	if err != nil {
		return err
	}
	defer l.close()

	var ids []int
	if *chat {
		var msgs []template.Message
		if *system != "" {
			msgs = append(msgs, template.Message{"role": "system", "content": *system})
		}
		msgs = append(msgs, template.Message{"role": "user", "content": *prompt})
		if ids, _, err = l.chatPrompt(l.model.Path, msgs, *templateFile); err != nil {
			return err
		}
	} else {
		ids = l.tok.Encode(*prompt, !*noBOS)
	}

	req := engine.Request{Prompt: ids, Sampling: sf.params(l, set), MaxTokens: sf.maxTokens, Stop: sf.stop, Logprobs: *logprobs}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	emit := func(tok engine.Token) error {
		_, err := os.Stdout.WriteString(tok.Text)
		return err
	}
	if *asJSON {
		emit = nil
	}
	res, err := engine.Generate(ctx, l.model, l.tok.NewStream(true), req, emit)
	if err != nil {
		return err
	}
	if *asJSON {
		return printSample(0, req, res, *logprobs > 0)
	}
	fmt.Println()
	prefillRate := float64(res.PromptTokens) / res.PrefillTime.Seconds()
	genRate := float64(len(res.Tokens)) / res.DecodeTime.Seconds()
	fmt.Fprintf(os.Stderr, "prompt %d tokens (%.1f tok/s), generated %d tokens (%.1f tok/s), finish: %s\n",
		res.PromptTokens, prefillRate, len(res.Tokens), genRate, res.FinishReason)
	return nil
}

// sample is the JSON form of one generated sample.
type sample struct {
	Index        int       `json:"index"`
	Seed         uint64    `json:"seed"`
	Text         string    `json:"text"`
	TokenIDs     []int     `json:"token_ids"`
	FinishReason string    `json:"finish_reason"`
	Logprobs     []float32 `json:"logprobs,omitempty"`
}

func printSample(index int, req engine.Request, res *engine.Result, withLogprobs bool) error {
	s := sample{Index: index, Seed: req.Sampling.Seed, Text: res.Text, TokenIDs: res.Tokens, FinishReason: res.FinishReason}
	if withLogprobs {
		s.Logprobs = res.Logprobs
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = fmt.Println(string(b))
	return err
}
