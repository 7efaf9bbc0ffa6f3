package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"

	"github.com/aha-inference/aha/bench"
	"github.com/aha-inference/aha/rollout"
)

func init() {
	register("report", "pass@k, rewards, lengths and finish reasons of rollout files, per task and level", runReport)
}

func runReport(args []string) error {
	fs := newFlags("report", "ROLLOUT.jsonl... [--json] [--plot FILE.png]")
	asJSON := fs.Bool("json", false, "print the statistics as JSON")
	plotPath := fs.String("plot", "", "draw the reward histogram and the pass@k curve into this PNG")
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("name one or more rollout files (the shards of a run, say)")
	}
	recs, err := rollout.ReadRecords(files...)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return fmt.Errorf("%s: no records", strings.Join(files, ", "))
	}
	groups := rollout.Summarize(recs)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(groups); err != nil {
			return err
		}
	} else {
		printReport(os.Stdout, groups)
	}
	if *plotPath != "" {
		return plotReport(*plotPath, recs, groups)
	}
	return nil
}

// printReport writes one line per task and level.
func printReport(w io.Writer, groups []rollout.Group) {
	fmt.Fprintf(w, "%-10s %5s %8s %8s %7s %7s %7s %7s %9s %8s  %s\n",
		"task", "level", "problems", "samples", "pass@1", "pass@k", "k", "reward", "mean len", "max len", "finish reasons")
	for _, g := range groups {
		level := fmt.Sprint(g.Level)
		if g.Task == "all" || g.Level == 0 {
			level = "-"
		}
		k := len(g.PassAtK)
		reasons := make([]string, 0, len(g.FinishReasons))
		for _, r := range slices.Sorted(maps.Keys(g.FinishReasons)) {
			reasons = append(reasons, fmt.Sprintf("%s %d", r, g.FinishReasons[r]))
		}
		fmt.Fprintf(w, "%-10s %5s %8d %8d %7.3f %7.3f %7d %7.3f %9.1f %8d  %s\n",
			g.Task, level, g.Problems, g.Samples, g.PassAtK[0], g.PassAtK[k-1], k, g.MeanReward, g.MeanLength, g.MaxLength, strings.Join(reasons, ", "))
	}
}

// plotReport draws two panels: the histogram of the rewards and pass@k
// against k, one line per task and level.
func plotReport(path string, recs []rollout.Record, groups []rollout.Group) error {
	hist := plot.New()
	hist.Title.Text = "reward"
	hist.X.Label.Text = "reward"
	hist.Y.Label.Text = "samples"
	rewards := make(plotter.Values, len(recs))
	for i, r := range recs {
		rewards[i] = r.Reward
	}
	bins := 20
	if slices.Min(rewards) == slices.Max(rewards) {
		bins = 1
	}
	h, err := plotter.NewHist(rewards, bins)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	hist.Add(h)

	curve := plot.New()
	curve.Title.Text = "pass@k"
	curve.X.Label.Text = "k"
	curve.Y.Label.Text = "pass@k"
	curve.Y.Min, curve.Y.Max = 0, 1
	var lines []any
	for _, g := range groups {
		pts := make(plotter.XYs, len(g.PassAtK))
		for k, p := range g.PassAtK {
			pts[k] = plotter.XY{X: float64(k + 1), Y: p}
		}
		name := g.Task
		if g.Level > 0 {
			name = fmt.Sprintf("%s L%d", g.Task, g.Level)
		}
		lines = append(lines, name, pts)
	}
	if err := plotutil.AddLinePoints(curve, lines...); err != nil {
		return fmt.Errorf("plot: %w", err)
	}

	return bench.WritePNG(path, []*plot.Plot{hist, curve})
}
