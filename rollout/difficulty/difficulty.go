package difficulty

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/parquet-go/parquet-go"

	"github.com/aha-inference/aha/rollout"
	"github.com/aha-inference/aha/rollout/data"
)

// Model is one model's rollout files (its shards) and its name.
type Model struct {
	Name  string
	Files []string
}

// Options configure Run.
type Options struct {
	Models []Model // smallest first; one model gives pass rates and L1, L3
	// Filter, when set, is the filter model: problems it never solves are
	// dropped.
	Filter *Model
	Dir    string // the output folder
	// L3Share is the share of the problems the largest model solves that
	// L3 takes besides those it never solves; Seed seeds that draw.
	L3Share float64
	Seed    uint64
	// Data is the data file the rollouts came from; "" takes the --data
	// their manifest records, if any (generated tasks have none).
	Data string
}

// Summary is the outcome of a run, as summary.json holds it (its fields
// in the file's order).
type Summary struct {
	Data     string       `json:"data"`
	Filter   string       `json:"filter"`
	L3Share  float64      `json:"l3_share"`
	Levels   []LevelStats `json:"levels"`
	Models   []string     `json:"models"`
	Problems int          `json:"problems"`
	Seed     uint64       `json:"seed"`

	names []string // every model's, the filter's last
}

// Run rates the problems and writes into opt.Dir: passrate-NAME.jsonl
// per model, levels.jsonl (every problem with its levels), L1/L2/L3.jsonl
// (and .parquet when the data was Parquet) holding the source rows of
// each level with difficulty_level and pass_rates added, summary.json and
// difficulty.png.
func Run(opt Options) (Summary, error) {
	if len(opt.Models) == 0 {
		return Summary{}, fmt.Errorf("no models to rate the problems")
	}
	if opt.L3Share < 0 || opt.L3Share > 1 {
		return Summary{}, fmt.Errorf("L3 share %g must be in [0, 1]", opt.L3Share)
	}
	all := slices.Clone(opt.Models)
	if opt.Filter != nil {
		all = append(all, *opt.Filter)
	}
	names := make([]string, len(all))
	for i, m := range all {
		if slices.Contains(names, m.Name) {
			return Summary{}, fmt.Errorf("two models are named %q", m.Name)
		}
		names[i] = m.Name
	}
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return Summary{}, err
	}
	var rates [][]rollout.PassRate
	for _, m := range all {
		recs, err := rollout.ReadRecords(m.Files...)
		if err != nil {
			return Summary{}, err
		}
		r := rollout.PassRates(recs)
		if err := writeJSONL(filepath.Join(opt.Dir, "passrate-"+m.Name+".jsonl"), r); err != nil {
			return Summary{}, err
		}
		rates = append(rates, r)
	}
	var filterRates []rollout.PassRate
	if opt.Filter != nil {
		filterRates = rates[len(opt.Models)]
	}
	staged, err := rollout.Stage(rates[:len(opt.Models)], filterRates, opt.L3Share, opt.Seed)
	if err != nil {
		return Summary{}, err
	}
	if err := writeJSONL(filepath.Join(opt.Dir, "levels.jsonl"), staged); err != nil {
		return Summary{}, err
	}
	src, ok, err := rollout.ReadSource(opt.Models[0].Files)
	if err != nil {
		return Summary{}, err
	}
	if ok && opt.Data == "" {
		if opt.Data, err = src.DataPath(); err != nil {
			return Summary{}, err
		}
	}
	table, err := sourceRows(opt.Data, src.Fields(), staged)
	if err != nil {
		return Summary{}, err
	}
	if err := writeLevels(opt.Dir, table, staged, names); err != nil {
		return Summary{}, err
	}
	sum := Summary{Data: opt.Data, L3Share: opt.L3Share, Levels: summarizeLevels(staged, names),
		Models: names[:len(opt.Models)], Problems: len(staged), Seed: opt.Seed, names: names}
	if opt.Filter != nil {
		sum.Filter = opt.Filter.Name
	}
	sb, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return Summary{}, err
	}
	if err := os.WriteFile(filepath.Join(opt.Dir, "summary.json"), append(sb, '\n'), 0o644); err != nil {
		return Summary{}, err
	}
	return sum, plotLevels(filepath.Join(opt.Dir, "difficulty.png"), staged, sum.Levels, names)
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
