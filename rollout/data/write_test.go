package data

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/aha-inference/aha/tokenizer/template"
)

// exportRows holds one row of each logic task, in both splits, with and
// without a system message.
var exportRows = []Row{
	{Problem{Messages: []template.Message{{"role": "system", "content": "Think first."}, {"role": "user", "content": "Below are some nested formulas:\n  - (A ∨ ¬B)\n"}},
		Answer: "(1) A is True\n(2) B is False\n", Task: "deduction", Level: 1}, "train", 0},
	{Problem{Messages: user("Given the following sequence,\n['1', '-1', '2', '0', '?']\nWhat is the value at the question mark?"),
		Answer: "-3", Task: "induction", Level: 4}, "train", 1},
	{Problem{Messages: user("premises: ['(C) => BA']\nknown_atoms: ['C']\ngoals: ['BA', 'M']"),
		Answer: "(1) BA is reachable\n(2) M is unreachable", Task: "abduction", Level: 5}, "test", 0},
}

func exportedProblems() []Problem {
	want := make([]Problem, len(exportRows))
	for i, r := range exportRows {
		want[i] = r.Problem
	}
	return want
}

// Written files read back as the problems written: the task from the
// answer, the level from difficulty.
func TestWriteRoundTrip(t *testing.T) {
	for _, c := range []struct {
		name  string
		write func(*os.File, []Row) error
	}{
		{"d.parquet", func(f *os.File, rows []Row) error { return WriteVerl(f, rows) }},
		{"d.jsonl", func(f *os.File, rows []Row) error { return WriteTRL(f, rows) }},
	} {
		path := filepath.Join(t.TempDir(), c.name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.write(f, exportRows); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		got, err := Read(path, Fields{})
		if err != nil {
			t.Fatal(err)
		}
		if want := exportedProblems(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: read back\n%+v\nwant\n%+v", c.name, got, want)
		}
	}
}

// The written file's schema is the one described in testdata/verl.schema,
// in parquet-go's notation.
func TestVerlSchemaDescribed(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteVerl(&buf, exportRows); err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/verl.schema")
	if err != nil {
		t.Fatal(err)
	}
	if got := pf.Schema().String(); got != strings.TrimSuffix(string(want), "\n") {
		t.Errorf("schema\n%s\nwant (testdata/verl.schema)\n%s", got, want)
	}
}

// TestVerlSchemaReleased checks VerlSchema against Meta-Ability-Alignment's
// released files, which are not in the shared data: fetch
// github.com/zhiyuanhubj/Meta-Ability-Alignment and run
//
//	AHA_MAA_DATA=path/to/Training/dataset go test ./rollout/data -run VerlSchemaReleased
//
// Every column WriteVerl writes is in every released file, with the same
// type and nesting, but difficulty, which the deduction files lack (their
// level is only in their folder's name).
func TestVerlSchemaReleased(t *testing.T) {
	dir := os.Getenv("AHA_MAA_DATA")
	if dir == "" {
		t.Skip("AHA_MAA_DATA is unset: give it the released Training/dataset folder of Meta-Ability-Alignment")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*", "*", "*.parquet"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no parquet files under %s (%v)", dir, err)
	}
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		pf, err := parquet.OpenFile(f, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		released, ours := parquet.Group{}, parquet.Group{}
		for _, field := range VerlSchema.Fields() {
			i := slices.IndexFunc(pf.Schema().Fields(), func(f parquet.Field) bool { return f.Name() == field.Name() })
			switch {
			case i >= 0:
				released[field.Name()], ours[field.Name()] = pf.Schema().Fields()[i], field
			case field.Name() != "difficulty":
				t.Errorf("%s: no column %s", path, field.Name())
			}
		}
		f.Close()
		if got, want := parquet.NewSchema("schema", released).String(), parquet.NewSchema("schema", ours).String(); got != want {
			t.Errorf("%s: the columns aha writes are\n%s\nwant\n%s", path, got, want)
		}
	}
}

func TestVerlSchemaColumns(t *testing.T) {
	var names []string
	for _, f := range VerlSchema.Fields() {
		names = append(names, f.Name())
	}
	sort.Strings(names)
	if want := []string{"ability", "data_source", "difficulty", "extra_info", "prompt", "reward_model"}; !reflect.DeepEqual(names, want) {
		t.Errorf("columns %q, want %q", names, want)
	}
}
