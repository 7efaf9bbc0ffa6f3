package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/aha-inference/aha/bench"
	"github.com/aha-inference/aha/rollout"
	"github.com/aha-inference/aha/rollout/data"
)

func init() {
	register("difficulty", "pass rate of every problem from rollouts, and the difficulty levels of staged RL from several models", runDifficulty)
}

// modelList collects --model NAME=FILE[,FILE…] in the order given.
type modelList []namedFiles

// namedFiles is one model's rollout files (its shards).
type namedFiles struct {
	name  string
	files []string
}

func (l *modelList) String() string { return fmt.Sprint(len(*l), " models") }
func (l *modelList) Set(v string) error {
	m, err := parseNamedFiles(v)
	*l = append(*l, m)
	return err
}

// filterFlag is --filter NAME=FILE[,FILE…].
type filterFlag struct{ *namedFiles }

func (f *filterFlag) String() string {
	if f.namedFiles == nil {
		return ""
	}
	return f.name
}
func (f *filterFlag) Set(v string) error {
	m, err := parseNamedFiles(v)
	f.namedFiles = &m
	return err
}

func parseNamedFiles(v string) (namedFiles, error) {
	name, files, ok := strings.Cut(v, "=")
	if !ok || name == "" || files == "" {
		return namedFiles{}, fmt.Errorf("want NAME=FILE[,FILE…], got %q", v)
	}
	return namedFiles{name, strings.Split(files, ",")}, nil
}

// runDifficulty turns rollouts (aha rollout -n K samples each problem K
// times) into pass rates, and with several models into the levels of
// difficulty-aware staged RL (rollout.Levels has the rules).
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
		models = modelList{{"model", files}}
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
	all := slices.Clone(models)
	if filter.namedFiles != nil {
		all = append(all, *filter.namedFiles)
	}
	names := make([]string, len(all))
	for i, m := range all {
		if slices.Contains(names, m.name) {
			return usagef("two models are named %q", m.name)
		}
		names[i] = m.name
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	var rates [][]rollout.PassRate
	for _, m := range all {
		recs, err := rollout.ReadRecords(m.files...)
		if err != nil {
			return err
		}
		r := rollout.PassRates(recs)
		if err := writeJSONL(filepath.Join(*outDir, "passrate-"+m.name+".jsonl"), r); err != nil {
			return err
		}
		rates = append(rates, r)
	}
	var filterRates []rollout.PassRate
	if filter.namedFiles != nil {
		filterRates = rates[len(models)]
	}
	staged, err := rollout.Stage(rates[:len(models)], filterRates, *l3Share, *seed)
	if err != nil {
		return err
	}
	if err := writeJSONL(filepath.Join(*outDir, "levels.jsonl"), staged); err != nil {
		return err
	}
	src, ok, err := readSource(models[0].files)
	if err != nil {
		return err
	}
	if ok && *dataPath == "" {
		if *dataPath, err = src.dataPath(); err != nil {
			return err
		}
	}
	table, err := sourceRows(*dataPath, data.Fields{Answer: src.args["answer-field"], Task: src.args["task-field"]}, staged)
	if err != nil {
		return err
	}
	if err := writeLevels(*outDir, table, staged, names); err != nil {
		return err
	}
	sum := summarizeLevels(staged, names)
	summary := map[string]any{"models": names[:len(models)], "filter": filter.String(), "problems": len(staged),
		"levels": sum, "l3_share": *l3Share, "seed": *seed, "data": *dataPath}
	sb, err := json.MarshalIndent(summary, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*outDir, "summary.json"), append(sb, '\n'), 0o644); err != nil {
		return err
	}
	printLevels(os.Stdout, sum, names)
	fmt.Printf("%d problems → %s\n", len(staged), *outDir)
	return plotLevels(filepath.Join(*outDir, "difficulty.png"), staged, sum, names)
}

// sourceRows is the data file's rows, checked against the problems the
// rollouts rated; without a data file (generated tasks) each problem's
// row is its record fields.
func sourceRows(path string, fields data.Fields, staged []rollout.Staged) (*data.Table, error) {
	if path == "" {
		t := &data.Table{Rows: make([]map[string]any, staged[len(staged)-1].PromptID+1)}
		for _, s := range staged {
			t.Rows[s.PromptID] = map[string]any{"prompt_id": s.PromptID, "task": s.Task, "level": s.Level, "prompt": s.Prompt, "answer": s.Answer}
		}
		return t, nil
	}
	t, err := data.ReadTable(path)
	if err != nil {
		return nil, err
	}
	problems, err := data.Read(path, fields)
	if err != nil {
		return nil, err
	}
	for _, s := range staged {
		if s.PromptID >= len(t.Rows) || problems[s.PromptID].Answer != s.Answer {
			return nil, fmt.Errorf("%s is not the data the rollouts came from: its row %d does not have answer %q; name the right file with --data", path, s.PromptID+1, s.Answer)
		}
	}
	return t, nil
}

// writeLevels writes each level's rows: the source row of every problem
// in it, with all its levels and every model's pass rate added — as JSON
// Lines, and as Parquet in the input's own schema when it was Parquet
// (verl reads the columns it knows and carries the others).
func writeLevels(dir string, table *data.Table, staged []rollout.Staged, names []string) error {
	byLevel := map[string][]map[string]any{}
	for _, s := range staged {
		row := maps.Clone(table.Rows[s.PromptID])
		row["difficulty_level"] = s.Levels
		rates := map[string]any{}
		for i, r := range s.PassRates {
			rates[names[i]] = r
		}
		row["pass_rates"] = rates
		for _, l := range s.Levels {
			byLevel[l] = append(byLevel[l], row)
		}
	}
	ratesGroup := parquet.Group{}
	for _, n := range names {
		ratesGroup[n] = parquet.Leaf(parquet.DoubleType)
	}
	added := parquet.Group{"difficulty_level": parquet.List(parquet.String()), "pass_rates": ratesGroup}
	for _, l := range []string{rollout.L1, rollout.L2, rollout.L3} {
		if err := data.WriteJSONL(filepath.Join(dir, l+".jsonl"), byLevel[l]); err != nil {
			return err
		}
		if table.Parquet() {
			if err := table.WriteParquet(filepath.Join(dir, l+".parquet"), byLevel[l], added); err != nil {
				return err
			}
		}
	}
	return nil
}

// levelStats are the problems of one level and each model's mean pass
// rate on them.
type levelStats struct {
	Level     string             `json:"level"`
	Problems  int                `json:"problems"`
	MeanRates map[string]float64 `json:"mean_pass_rates"`
}

// levelRows are the rows of the summary: each level, then the problems
// in none and the dropped ones.
var levelRows = []string{rollout.L1, rollout.L2, rollout.L3, "none", "dropped"}

// summarizeLevels counts each level's problems and averages each model's
// pass rate over them.
func summarizeLevels(staged []rollout.Staged, names []string) []levelStats {
	stats := make([]levelStats, len(levelRows))
	sums := make([][]float64, len(levelRows))
	for i, l := range levelRows {
		stats[i] = levelStats{Level: l, MeanRates: map[string]float64{}}
		sums[i] = make([]float64, len(names))
	}
	for _, s := range staged {
		rows := s.Levels
		switch {
		case s.Dropped:
			rows = []string{"dropped"}
		case len(rows) == 0:
			rows = []string{"none"}
		}
		for _, l := range rows {
			i := slices.Index(levelRows, l)
			stats[i].Problems++
			for m, r := range s.PassRates {
				sums[i][m] += r
			}
		}
	}
	for i := range stats {
		for m, n := range names {
			if stats[i].Problems > 0 {
				stats[i].MeanRates[n] = sums[i][m] / float64(stats[i].Problems)
			}
		}
	}
	return stats
}

// printLevels writes the summary as a table.
func printLevels(w io.Writer, stats []levelStats, names []string) {
	fmt.Fprintf(w, "%-8s %8s", "level", "problems")
	for _, n := range names {
		fmt.Fprintf(w, " %*s", max(8, len(n)), n)
	}
	fmt.Fprintln(w, "   (mean pass rate per model)")
	for _, s := range stats {
		fmt.Fprintf(w, "%-8s %8d", s.Level, s.Problems)
		for _, n := range names {
			if s.Problems == 0 {
				fmt.Fprintf(w, " %*s", max(8, len(n)), "-")
				continue
			}
			fmt.Fprintf(w, " %*.3f", max(8, len(n)), s.MeanRates[n])
		}
		fmt.Fprintln(w)
	}
}

// passRateBins are the bars of the pass-rate histograms: 0 and 1 apart,
// since the level rules turn on them, and fifths in between.
var passRateBins = []string{"0", "<.2", "<.4", "<.6", "<.8", "<1", "1"}

// binPassRate is the bar of pass rate p.
func binPassRate(p float64) int {
	switch {
	case p <= 0:
		return 0
	case p >= 1:
		return len(passRateBins) - 1
	}
	return 1 + min(int(p*5), 4)
}

// plotLevels draws one pass-rate histogram per model and the size of
// each level.
func plotLevels(path string, staged []rollout.Staged, stats []levelStats, names []string) error {
	var panels []*plot.Plot
	for m, n := range names {
		counts := make(plotter.Values, len(passRateBins))
		for _, s := range staged {
			counts[binPassRate(s.PassRates[m])]++
		}
		p, err := barPanel("pass rate of "+n, "pass rate", counts, passRateBins)
		if err != nil {
			return err
		}
		panels = append(panels, p)
	}
	sizes := make(plotter.Values, len(stats))
	for i, s := range stats {
		sizes[i] = float64(s.Problems)
	}
	p, err := barPanel("level sizes", "level", sizes, levelRows)
	if err != nil {
		return err
	}
	return bench.WritePNG(path, append(panels, p))
}

func barPanel(title, x string, values plotter.Values, labels []string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = "problems"
	bars, err := plotter.NewBarChart(values, vg.Points(20))
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	p.Add(bars)
	p.NominalX(labels...)
	return p, nil
}

// writeJSONL writes one JSON object per line.
func writeJSONL[T any](path string, rows []T) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i := range rows {
		if err := enc.Encode(&rows[i]); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}
