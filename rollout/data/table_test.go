package data

import (
	"maps"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// verlFull is verl's whole layout, extra_info included, with an optional
// column besides.
type verlFull struct {
	verlRow
	ExtraInfo struct {
		Split string `parquet:"split"`
		Index int64  `parquet:"index"`
	} `parquet:"extra_info"`
	Note *string `parquet:"note,optional"`
}

// TestTableParquet: rows written back with columns added keep every input
// column as it was, and the added ones read back.
func TestTableParquet(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.parquet")
	note := "from the test"
	rows := make([]verlFull, 3)
	for i := range rows {
		r := &rows[i]
		r.DataSource, r.Ability = "gsm8k", "math"
		r.Prompt = []chatMessage{{"user", "What is 1+" + string(rune('0'+i)) + "?"}}
		r.RewardModel.GroundTruth, r.RewardModel.Style = string(rune('1'+i)), "rule"
		r.ExtraInfo.Split, r.ExtraInfo.Index = "train", int64(i)
		if i == 1 {
			r.Note = &note
		}
	}
	if err := parquet.WriteFile(in, rows); err != nil {
		t.Fatal(err)
	}
	tab, err := ReadTable(in)
	if err != nil || !tab.Parquet() || len(tab.Rows) != 3 {
		t.Fatalf("%v, %+v", err, tab)
	}
	var out []map[string]any
	for i, row := range tab.Rows {
		row = maps.Clone(row)
		row["difficulty_level"] = []any{"L1", "L3"}[:1+i%2]
		row["pass_rates"] = map[string]any{"small": 0.25 * float64(i), "large": 1.0}
		out = append(out, row)
	}
	added := parquet.Group{
		"difficulty_level": parquet.List(parquet.String()),
		"pass_rates":       parquet.Group{"small": parquet.Leaf(parquet.DoubleType), "large": parquet.Leaf(parquet.DoubleType)},
	}
	path := filepath.Join(dir, "out.parquet")
	if err := tab.WriteParquet(path, out, added); err != nil {
		t.Fatal(err)
	}
	back, err := ReadTable(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, f := range back.schema.Fields() {
		names = append(names, f.Name())
		if i < len(tab.schema.Fields()) && !parquet.EqualNodes(f, tab.schema.Fields()[i]) {
			t.Errorf("column %s changed: %v, was %v", f.Name(), f, tab.schema.Fields()[i])
		}
	}
	if want := []string{"data_source", "prompt", "ability", "reward_model", "extra_info", "note", "difficulty_level", "pass_rates"}; !reflect.DeepEqual(names, want) {
		t.Errorf("columns %v, want %v", names, want)
	}
	for i := range out {
		if !reflect.DeepEqual(back.Rows[i], out[i]) {
			t.Errorf("row %d:\n got %#v\nwant %#v", i, back.Rows[i], out[i])
		}
	}
	// The problems read from it are those of the input.
	before, _ := Read(in, Fields{})
	after, err := Read(path, Fields{})
	if err != nil || !reflect.DeepEqual(before, after) {
		t.Errorf("problems changed: %v\n%+v\n%+v", err, before, after)
	}
	if err := back.WriteParquet(filepath.Join(dir, "again.parquet"), back.Rows, added); err == nil {
		t.Error("a second difficulty_level column was accepted")
	}
}
