package rollout

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/aha-inference/aha/rollout/data"
	"github.com/aha-inference/aha/rollout/tasks"
	"github.com/aha-inference/aha/tokenizer/template"
)

// Export writes generated tasks as training data, as aha tasks export
// does: for each split, instances 0 … count−1 of every task and level, as
// a run with the default system message would sample them.
type Export struct {
	Tasks   []string // task names
	Style   string   // the tasks' style (tasks.Lookup); "" is aha
	Options tasks.Options
	Levels  []int
	Format  string // "verl" (parquet, as verl's training reads) or "trl" (JSON Lines)
}

// Split is one file of an export: its name, the data set seed of its
// instances and how many of each level (Counts[i] of Levels[i]).
type Split struct {
	Name   string
	Seed   uint64
	Counts []int
}

// formats maps an export format to its files' extension and writer.
var formats = map[string]struct {
	ext   string
	write func(io.Writer, []data.Row) error
}{
	"verl": {".parquet", data.WriteVerl},
	"trl":  {".jsonl", data.WriteTRL},
}

// Check reports a bad format, level or task, or a split whose counts do
// not match the levels.
func (e Export) Check(splits ...Split) error {
	if _, ok := formats[e.Format]; !ok {
		return fmt.Errorf("format %q: want verl or trl", e.Format)
	}
	for _, l := range e.Levels {
		if l < 1 || l > tasks.MaxLevel {
			return fmt.Errorf("level %d: want 1..%d", l, tasks.MaxLevel)
		}
	}
	for _, s := range splits {
		if len(s.Counts) != len(e.Levels) {
			return fmt.Errorf("split %s: %d counts for %d levels", s.Name, len(s.Counts), len(e.Levels))
		}
	}
	_, err := e.generators()
	return err
}

func (e Export) generators() ([]tasks.Generator, error) {
	var gens []tasks.Generator
	for _, name := range e.Tasks {
		gen, err := tasks.Lookup(name, cmp.Or(e.Style, "aha"), e.Options)
		if err != nil {
			return nil, err
		}
		gens = append(gens, gen)
	}
	return gens, nil
}

// Write writes each split into dir as NAME.parquet (verl) or NAME.jsonl
// (trl), saying on log how many rows each holds.
func (e Export) Write(dir string, log io.Writer, splits ...Split) error {
	if err := e.Check(splits...); err != nil {
		return err
	}
	gens, err := e.generators()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	format := formats[e.Format]
	for _, s := range splits {
		rows, err := exportRows(gens, e.Levels, s)
		if err != nil {
			return err
		}
		path := filepath.Join(dir, s.Name+format.ext)
		if err := writeFile(path, rows, format.write); err != nil {
			return err
		}
		fmt.Fprintf(log, "%s: %d rows\n", path, len(rows))
	}
	return nil
}

// exportRows generates a split: for each task and level, instances
// 0 … count−1 of the split's seed, with the style's system message, else
// DefaultSystem.
func exportRows(gens []tasks.Generator, levels []int, s Split) ([]data.Row, error) {
	var rows []data.Row
	for _, gen := range gens {
		for l, level := range levels {
			for i := range s.Counts[l] {
				in, err := gen.Generate(s.Seed, level, i)
				if err != nil {
					return nil, err
				}
				system := in.System
				if system == "" {
					system = DefaultSystem
				}
				msgs := []template.Message{{"role": "system", "content": system}, {"role": "user", "content": in.Prompt}}
				rows = append(rows, data.Row{
					Problem: data.Problem{Messages: msgs, Answer: in.Answer, Task: in.Task, Level: in.Level},
					Split:   s.Name, Index: len(rows),
				})
			}
		}
	}
	return rows, nil
}

func writeFile(path string, rows []data.Row, write func(io.Writer, []data.Row) error) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(out, rows); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return out.Close()
}
