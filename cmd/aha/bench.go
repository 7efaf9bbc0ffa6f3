package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aha-inference/aha/bench"
	"github.com/aha-inference/aha/convert"
	"github.com/aha-inference/aha/internal/progress"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/loader"
	"github.com/aha-inference/aha/model/builtin"
	"github.com/aha-inference/aha/quant"
)

func init() {
	register("bench", "measure prefill, decode, rollout and serving speed, side by side with llama.cpp", runBench)
}

const benchUsage = `[MODE] [-m MODEL | --synth SHAPE --type T] [flags]

Modes:
  (none)   prefill of --prompt tokens, then decode of --gen tokens after it with --batch sequences (1,4,16)
  prefill  prefill of --prompt tokens
  decode   decode of --gen tokens at context depth --depth with --batch sequences together
  rollout  --num-prompts prompts × -n samples × --gen tokens through the engine, against the same
           samples run one at a time
  serve    drive the OpenAI-compatible server at --url at --rate requests/s or --concurrency requests
           in flight; --vs-url runs the same load against a second server

Every figure is measured after a warm-up over --reps repetitions: median and min–max. With --vs llama.cpp,
llama-bench and llama-batched-bench run on the same GGUF with the same threads and lengths, their
repetitions alternating with aha's.`

func runBench(args []string) error {
	fs := newFlags("bench", benchUsage)
	modelPath := fs.String("m", "", "model: a GGUF file or a Hugging Face folder (default: the embedded stories260K)")
	synth := fs.String("synth", "", "benchmark a random-weight model of this shape ("+strings.Join(convert.SyntheticShapes(), ", ")+"), written to a temporary GGUF")
	typeName := fs.String("type", "q8_0", "with --synth: the weight type ("+strings.Join(convert.Types(), ", ")+")")
	vocab := fs.String("vocab", "", "with --synth: the tokenizer (a GGUF, tokenizer.json or HF folder; default: the embedded model's, padded)")
	keep := fs.Bool("keep", false, "with --synth: keep the temporary GGUF and print its path")
	reps := fs.Int("reps", 3, "repetitions of each figure after the warm-up")
	seed := fs.Uint64("seed", 1, "random seed of synthetic weights, token ids, prompts and arrivals")
	prompt := fs.Int("prompt", 128, "prompt tokens (default mode, prefill, rollout)")
	gen := fs.Int("gen", 64, "tokens generated per sequence (default mode, decode, rollout; serve: max_tokens)")
	depth := fs.Int("depth", 0, "decode: positions already in each sequence's cache (default mode: --prompt)")
	batch := fs.String("batch", "", "decode: sequences decoding together, a list (default mode: 1,4,16; decode: 1)")
	numPrompts := fs.Int("num-prompts", 4, "rollout: prompts")
	samples := fs.Int("n", 4, "rollout: samples per prompt")
	url := fs.String("url", "", "serve: the server (http://host:port)")
	vsURL := fs.String("vs-url", "", "serve: a second server to run the same load against")
	rates := fs.String("rate", "", "serve: request rates per second, a list (Poisson arrivals)")
	concurrency := fs.String("concurrency", "", "serve: requests in flight, a list (default 1)")
	requests := fs.Int("requests", 32, "serve: requests per load level")
	promptsFile := fs.String("prompts", "", `serve: JSONL file of {"prompt": …} objects (default: synthetic prompts)`)
	promptLen := fs.Int("prompt-len", 128, "serve: words per synthetic prompt (about one token each)")
	modelName := fs.String("model-name", "", "serve: the request's model field (default: the first of the server's /v1/models)")
	vs := fs.String("vs", "", "compare with a peer: llama.cpp, or llama.cpp=DIR for the folder of its binaries (default: PATH)")
	asJSON := fs.Bool("json", false, "print one JSON document instead of the table (the table goes to stderr)")
	plotFile := fs.String("plot", "", "draw the figures into this PNG file")
	var ef engineFlags
	ef.register(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	mode := "default"
	switch {
	case len(pos) == 1 && slices.Contains([]string{"prefill", "decode", "rollout", "serve"}, pos[0]):
		mode = pos[0]
	case len(pos) > 0:
		return usagef("unexpected arguments %q (modes: prefill, decode, rollout, serve)", pos)
	}
	if *reps < 1 {
		return usagef("--reps %d: need at least one repetition", *reps)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	report := &bench.Report{Version: version, Mode: mode, Command: "aha bench " + strings.Join(args, " "), Started: time.Now().UTC(), Repetitions: *reps}

	if mode == "serve" {
		if *synth != "" || *modelPath != "" || *vs != "" {
			return usagef("serve mode drives servers: give them with --url and --vs-url (-m, --synth and --vs are for the other modes)")
		}
		if err := benchServe(ctx, report, serveFlags{*url, *vsURL, *rates, *concurrency, *requests, *promptsFile, *promptLen, *gen, *modelName, *seed}); err != nil {
			return err
		}
		return finishBench(report, *asJSON, *plotFile)
	}
	if *url != "" || *vsURL != "" || *rates != "" || *concurrency != "" {
		return usagef("--url, --vs-url, --rate and --concurrency belong to serve mode")
	}

	// The model file aha and the peer both load.
	tmp, err := os.MkdirTemp("", "aha-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	path := *modelPath
	if *synth != "" {
		if *modelPath != "" {
			return usagef("give either -m or --synth")
		}
		if path, err = writeSynthetic(tmp, *synth, *typeName, *vocab, *seed, *keep); err != nil {
			return err
		}
		report.Synthetic = *synth + " " + strings.ToUpper(*typeName)
	}
	peer, err := findPeer(*vs, &path, tmp)
	if err != nil {
		return err
	}
	report.Peer = peer

	bench.ResetPeakRSS()
	l, err := loader.Load(path, ef.load("", ""))
	if err != nil {
		return err
	}
	defer l.Close()
	report.Model, report.Backend = l.Model.Path, l.Model.Backend().Name()
	report.Threads = ef.threads
	if b, ok := l.Model.Backend().(*kernels.CPU); ok {
		report.Threads, report.ThreadsWhy = b.Threads(), b.ThreadsWhy()
	}

	if mode == "rollout" {
		opts, err := ef.options()
		if err != nil {
			return err
		}
		report.KVType = opts.KVType.String()
		if peer != nil {
			peer.Note = "llama.cpp has no rollout benchmark; the rollout is compared with single-sequence runs"
		}
		e, err := l.Engine(opts)
		if err != nil {
			return err
		}
		defer e.Close()
		bar := progress.New(os.Stderr, "bench rollout", int64(2**reps))
		spec := bench.RolloutSpec{Prompts: *numPrompts, Samples: *samples, PromptTokens: *prompt, Gen: *gen}
		report.Rows, err = bench.Rollout(ctx, e, spec, *reps, *seed, bar.Add)
		bar.Finish()
		if err != nil {
			return err
		}
		report.PeakRSSBytes = bench.PeakRSS()
		return finishBench(report, *asJSON, *plotFile)
	}

	specs, err := benchSpecs(mode, *prompt, *gen, *depth, *batch)
	if err != nil {
		return err
	}
	opts, err := ef.options()
	if err != nil {
		return err
	}
	report.KVType = opts.KVType.String()
	runner, err := bench.NewModelRunner(l.Model, specs, opts.KVType, *seed)
	if err != nil {
		return err
	}
	var llama *bench.LlamaCpp
	sides := 1
	if peer != nil && peer.Found {
		llama = &bench.LlamaCpp{Dir: peer.Path, Model: path, Threads: report.Threads}
		sides = 2
	}
	bar := progress.New(os.Stderr, "bench", int64(sides*len(specs)**reps))
	var pr bench.PeerRunner
	if llama != nil {
		pr = llama
	}
	rows, note, err := bench.Throughput(ctx, runner, specs, *reps, pr, "llama.cpp", bar.Add)
	bar.Finish()
	if err != nil {
		return err
	}
	report.Rows = rows
	report.PeakRSSBytes = bench.PeakRSS()
	if llama != nil {
		peer.Commands, peer.PeakRSSBytes = llama.Commands, llama.PeakRSS
		if note != "" {
			peer.Note = note
		}
	}
	return finishBench(report, *asJSON, *plotFile)
}

// benchSpecs lists the throughput figures of a mode.
func benchSpecs(mode string, prompt, gen, depth int, batchList string) ([]bench.Spec, error) {
	if mode == "prefill" {
		return []bench.Spec{{Figure: "prefill", Prompt: prompt}}, nil
	}
	def := "1"
	if mode == "default" {
		def, depth = "1,4,16", prompt
	}
	if batchList == "" {
		batchList = def
	}
	batches, err := intList(batchList)
	if err != nil {
		return nil, usagef("--batch %q: %v", batchList, err)
	}
	var specs []bench.Spec
	if mode == "default" {
		specs = append(specs, bench.Spec{Figure: "prefill", Prompt: prompt})
	}
	for _, b := range batches {
		specs = append(specs, bench.Spec{Figure: "decode", Gen: gen, Depth: depth, Batch: b})
	}
	return specs, nil
}

// writeSynthetic writes a synthetic model into dir (or, with keep, into
// the system's temporary folder, where it stays) and returns its path.
func writeSynthetic(dir, shape, typeName, vocab string, seed uint64, keep bool) (string, error) {
	typ, err := quant.ParseType(typeName)
	if err != nil || !slices.Contains(convert.Types(), strings.ToLower(typ.String())) {
		return "", usagef("--type %q is not a type aha can write (supported: %s)", typeName, strings.Join(convert.Types(), ", "))
	}
	if vocab == "" {
		// Speed does not depend on the tokens' spelling: the embedded
		// model's vocabulary, padded to the shape's size, will do.
		vocab = filepath.Join(dir, "vocab.gguf")
		if err := os.WriteFile(vocab, builtin.Stories260K, 0o644); err != nil {
			return "", err
		}
	}
	out := filepath.Join(dir, shape+"-"+strings.ToLower(typ.String())+".gguf")
	if keep {
		f, err := os.CreateTemp("", "aha-bench-"+shape+"-*.gguf")
		if err != nil {
			return "", err
		}
		f.Close()
		out = f.Name()
	}
	var bar *progress.Bar
	var written int64
	opts := convert.Options{Type: typ, Progress: func(done, total int64) {
		if bar == nil {
			bar = progress.New(os.Stderr, "writing synthetic "+shape, total)
		}
		bar.Add(done - written)
		written = done
	}}
	err = convert.WriteSynthetic(out, shape, vocab, seed, opts)
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return "", err
	}
	if keep {
		fmt.Fprintf(os.Stderr, "kept the synthetic model: %s\n", out)
	}
	return out, nil
}

// findPeer resolves --vs. llama.cpp needs a GGUF file: the embedded model
// is written out to dir for it (path then names that file). A peer that is
// not found is reported, and the benchmark goes on with aha alone.
func findPeer(vs string, path *string, dir string) (*bench.Peer, error) {
	if vs == "" {
		return nil, nil
	}
	name, binDir, _ := strings.Cut(vs, "=")
	if name != "llama.cpp" {
		return nil, usagef("--vs %q: the known peer is llama.cpp (llama.cpp=DIR for its folder)", vs)
	}
	peer := &bench.Peer{Name: name, Path: binDir}
	found, err := bench.FindLlamaCpp(binDir)
	if err != nil {
		peer.Note = err.Error()
		fmt.Fprintf(os.Stderr, "%v; going on with aha alone\n", err)
		return peer, nil
	}
	peer.Path = found
	if *path == "" || *path == builtin.Name {
		*path = filepath.Join(dir, builtin.Name+".gguf")
		if err := os.WriteFile(*path, builtin.Stories260K, 0o644); err != nil {
			return nil, err
		}
	}
	if st, err := os.Stat(*path); err == nil && st.IsDir() {
		peer.Note = "llama.cpp reads GGUF files; the model is a folder (convert it with aha quantize)"
		fmt.Fprintf(os.Stderr, "%s; going on with aha alone\n", peer.Note)
		return peer, nil
	}
	peer.Found = true
	return peer, nil
}

// serveFlags are serve mode's settings.
type serveFlags struct {
	url, vsURL, rates, concurrency string
	requests                       int
	promptsFile                    string
	promptLen, maxTokens           int
	modelName                      string
	seed                           uint64
}

// benchServe drives each load level at --url, then at --vs-url, warming
// each server up first.
func benchServe(ctx context.Context, report *bench.Report, f serveFlags) error {
	if f.url == "" {
		return usagef("serve mode needs the server's address: --url http://host:port")
	}
	if f.rates != "" && f.concurrency != "" {
		return usagef("give either --rate or --concurrency, not both")
	}
	if f.requests < 1 || f.maxTokens < 1 || f.promptLen < 1 {
		return usagef("--requests, --gen and --prompt-len must be at least 1")
	}
	var loads []bench.Load
	if f.rates != "" {
		rates, err := floatList(f.rates)
		if err != nil {
			return usagef("--rate %q: %v", f.rates, err)
		}
		for _, r := range rates {
			loads = append(loads, bench.Load{Rate: r})
		}
	} else {
		if f.concurrency == "" {
			f.concurrency = "1"
		}
		cs, err := intList(f.concurrency)
		if err != nil {
			return usagef("--concurrency %q: %v", f.concurrency, err)
		}
		for _, c := range cs {
			loads = append(loads, bench.Load{Concurrency: c})
		}
	}
	prompts := bench.SyntheticPrompts(f.requests, f.promptLen, f.seed)
	if f.promptsFile != "" {
		var err error
		if prompts, err = bench.ReadPrompts(f.promptsFile); err != nil {
			return err
		}
	}
	servers := [][2]string{{"url", f.url}}
	if f.vsURL != "" {
		servers = append(servers, [2]string{"vs-url", f.vsURL})
		report.Peer = &bench.Peer{Name: "vs-url", Path: f.vsURL, Found: true}
	}
	client := bench.NewClient()
	names := map[string]string{}
	for _, s := range servers {
		name := f.modelName
		if name == "" {
			name = client.ModelName(ctx, s[1])
		}
		names[s[0]] = name
		// A prompt of its own, so that no measured request finds its
		// prompt in the server's prefix cache.
		warm := bench.Load{URL: s[1], Model: name, Prompts: bench.SyntheticPrompts(1, f.promptLen, f.seed+1), MaxTokens: f.maxTokens}
		if err := client.WarmUp(ctx, warm); err != nil {
			return err
		}
	}
	bar := progress.New(os.Stderr, "bench serve", int64(len(loads)*len(servers)*f.requests))
	defer bar.Finish()
	for _, load := range loads {
		for _, s := range servers {
			l := load
			l.URL, l.Model, l.Prompts, l.MaxTokens, l.Requests, l.Seed = s[1], names[s[0]], prompts, f.maxTokens, f.requests, f.seed
			run, err := client.Run(ctx, l, bar.Add)
			if err != nil {
				return err
			}
			run.Server = s[0]
			report.Serve = append(report.Serve, run)
		}
	}
	report.PeakRSSBytes = bench.PeakRSS()
	return nil
}

// finishBench prints the report (the table, or JSON with the table on
// stderr) and draws the plot.
func finishBench(r *bench.Report, asJSON bool, plotFile string) error {
	if asJSON {
		if err := bench.WriteTable(os.Stderr, r); err != nil {
			return err
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else if err := bench.WriteTable(os.Stdout, r); err != nil {
		return err
	}
	if plotFile != "" {
		if err := bench.Plot(r, plotFile); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", plotFile)
	}
	return nil
}

func intList(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("want positive whole numbers separated by commas")
		}
		out = append(out, n)
	}
	return out, nil
}

func floatList(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !(x > 0) {
			return nil, fmt.Errorf("want positive numbers separated by commas")
		}
		out = append(out, x)
	}
	return out, nil
}
