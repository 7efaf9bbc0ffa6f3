package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/aha-inference/aha/rollout"
)

func init() {
	register("pairs", "pair correct and wrong completions of each problem (preference data, positive/negative routes)", runPairs)
}

func runPairs(args []string) error {
	fs := newFlags("pairs", "ROLLOUT.jsonl... -o PAIRS.jsonl [--mix C:W] [--seed S]")
	out := fs.String("o", "", "output JSONL: prompt, chosen (correct), rejected (wrong) and their rewards")
	mix := fs.String("mix", "1:1", "C:W: per problem, draw up to C correct and W wrong completions and pair every correct one with every wrong one")
	seed := fs.Uint64("seed", 1, "seed of the draw")
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
	recs, err := rollout.ReadRecords(files...)
	if err != nil {
		return err
	}
	pairs, skipped := rollout.Pairs(recs, c, w, *seed)
	if err := writeJSONL(*out, pairs); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d pairs → %s; %d problems had no correct or no wrong completion\n", len(pairs), *out, skipped)
	return nil
}
