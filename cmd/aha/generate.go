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
	"github.com/aha-inference/aha/loader"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/tokenizer/template"
)

func init() {
	register("generate", "generate text from a prompt", runGenerate)
}

// samplingFlags are the sampling options shared by generate and chat.
type samplingFlags struct {
	temp, topP, minP           float64
	topK                       int
	repetition, presence, freq float64
	seed                       uint64
	maxTokens, minTokens       int
	stop                       stringList
	ignoreEOS                  bool
	useGenConfig               bool
}

func (s *samplingFlags) register(fs *flag.FlagSet) {
	fs.Float64Var(&s.temp, "temp", 1, "sampling temperature (0, or anything below 1e-5, = greedy)")
	fs.Float64Var(&s.topP, "top-p", 1, "nucleus sampling: keep the most likely tokens up to this probability mass (1 = off)")
	fs.IntVar(&s.topK, "top-k", 0, "keep only the k most likely tokens (0 = off)")
	fs.Float64Var(&s.minP, "min-p", 0, "drop tokens less likely than this fraction of the most likely one (0 = off)")
	fs.Float64Var(&s.repetition, "repetition-penalty", 1, "divide the logits of tokens already in the prompt or output by this (1 = off)")
	fs.Float64Var(&s.presence, "presence-penalty", 0, "subtract this from the logits of tokens already generated")
	fs.Float64Var(&s.freq, "frequency-penalty", 0, "subtract this times the count from the logits of tokens already generated")
	fs.Uint64Var(&s.seed, "seed", 1, "random seed (sample i uses seed+i)")
	fs.IntVar(&s.maxTokens, "max-tokens", 128, "most tokens to generate per sample")
	fs.IntVar(&s.minTokens, "min-tokens", 0, "generate at least this many tokens before EOS or a stop may end a sample")
	fs.Var(&s.stop, "stop", "stop string (repeatable); the output ends before it")
	fs.BoolVar(&s.ignoreEOS, "ignore-eos", false, "keep generating past the model's end-of-sequence token")
	fs.BoolVar(&s.useGenConfig, "generation-config", false, "apply the model's recommended sampling values (generation_config.json) instead of the neutral defaults; explicit flags still win")
}

// params builds the sampler settings for m; set names the flags given
// explicitly.
func (s *samplingFlags) params(m *model.Model, set map[string]bool) engine.SamplingParams {
	p := engine.SamplingParams{Temperature: s.temp, TopK: s.topK, TopP: s.topP, MinP: s.minP, Seed: s.seed,
		RepetitionPenalty: s.repetition, PresencePenalty: s.presence, FrequencyPenalty: s.freq}
	if s.useGenConfig {
		g := m.Config.Generation
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

// request builds an engine request to m for prompt from the flags.
func (s *samplingFlags) request(m *model.Model, set map[string]bool, prompt []int) engine.Request {
	return engine.Request{Prompt: prompt, Sampling: s.params(m, set), MaxTokens: s.maxTokens, MinTokens: s.minTokens,
		Stop: s.stop, IgnoreEOS: s.ignoreEOS}
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runGenerate(args []string) error {
	fs := newFlags("generate", "[-m MODEL] -p PROMPT [-n N] [flags]")
	modelPath := fs.String("m", "", "model: a GGUF file or a Hugging Face folder (default: the embedded stories260K)")
	lora := fs.String("lora", "", "a PEFT LoRA adapter folder (adapter_config.json, adapter_model.safetensors) to fold into the model's weights at load, in memory, as aha merge --lora would")
	prompt := fs.String("p", "", "the prompt")
	n := fs.Int("n", 1, "number of samples, drawn together from one prefill of the prompt")
	chat := fs.Bool("chat", false, "render the prompt as a user message with the model's chat template")
	system := fs.String("system", "", "system message (with --chat)")
	templateFile := fs.String("template", "", "chat template file overriding the model's (with --chat)")
	noBOS := fs.Bool("no-bos", false, "do not add the BOS token the tokenizer would add")
	asJSON := fs.Bool("json", false, "print one JSON object per sample (one per line, in index order) instead of the text")
	logprobs := fs.Int("logprobs", -1, "with --json: include each token's logprob, and this many top alternatives (0 = none)")
	mode := fs.String("logprob-mode", "processed", "distribution of the logprobs: processed (as sampled), raw (the model's) or scaled (logits/temperature)")
	timings := fs.Bool("timings", false, "with --json: add wall-clock fields")
	var sf samplingFlags
	sf.register(fs)
	var ef engineFlags
	ef.register(fs)
	if err := parseFlags(fs, args, " (the prompt goes in -p)"); err != nil {
		return err
	}
	opts, err := ef.options()
	if err != nil {
		return err
	}
	if *prompt == "" {
		return usagef("the prompt is empty: give one with -p")
	}
	if *n < 1 {
		return usagef("-n %d: the number of samples must be at least 1", *n)
	}
	lpMode, err := engine.ParseLogprobMode(*mode)
	if err != nil {
		return usagef("--logprob-mode: %v", err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	l, err := loader.Load(*modelPath, ef.load(*lora, *templateFile))
	if err != nil {
		return err
	}
	defer l.Close()

	var ids []int
	if *chat {
		var msgs []template.Message
		if *system != "" {
			msgs = append(msgs, template.Message{"role": "system", "content": *system})
		}
		msgs = append(msgs, template.Message{"role": "user", "content": *prompt})
		if ids, _, err = l.Chat.Prompt(msgs, nil); err != nil {
			return err
		}
	} else {
		ids = l.Tokenizer.Encode(*prompt, !*noBOS)
	}

	eng, err := l.Engine(opts)
	if err != nil {
		return err
	}
	defer eng.Close()
	req := sf.request(l.Model, set, ids)
	req.N, req.LogprobMode = *n, lpMode
	req.Logprobs, req.TopLogprobs = *logprobs >= 0, max(*logprobs, 0)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var emit func(engine.Event) error
	if !*asJSON && *n == 1 {
		emit = func(ev engine.Event) error {
			_, err := os.Stdout.WriteString(ev.Text)
			return err
		}
	}
	out, err := eng.Generate(ctx, req, emit)
	if err != nil {
		return err
	}
	generated := 0
	for _, s := range out.Samples {
		generated += len(s.Tokens)
		switch {
		case *asJSON:
			if err := printSample(s, req.Logprobs, *timings, out); err != nil {
				return err
			}
		case *n > 1:
			fmt.Printf("--- sample %d (seed %d, finish: %s)\n%s\n", s.Index, s.Seed, s.FinishReason, s.Text)
		default:
			fmt.Println()
		}
	}
	decode := out.Total - out.FirstToken
	fmt.Fprintf(os.Stderr, "prompt %d tokens (%.1f tok/s), generated %d tokens in %d samples (%.1f tok/s), finish: %s\n",
		out.PromptTokens, float64(out.PromptTokens)/out.FirstToken.Seconds(), generated, len(out.Samples),
		float64(generated-len(out.Samples))/decode.Seconds(), finishReasons(out))
	return nil
}

// finishReasons summarizes the samples' finish reasons ("length", or
// "stop ×3, length ×5").
func finishReasons(out *engine.Output) string {
	count := map[string]int{}
	var order []string
	for _, s := range out.Samples {
		if count[s.FinishReason] == 0 {
			order = append(order, s.FinishReason)
		}
		count[s.FinishReason]++
	}
	if len(order) == 1 && len(out.Samples) == 1 {
		return order[0]
	}
	var parts []string
	for _, r := range order {
		parts = append(parts, fmt.Sprintf("%s ×%d", r, count[r]))
	}
	return strings.Join(parts, ", ")
}

// jsonSample is the JSON form of one generated sample. Logprobs of −∞
// (a token the processed distribution excludes) are written as -9999.
type jsonSample struct {
	Index        int         `json:"index"`
	Seed         uint64      `json:"seed"`
	Text         string      `json:"text"`
	TokenIDs     []int       `json:"token_ids"`
	FinishReason string      `json:"finish_reason"`
	Logprobs     []float32   `json:"logprobs,omitempty"`
	TopLogprobs  [][]jsonTop `json:"top_logprobs,omitempty"`
	PromptTokens int         `json:"prompt_tokens"`
	// Wall-clock fields, only with --timings: they differ run to run.
	TimeToFirstTokenMS *float64 `json:"time_to_first_token_ms,omitempty"`
	TotalMS            *float64 `json:"total_ms,omitempty"`
}

type jsonTop struct {
	ID      int     `json:"id"`
	Logprob float32 `json:"logprob"`
}

func printSample(s engine.Sample, withLogprobs, timings bool, out *engine.Output) error {
	js := jsonSample{Index: s.Index, Seed: s.Seed, Text: s.Text, TokenIDs: s.Tokens, FinishReason: s.FinishReason, PromptTokens: out.PromptTokens}
	if withLogprobs {
		for _, lp := range s.Logprobs {
			js.Logprobs = append(js.Logprobs, engine.Finite(lp))
		}
		for _, top := range s.TopLogprobs {
			var t []jsonTop
			for _, a := range top {
				t = append(t, jsonTop{a.ID, engine.Finite(a.Logprob)})
			}
			js.TopLogprobs = append(js.TopLogprobs, t)
		}
	}
	if timings {
		ttft, total := float64(out.FirstToken.Microseconds())/1000, float64(out.Total.Microseconds())/1000
		js.TimeToFirstTokenMS, js.TotalMS = &ttft, &total
	}
	b, err := json.Marshal(js)
	if err != nil {
		return err
	}
	_, err = fmt.Println(string(b))
	return err
}
