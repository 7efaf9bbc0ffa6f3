package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/aha-inference/aha/bench"
	"github.com/aha-inference/aha/internal/progress"
	"github.com/aha-inference/aha/merge"
	"github.com/aha-inference/aha/quant"
)

func init() {
	register("merge", "merge checkpoints in parameter space (linear, task arithmetic, TIES, slerp) or fold a LoRA adapter into its base", runMerge)
}

// modelFlags collects repeated --model name=DIR[:weight] flags.
type modelFlags struct {
	models  []merge.Model
	weights []float32
}

func (m *modelFlags) String() string { return "" }

func (m *modelFlags) Set(s string) error {
	name, rest, ok := strings.Cut(s, "=")
	if !ok || name == "" || rest == "" {
		return fmt.Errorf("want name=DIR or name=DIR:weight, got %q", s)
	}
	dir, weight := rest, float32(1)
	if i := strings.LastIndex(rest, ":"); i >= 0 {
		if w, err := strconv.ParseFloat(rest[i+1:], 32); err == nil {
			dir, weight = rest[:i], float32(w)
		}
	}
	m.models = append(m.models, merge.Model{Name: name, Dir: dir})
	m.weights = append(m.weights, weight)
	return nil
}

func runMerge(args []string) error {
	fs := newFlags("merge", "--method M -o OUT --model NAME=DIR[:WEIGHT] ... [--base DIR]   |   aha merge --lora ADAPTER --base DIR -o OUT\n\n"+
		"Inputs and output are Hugging Face folders; arithmetic is float32. Methods (as mergekit defines them):\n"+
		"  linear           Σ wᵢ·modelᵢ, divided by Σ wᵢ unless --normalize=false\n"+
		"  task_arithmetic  base + Σ wᵢ·(modelᵢ − base); needs --base\n"+
		"  ties             TIES: trim each task vector to --density, elect signs, disjoint mean; needs --base\n"+
		"  slerp            spherical interpolation from --base (t=0) to one --model (t=1) by --t")
	var models modelFlags
	fs.Var(&models, "model", "an input model, NAME=DIR or NAME=DIR:WEIGHT (weight 1 if omitted); repeat for each")
	method := fs.String("method", "linear", "merge method: "+strings.Join(merge.Methods, ", "))
	out := fs.String("o", "", "output folder (must not exist)")
	base := fs.String("base", "", "base model folder, for task_arithmetic, ties, slerp and --lora")
	normalize := fs.Bool("normalize", false, "divide by the sum of the weights (default: on for linear and ties, off for task_arithmetic)")
	density := fs.Float64("density", 1, "ties: the fraction of each task vector kept, by magnitude")
	t := fs.Float64("t", 0.5, "slerp: interpolation parameter, 0 = base, 1 = model")
	lora := fs.String("lora", "", "a PEFT LoRA adapter folder to merge into --base")
	dtype := fs.String("dtype", "", "output type: f32, f16 or bf16 (default: each tensor's type in the first input)")
	shard := fs.String("shard-size", "5GB", "largest safetensors file of the output")
	threads := fs.Int("threads", 0, "threads (0 = the CPUs this process may use)")
	if err := parseFlags(fs, args, " (inputs are given with --model NAME=DIR)"); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *out == "" {
		return usagef("-o OUT is required: the folder to write")
	}
	_, shardBytes, err := parseSize(*shard)
	if err != nil || shardBytes == 0 {
		return usagef("--shard-size %q: want bytes with a unit (KiB, MiB, GiB, KB, MB, GB, B)", *shard)
	}
	o := merge.Output{Dir: *out, ShardSize: shardBytes}
	if *dtype != "" {
		typ, err := quant.ParseType(*dtype)
		if err != nil || (typ != quant.F32 && typ != quant.F16 && typ != quant.BF16) {
			return usagef("--dtype %q: want f32, f16 or bf16", *dtype)
		}
		o.Cast, o.Type = true, typ
	}
	// A parameter of another method is a mistake, not something to ignore
	// (-t is slerp's t here; threads are --threads).
	if set["t"] && *method != "slerp" {
		return usagef("--t is slerp's interpolation parameter, not used by %s (threads are --threads)", *method)
	}
	if set["density"] && *method != "ties" {
		return usagef("--density is a ties parameter, not used by %s", *method)
	}
	if *threads > 0 {
		runtime.GOMAXPROCS(*threads)
	}

	start := time.Now()
	var bar *progress.Bar
	var written int64
	o.Progress = func(done, total int64) {
		if bar == nil {
			bar = progress.New(os.Stderr, "merging into "+*out, total)
		}
		bar.Add(done - written)
		written = done
	}
	if *lora != "" {
		if len(models.models) > 0 || set["method"] {
			return usagef("--lora merges one adapter into --base; it takes no --model or --method")
		}
		if *base == "" {
			return usagef("--lora needs --base, the model the adapter was trained on")
		}
		err = merge.LoRA(*lora, *base, o)
	} else {
		if len(models.models) == 0 {
			return usagef("no input models: give --model NAME=DIR[:WEIGHT] for each")
		}
		r := merge.Recipe{Method: *method, Weights: models.weights, Normalize: merge.DefaultNormalize(*method),
			Density: float32(*density), T: float32(*t)}
		if set["normalize"] {
			r.Normalize = *normalize
		}
		err = merge.Folders(r, *base, models.models, o)
	}
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %.1f MiB of weights in %v, peak memory %.0f MiB\n",
		*out, float64(written)/(1<<20), time.Since(start).Round(time.Millisecond), float64(bench.PeakRSS())/(1<<20))
	return nil
}
