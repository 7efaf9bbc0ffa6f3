package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aha-inference/aha/convert"
	"github.com/aha-inference/aha/internal/progress"
	"github.com/aha-inference/aha/quant"
)

func init() {
	register("quantize", "write a model (or a synthetic real-shaped one) as GGUF in a chosen weight type", runQuantize)
}

func runQuantize(args []string) error {
	fs := newFlags("quantize", "IN OUT.gguf --type T   |   aha quantize --synth SHAPE --vocab VOCAB --type T OUT.gguf\n\n"+
		"IN is a GGUF file or a Hugging Face folder. --synth writes random weights in the shape of a real model,\n"+
		"with the tokenizer of VOCAB (a GGUF, a tokenizer.json or an HF folder). Shapes:\n  "+
		strings.Join(convert.SyntheticShapes(), ", "))
	typeName := fs.String("type", "f16", "weight type: "+strings.Join(convert.Types(), ", "))
	name := fs.String("name", "", "general.name of the output (default: the source's name)")
	synth := fs.String("synth", "", "write a synthetic model of this shape instead of converting one")
	vocab := fs.String("vocab", "", "with --synth: the tokenizer to use")
	seed := fs.Uint64("seed", 1, "with --synth: the random seed of the weights")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	typ, err := quant.ParseType(*typeName)
	if err != nil || !slices.Contains(convert.Types(), strings.ToLower(typ.String())) {
		return usagef("--type %q is not a type aha can write (supported: %s)", *typeName, strings.Join(convert.Types(), ", "))
	}
	var in, out string
	switch {
	case *synth != "" && len(pos) == 1:
		out = pos[0]
		if *vocab == "" {
			return usagef("--synth needs --vocab, the tokenizer to give the model")
		}
	case *synth == "" && len(pos) == 2:
		in, out = pos[0], pos[1]
	case *synth != "":
		return usagef("with --synth, give only the output file (got %d paths)", len(pos))
	default:
		return usagef("need an input model and an output file (got %d paths)", len(pos))
	}

	start := time.Now()
	var bar *progress.Bar
	var written int64
	opts := convert.Options{
		Type: typ,
		Name: *name,
		Log:  func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) },
		Progress: func(done, total int64) {
			if bar == nil {
				bar = progress.New(os.Stderr, "writing "+out, total)
			}
			bar.Add(done - written)
			written = done
		},
	}
	if *synth != "" {
		err = convert.WriteSynthetic(out, *synth, *vocab, *seed, opts)
	} else {
		err = convert.ExportFile(in, out, opts)
	}
	if bar != nil {
		bar.Finish()
	}
	if err != nil {
		return err
	}
	st, err := os.Stat(out)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s: %s, %.1f MiB in %v\n", out, typ, float64(st.Size())/(1<<20), time.Since(start).Round(time.Millisecond))
	return nil
}
