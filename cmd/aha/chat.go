package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/loader"
	"github.com/aha-inference/aha/tokenizer/template"
)

func init() {
	register("chat", "talk with a model, using its chat template", runChat)
}

// runChat reads one user message per line from stdin and streams the
// model's replies. Each turn renders the whole conversation with the
// model's template, exactly as a trainer would see it.
func runChat(args []string) error {
	fs := newFlags("chat", "[-m MODEL] [flags]")
	modelPath := fs.String("m", "", "model: a GGUF file or a Hugging Face folder (default: the embedded stories260K)")
	system := fs.String("system", "", "system message")
	templateFile := fs.String("template", "", "chat template file overriding the model's")
	toolsFile := fs.String("tools", "", "JSON file with a list of tools (OpenAI's {\"type\": \"function\", \"function\": …}) for the template; the model's tool calls are printed as it writes them")
	var sf samplingFlags
	sf.register(fs)
	sf.maxTokens = 512
	var ef engineFlags
	ef.register(fs)
	if err := parseFlags(fs, args, ""); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var vars map[string]any
	if *toolsFile != "" {
		tools, err := readTools(*toolsFile)
		if err != nil {
			return err
		}
		vars = map[string]any{"tools": tools}
	}
	l, err := loader.Load(*modelPath, ef.load("", *templateFile))
	if err != nil {
		return err
	}
	defer l.Close()

	var msgs []template.Message
	if *system != "" {
		msgs = append(msgs, template.Message{"role": "system", "content": *system})
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	opts, err := ef.options()
	if err != nil {
		return err
	}
	eng, err := l.Engine(opts)
	if err != nil {
		return err
	}
	defer eng.Close()
	for turn := 0; ; turn++ {
		fmt.Fprint(os.Stderr, "> ")
		if !in.Scan() {
			fmt.Fprintln(os.Stderr)
			return in.Err()
		}
		line := strings.TrimSpace(in.Text())
		if line == "" {
			continue
		}
		msgs = append(msgs, template.Message{"role": "user", "content": line})
		prompt, _, err := l.Chat.Prompt(msgs, vars)
		if err != nil {
			return err
		}
		req := sf.request(l.Model, set, prompt)
		req.Sampling.Seed = sf.seed + uint64(turn)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		out, err := eng.Generate(ctx, req, func(ev engine.Event) error {
			_, err := os.Stdout.WriteString(ev.Text)
			return err
		})
		stop()
		if err != nil {
			return err
		}
		fmt.Println()
		msgs = append(msgs, template.Message{"role": "assistant", "content": out.Samples[0].Text})
	}
}

// readTools reads a JSON list of tools, keeping each object's key order
// (templates print tool schemas with tojson).
func readTools(path string) (any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--tools: %w", err)
	}
	tools, err := template.DecodeJSON(data)
	if err != nil {
		return nil, fmt.Errorf("--tools %s: %w", path, err)
	}
	if _, ok := tools.([]any); !ok {
		return nil, fmt.Errorf("--tools %s: want a JSON list of tools", path)
	}
	return tools, nil
}
