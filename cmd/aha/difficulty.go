package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aha-inference/aha/rollout"
)

func init() {
	register("difficulty", "pass rate of every problem from rollouts, and difficulty buckets from several models", runDifficulty)
}

// modelList collects --model NAME=FILE[,FILE…] in the order given.
type modelList []struct {
	name  string
	files []string
}

func (l *modelList) String() string { return fmt.Sprint(len(*l), " models") }
func (l *modelList) Set(v string) error {
	name, files, ok := strings.Cut(v, "=")
	if !ok || name == "" || files == "" {
		return fmt.Errorf("want NAME=FILE[,FILE…], got %q", v)
	}
	*l = append(*l, struct {
		name  string
		files []string
	}{name, strings.Split(files, ",")})
	return nil
}

// runDifficulty turns rollouts (aha rollout -n K samples each problem K
// times) into pass rates, and with several models into the stages of
// difficulty-aware training.
func runDifficulty(args []string) error {
	fs := newFlags("difficulty", "(ROLLOUT.jsonl... | --model SMALL=FILES --model LARGE=FILES...) -o DIR [flags]")
	var models modelList
	fs.Var(&models, "model", "NAME=FILE[,FILE…]: one model's rollout files (its shards); repeat per model, smallest first")
	outDir := fs.String("o", "", "output folder: passrate-NAME.jsonl per model, L1/L2/L3.jsonl and summary.json")
	l3Fraction := fs.Float64("l3-fraction", 0.1, "share of the problems the largest model solves that L3 takes besides those it fails")
	seed := fs.Uint64("seed", 1, "seed of the L3 draw")
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) > 0 {
		if len(models) > 0 {
			return usagef("give rollout files either as arguments (one model) or with --model, not both")
		}
		models.Set("model=" + strings.Join(files, ","))
	}
	if len(models) == 0 {
		return usagef("name the rollout files of at least one model")
	}
	if *outDir == "" {
		return usagef("give the output folder with -o")
	}
	if *l3Fraction < 0 || *l3Fraction > 1 {
		return usagef("--l3-fraction %g must be in [0, 1]", *l3Fraction)
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	var rates [][]rollout.PassRate
	for _, m := range models {
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
	b, err := rollout.Bucket(rates, *l3Fraction, *seed)
	if err != nil {
		return err
	}
	for name, bucket := range map[string][]rollout.Bucketed{"L1": b.L1, "L2": b.L2, "L3": b.L3} {
		if err := writeJSONL(filepath.Join(*outDir, name+".jsonl"), bucket); err != nil {
			return err
		}
	}
	names := make([]string, len(models))
	for i, m := range models {
		names[i] = m.name
	}
	summary := map[string]any{"models": names, "problems": len(rates[0]), "L1": len(b.L1), "L2": len(b.L2), "L3": len(b.L3),
		"dropped": b.Dropped, "easy": b.Easy, "l3_fraction": *l3Fraction, "seed": *seed}
	sb, _ := json.MarshalIndent(summary, "", "  ")
	if err := os.WriteFile(filepath.Join(*outDir, "summary.json"), append(sb, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Printf("%d problems: L1 %d, L2 %d, L3 %d, dropped (no model solves) %d, left out (easy) %d → %s\n",
		len(rates[0]), len(b.L1), len(b.L2), len(b.L3), b.Dropped, b.Easy, *outDir)
	return nil
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
