package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/aha-inference/aha/rollout/difficulty"
)

func init() {
	register("difficulty", "pass rate of every problem from rollouts, and the difficulty levels of staged RL from several models", runDifficulty)
}

// modelList collects --model NAME=FILE[,FILE…] in the order given.
type modelList []difficulty.Model

func (l *modelList) String() string { return fmt.Sprint(len(*l), " models") }
func (l *modelList) Set(v string) error {
	m, err := parseModel(v)
	*l = append(*l, m)
	return err
}

// filterFlag is --filter NAME=FILE[,FILE…].
type filterFlag struct{ *difficulty.Model }

func (f *filterFlag) String() string {
	if f.Model == nil {
		return ""
	}
	return f.Name
}
func (f *filterFlag) Set(v string) error {
	m, err := parseModel(v)
	f.Model = &m
	return err
}

func parseModel(v string) (difficulty.Model, error) {
	name, files, ok := strings.Cut(v, "=")
	if !ok || name == "" || files == "" {
		return difficulty.Model{}, fmt.Errorf("want NAME=FILE[,FILE…], got %q", v)
	}
	return difficulty.Model{Name: name, Files: strings.Split(files, ",")}, nil
}

// runDifficulty turns rollouts (aha rollout -n K samples each problem K
// times) into pass rates, and with several models into the levels of
// difficulty-aware staged RL.
func runDifficulty(args []string) error {
	fs := newFlags("difficulty", "(ROLLOUT.jsonl... | --model SMALL=FILES --model LARGE=FILES... [--filter NAME=FILES]) -o DIR [flags]")
	var models modelList
	var filter filterFlag
	fs.Var(&models, "model", "NAME=FILE[,FILE…]: one model's rollout files (its shards); repeat per model, smallest first")
	fs.Var(&filter, "filter", "NAME=FILE[,FILE…]: the filter model's rollout files; problems it never solves are dropped")
	outDir := fs.String("o", "", "output folder: L1/L2/L3.jsonl (and .parquet), levels.jsonl, passrate-NAME.jsonl, summary.json, difficulty.png")
	l3Share := fs.Float64("l3-share", 0.5, "share of the problems the largest model solves that L3 takes besides those it never solves (the paper: 0.5 for math, 0.1 for code)")
	seed := fs.Uint64("seed", 1, "seed of the L3 draw")
	dataPath := fs.String("data", "", "the data file the rollouts came from (default: the --data their manifest records)")
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) > 0 {
		if len(models) > 0 {
			return usagef("give rollout files either as arguments (one model) or with --model, not both")
		}
		models = modelList{{Name: "model", Files: files}}
	}
	if len(models) == 0 {
		return usagef("name the rollout files of at least one model")
	}
	if *outDir == "" {
		return usagef("give the output folder with -o")
	}
	if *l3Share < 0 || *l3Share > 1 {
		return usagef("--l3-share %g must be in [0, 1]", *l3Share)
	}
	sum, err := difficulty.Run(difficulty.Options{Models: models, Filter: filter.Model, Dir: *outDir,
		L3Share: *l3Share, Seed: *seed, Data: *dataPath})
	if err != nil {
		return err
	}
	sum.Print(os.Stdout)
	fmt.Printf("%d problems → %s\n", sum.Problems, *outDir)
	return nil
}
