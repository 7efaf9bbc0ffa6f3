package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aha-inference/aha/rollout/data"
	"github.com/aha-inference/aha/rollout/tasks"
	"github.com/aha-inference/aha/tokenizer/template"
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

// exportFlags are the flags of aha tasks export.
type exportFlags struct {
	out, taskList, style, levels, counts, testCounts, format string
	seed, testSeed                                           uint64
	opts                                                     tasks.Options
}

func runTasksExport(args []string) error {
	fs := newFlags("tasks export", "-o DIR [--task T1,T2] [--style S] [--hint show|hide] [--unsat-share F] [--level L1,L2] [--count N] [--test-count N] [--format verl|trl]")
	var f exportFlags
	fs.StringVar(&f.out, "o", "", "output folder: train.parquet and test.parquet (train.jsonl and test.jsonl with --format trl) are written there")
	fs.StringVar(&f.taskList, "task", "deduction,induction,abduction", "tasks, separated by commas")
	fs.StringVar(&f.style, "style", "aha", "aha, or maa for the distributions, prompts and answers of Meta-Ability-Alignment's released data")
	fs.StringVar(&f.opts.Hint, "hint", "", "induction: show or hide the rule family in the prompt (default: the style's own, aha shows it, maa hides it as the released prompt does)")
	fs.Float64Var(&f.opts.UnsatShare, "unsat-share", 0, "deduction, maa style: share 0..1 of puzzles no assignment satisfies, answered \""+tasks.MAAUnsatisfiable+"\" (the reference reward cannot score them)")
	fs.StringVar(&f.levels, "level", "1,2", "difficulty levels 1..5, separated by commas")
	fs.StringVar(&f.counts, "count", "200", "training instances per level of each task: one number, or one per --level")
	fs.StringVar(&f.testCounts, "test-count", "0", "test instances per level of each task, in the same form (0: no test split)")
	fs.Uint64Var(&f.seed, "seed", 1, "data set seed of the training split")
	fs.Uint64Var(&f.testSeed, "test-seed", 0, "data set seed of the test split (default: --seed + 1)")
	fs.StringVar(&f.format, "format", "verl", "verl (parquet, as the reference's training reads) or trl (JSON Lines of chat messages and answer)")
	if err := parseFlags(fs, args, ""); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if !set["test-seed"] {
		f.testSeed = f.seed + 1
	}
	return tasksExport(&f)
}

// split is one file of an export: which instances, from which seed.
type split struct {
	name   string
	seed   uint64
	counts []int // per level
}

func tasksExport(f *exportFlags) error {
	if f.out == "" {
		return usagef("give the output folder with -o")
	}
	ext := map[string]string{"verl": ".parquet", "trl": ".jsonl"}[f.format]
	if ext == "" {
		return usagef("--format %q: want verl or trl", f.format)
	}
	if f.seed == f.testSeed {
		return usagef("--test-seed %d is the training seed: the splits would hold the same instances", f.testSeed)
	}
	levels, err := intList(f.levels)
	if err != nil {
		return usagef("--level: %v", err)
	}
	for _, l := range levels {
		if l > tasks.MaxLevel {
			return usagef("--level %d: want 1..%d", l, tasks.MaxLevel)
		}
	}
	train, err := levelCounts("count", f.counts, len(levels))
	if err != nil {
		return err
	}
	test, err := levelCounts("test-count", f.testCounts, len(levels))
	if err != nil {
		return err
	}
	var gens []tasks.Generator
	for _, name := range strings.Split(f.taskList, ",") {
		gen, err := tasks.Lookup(strings.TrimSpace(name), f.style, f.opts)
		if err != nil {
			return usagef("--task, --style, --hint, --unsat-share: %v", err)
		}
		gens = append(gens, gen)
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return err
	}
	for _, s := range []split{{"train", f.seed, train}, {"test", f.testSeed, test}} {
		if s.counts == nil {
			continue
		}
		rows, err := exportRows(gens, levels, s)
		if err != nil {
			return err
		}
		path := filepath.Join(f.out, s.name+ext)
		if err := writeExport(path, f.format, rows); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "%s: %d rows\n", path, len(rows))
	}
	return nil
}

// levelCounts reads a count flag: one number for every level, or one per
// level; "0" means none.
func levelCounts(name, s string, levels int) ([]int, error) {
	if s == "0" {
		return nil, nil
	}
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

// exportRows generates a split: for each task and level, instances
// 0 … count−1 of the split's seed, as aha rollout --task would sample
// them (the style's system message, else aha's default).
func exportRows(gens []tasks.Generator, levels []int, s split) ([]data.Row, error) {
	var rows []data.Row
	for _, gen := range gens {
		for l, level := range levels {
			for i := range s.counts[l] {
				in, err := gen.Generate(s.seed, level, i)
				if err != nil {
					return nil, err
				}
				system := in.System
				if system == "" {
					system = defaultSystem
				}
				msgs := []template.Message{{"role": "system", "content": system}, {"role": "user", "content": in.Prompt}}
				rows = append(rows, data.Row{
					Problem: data.Problem{Messages: msgs, Answer: in.Answer, Task: in.Task, Level: in.Level},
					Split:   s.name, Index: len(rows),
				})
			}
		}
	}
	return rows, nil
}

func writeExport(path, format string, rows []data.Row) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	write := data.WriteVerl
	if format == "trl" {
		write = data.WriteTRL
	}
	if err := write(out, rows); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return out.Close()
}
