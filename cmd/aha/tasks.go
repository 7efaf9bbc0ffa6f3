package main

import (
	"flag"
	"os"
	"strings"

	"github.com/aha-inference/aha/rollout"
	"github.com/aha-inference/aha/rollout/tasks"
)

func init() {
	register("tasks", "write generated tasks as training data (tasks export)", runTasks)
}

func runTasks(args []string) error {
	if len(args) == 0 || args[0] != "export" {
		return usagef("usage: aha tasks export -o DIR [flags] (aha tasks export -h for its flags)")
	}
	return runTasksExport(args[1:])
}

func runTasksExport(args []string) error {
	fs := newFlags("tasks export", "-o DIR [--task T1,T2] [--style S] [--hint show|hide] [--unsat-share F] [--level L1,L2] [--count N] [--test-count N] [--format verl|trl]")
	var e rollout.Export
	out := fs.String("o", "", "output folder: train.parquet and test.parquet (train.jsonl and test.jsonl with --format trl) are written there")
	taskList := fs.String("task", "deduction,induction,abduction", "tasks, separated by commas")
	fs.StringVar(&e.Style, "style", "aha", "aha, or maa for the distributions, prompts and answers of Meta-Ability-Alignment's released data")
	fs.StringVar(&e.Options.Hint, "hint", "", "induction: show or hide the rule family in the prompt (default: the style's own, aha shows it, maa hides it as the released prompt does)")
	fs.Float64Var(&e.Options.UnsatShare, "unsat-share", 0, "deduction, maa style: share 0..1 of puzzles no assignment satisfies, answered \""+tasks.MAAUnsatisfiable+"\" (the reference reward cannot score them)")
	levels := fs.String("level", "1,2", "difficulty levels 1..5, separated by commas")
	counts := fs.String("count", "200", "training instances per level of each task: one number, or one per --level")
	testCounts := fs.String("test-count", "0", "test instances per level of each task, in the same form (0: no test split)")
	seed := fs.Uint64("seed", 1, "data set seed of the training split")
	testSeed := fs.Uint64("test-seed", 0, "data set seed of the test split (default: --seed + 1)")
	fs.StringVar(&e.Format, "format", "verl", "verl (parquet, as the reference's training reads) or trl (JSON Lines of chat messages and answer)")
	if err := parseFlags(fs, args, ""); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if !set["test-seed"] {
		*testSeed = *seed + 1
	}
	if *out == "" {
		return usagef("give the output folder with -o")
	}
	if *seed == *testSeed {
		return usagef("--test-seed %d is the training seed: the splits would hold the same instances", *testSeed)
	}
	var err error
	if e.Levels, err = intList(*levels); err != nil {
		return usagef("--level: %v", err)
	}
	for _, name := range strings.Split(*taskList, ",") {
		e.Tasks = append(e.Tasks, strings.TrimSpace(name))
	}
	var splits []rollout.Split
	for _, s := range []struct {
		name, flag, counts string
		seed               uint64
	}{{"train", "count", *counts, *seed}, {"test", "test-count", *testCounts, *testSeed}} {
		if s.counts == "0" {
			continue
		}
		c, err := levelCounts(s.flag, s.counts, len(e.Levels))
		if err != nil {
			return err
		}
		splits = append(splits, rollout.Split{Name: s.name, Seed: s.seed, Counts: c})
	}
	if err := e.Check(splits...); err != nil {
		return usagef("%v", err)
	}
	return e.Write(*out, os.Stderr, splits...)
}

// levelCounts reads a count flag: one number for every level, or one per
// level.
func levelCounts(name, s string, levels int) ([]int, error) {
	counts, err := intList(s)
	switch {
	case err != nil:
		return nil, usagef("--%s: %v", name, err)
	case len(counts) == 1:
		for len(counts) < levels {
			counts = append(counts, counts[0])
		}
	case len(counts) != levels:
		return nil, usagef("--%s: %d counts for %d levels", name, len(counts), levels)
	}
	return counts, nil
}
