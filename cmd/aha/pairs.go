package main

import (
	"os"
	"strconv"
	"strings"

	"github.com/aha-inference/aha/rollout/pairs"
)

func init() {
	register("pairs", "correct and wrong completions of each problem as DPO pairs, KTO rows, or ReaLM's multi-route prompts", runPairs)
}

func runPairs(args []string) error {
	fs := newFlags("pairs", "ROLLOUT.jsonl... -o OUT.jsonl [--format dpo|kto|mrpv] [flags]")
	opt := pairs.Options{Log: os.Stderr}
	out := fs.String("o", "", "output JSONL")
	fs.StringVar(&opt.Format, "format", pairs.DPO, "dpo: prompt, chosen, rejected (TRL's DPOTrainer); kto: prompt, completion, label (TRL's KTOTrainer); mrpv: a prompt holding several routes and the reference answer (ReaLM)")
	mix := fs.String("mix", "1:1", "C:W: per problem, up to C correct and W wrong completions (dpo pairs every correct one with every wrong one; kto writes each)")
	fs.IntVar(&opt.Routes, "routes", 4, "mrpv: routes per prompt")
	fs.IntVar(&opt.Positives, "positives", 2, "mrpv: how many of the routes are correct")
	fs.BoolVar(&opt.Marked, "mark-routes", false, "mrpv: mark each route correct or incorrect (without it the model must tell)")
	fs.IntVar(&opt.Stages, "eaai-stages", 0, "mrpv: write N files OUT-stageS.jsonl in which the routes fade, all at stage 1, none at stage N (N ≥ 2)")
	fs.Uint64Var(&opt.Seed, "seed", 1, "seed of the draw of completions and of the routes' order")
	fs.BoolVar(&opt.KeepTruncated, "keep-truncated", false, "use completions cut off at the token limit (finish_reason length)")
	fs.BoolVar(&opt.KeepFormatFailed, "keep-format-failed", false, "use completions that failed the format (verdict format_error)")
	fs.StringVar(&opt.Data, "data", "", "the data file the rollouts came from (default: the --data their manifest records)")
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 || *out == "" {
		return usagef("name the rollout files and the output (-o)")
	}
	cs, ws, ok := strings.Cut(*mix, ":")
	c, err1 := strconv.Atoi(cs)
	w, err2 := strconv.Atoi(ws)
	if !ok || err1 != nil || err2 != nil || c < 1 || w < 1 {
		return usagef("--mix %q: want C:W, two counts of at least 1", *mix)
	}
	opt.Correct, opt.Wrong = c, w
	if err := opt.Check(); err != nil {
		return usagef("%v", err)
	}
	return pairs.Write(files, *out, opt)
}
