package main

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/loader"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/quant"
)

// engineFlags say where the model runs and size the engine; every command
// that batches sequences (generate, chat, serve, rollout, bench) takes them.
type engineFlags struct {
	device        string
	threads       int
	kvCache       string
	kvType        string
	batchTokens   int
	maxSeqs       int
	noPrefixCache bool
}

func (f *engineFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.device, "device", "cpu", "where to run the model: cpu, or cuda (falls back to the CPU, saying why, when no GPU is usable)")
	fs.IntVar(&f.threads, "t", 0, "threads (0 = one per physical core, at most the CPUs this process may use)")
	fs.StringVar(&f.kvCache, "kv-cache", "", "KV cache size: positions (32768) or bytes of --kv-type with a unit (512MiB, 4GB); default 32768 positions")
	fs.StringVar(&f.kvType, "kv-type", strings.ToLower(model.DefaultKVType.String()), "element type of cached keys and values: f32, f16 (half the memory) or bf16 (half, coarser)")
	fs.IntVar(&f.batchTokens, "batch-tokens", 512, "most tokens in one forward step (decode tokens plus prompt chunks)")
	fs.IntVar(&f.maxSeqs, "max-seqs", 256, "most sequences decoding at once")
	fs.BoolVar(&f.noPrefixCache, "no-prefix-cache", false, "do not reuse the KV cache of prompts that start the same way")
}

// load says how to load the model: on --device with -t threads, with the
// LoRA adapter folder lora and the chat template file templateFile ("" for
// none and for the model's own).
func (f *engineFlags) load(lora, templateFile string) loader.Options {
	return loader.Options{Device: f.device, Threads: f.threads, LoRA: lora, Template: templateFile}
}

func (f *engineFlags) options() (engine.Options, error) {
	o := engine.Options{MaxBatchTokens: f.batchTokens, MaxSeqs: f.maxSeqs, DisablePrefixCache: f.noPrefixCache}
	if !slices.Contains(loader.Devices(), f.device) {
		return o, usagef("unknown --device %q (want %s)", f.device, strings.Join(loader.Devices(), " or "))
	}
	if f.batchTokens < 1 || f.maxSeqs < 1 {
		return o, usagef("--batch-tokens and --max-seqs must be at least 1")
	}
	t, err := quant.ParseType(f.kvType)
	if err != nil || !slices.Contains(kernels.KVTypes, t) {
		return o, usagef("--kv-type %q: want f32, f16 or bf16", f.kvType)
	}
	o.KVType = t
	if f.kvCache == "" {
		return o, nil
	}
	tokens, bytes, err := parseSize(f.kvCache)
	if err != nil {
		return o, usagef("--kv-cache %q: %v", f.kvCache, err)
	}
	o.CacheTokens, o.CacheBytes = tokens, bytes
	return o, nil
}

// parseSize reads a count of positions ("32768") or of bytes ("4GiB",
// "512MB", "100000B").
func parseSize(s string) (tokens int, bytes int64, err error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || v <= 0 {
				return 0, 0, fmt.Errorf("want a positive number before %s", u.suffix)
			}
			return 0, int64(v * float64(u.mult)), nil
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, 0, fmt.Errorf("want a positive number of positions, or bytes with a unit (KiB, MiB, GiB, KB, MB, GB, B)")
	}
	return n, 0, nil
}
