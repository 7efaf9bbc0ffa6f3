package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/aha-inference/aha/rollout"
	"github.com/aha-inference/aha/rollout/data"
)

// verlProblem is a row in verl's layout.
type verlProblem struct {
	DataSource string `parquet:"data_source"`
	Prompt     []struct {
		Role    string `parquet:"role"`
		Content string `parquet:"content"`
	} `parquet:"prompt,list"`
	Ability     string `parquet:"ability"`
	RewardModel struct {
		Style       string `parquet:"style"`
		GroundTruth string `parquet:"ground_truth"`
	} `parquet:"reward_model"`
	ExtraInfo struct {
		Split string `parquet:"split"`
		Index int64  `parquet:"index"`
	} `parquet:"extra_info"`
}

// writeVerl writes n math problems in verl's layout.
func writeVerl(t *testing.T, path string, n int) {
	t.Helper()
	rows := make([]verlProblem, n)
	for i := range rows {
		r := &rows[i]
		r.DataSource, r.Ability = "test/arith", "math"
		r.Prompt = append(r.Prompt, struct {
			Role    string `parquet:"role"`
			Content string `parquet:"content"`
		}{"user", fmt.Sprintf("What is %d+%d?", i, i)})
		r.RewardModel.Style, r.RewardModel.GroundTruth = "rule", fmt.Sprint(2*i)
		r.ExtraInfo.Split, r.ExtraInfo.Index = "train", int64(i)
	}
	if err := parquet.WriteFile(path, rows); err != nil {
		t.Fatal(err)
	}
}

// judgeCmd is a reward command that marks sample s of prompt p correct
// when verdicts[p][s] is 'c', so a rollout of any model has the pass
// rates the test chooses.
func judgeCmd(verdicts []string) string {
	var correct []string
	for p, vs := range verdicts {
		for s, v := range vs {
			if v == 'c' {
				correct = append(correct, fmt.Sprintf("%d.%d", p, s))
			}
		}
	}
	return `while read -r line; do
  id=${line#'{"id":'}; id=${id%%,*}
  p=${line#*'"prompt_id":'}; p=${p%%,*}
  s=${line#*'"sample_index":'}; s=${s%%,*}
  v=wrong; case " ` + strings.Join(correct, " ") + ` " in *" $p.$s "*) v=correct;; esac
  echo "{\"id\": $id, \"reward\": 1, \"verdict\": \"$v\"}"
done`
}

// TestDifficulty: rollouts of a verl parquet file whose pass rates a
// reward command sets, staged with a filter model; every problem lands in
// the levels the paper's rules give, with its original columns as they
// were.
func TestDifficulty(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "problems.parquet")
	// Prompts: 0 small partly → L1; 1 small never, mid partly → L2; 2
	// small never, mid always → L2; 3 all but the largest partly → L1, L2,
	// L3; 4 the ladder never, the filter once → L3; 5 nobody → dropped; 6
	// everyone always → L3 only by the draw.
	verdicts := map[string][]string{
		"small":  {"ccww", "wwww", "wwww", "cwww", "wwww", "wwww", "cccc"},
		"mid":    {"cccc", "ccww", "cccc", "cccw", "wwww", "wwww", "cccc"},
		"large":  {"cccc", "cccc", "cccc", "wwww", "wwww", "wwww", "cccc"},
		"filter": {"cccc", "cccc", "cccc", "cccc", "wwww", "wwww", "cccc"},
	}
	verdicts["filter"][4] = "cwww"
	writeVerl(t, src, 7)
	files := map[string]string{}
	for name, vs := range verdicts {
		files[name] = filepath.Join(dir, name+".jsonl")
		mustRollout(t, "rollout", "-o", files[name], "--data", src, "-n", "4", "--max-tokens", "2", "-t", "2", "--reward-cmd", judgeCmd(vs))
	}
	out := filepath.Join(dir, "levels")
	stdout, stderr, code := aha(t, "difficulty", "--model", "small="+files["small"], "--model", "mid="+files["mid"],
		"--model", "large="+files["large"], "--filter", "filter="+files["filter"], "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	drawn := func(id int) bool { return rollout.L3Draw(1, id) < 0.5 }
	want := map[int][]string{0: {"L1"}, 1: {"L2"}, 2: {"L2"}, 3: {"L1", "L2", "L3"}, 4: {"L3"}, 6: nil}
	for _, id := range []int{0, 1, 2, 6} {
		if drawn(id) {
			want[id] = append(want[id], "L3")
		}
	}
	wantRates := map[int]map[string]any{
		0: {"small": 0.5, "mid": 1.0, "large": 1.0, "filter": 1.0},
		3: {"small": 0.25, "mid": 0.75, "large": 0.0, "filter": 1.0},
		4: {"small": 0.0, "mid": 0.0, "large": 0.0, "filter": 0.25},
	}
	in, err := data.ReadTable(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, level := range []string{"L1", "L2", "L3"} {
		var ids []int
		for id, ls := range want {
			if slices.Contains(ls, level) {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for _, ext := range []string{".jsonl", ".parquet"} {
			tab, err := data.ReadTable(filepath.Join(out, level+ext))
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, row := range tab.Rows {
				id := int(jsonNumber(t, row["extra_info"].(map[string]any)["index"]))
				got = append(got, id)
				if fmt.Sprint(row["difficulty_level"]) != fmt.Sprint(want[id]) {
					t.Errorf("%s%s prompt %d: levels %v, want %v", level, ext, id, row["difficulty_level"], want[id])
				}
				rates := row["pass_rates"].(map[string]any)
				if w, ok := wantRates[id]; ok {
					for m, r := range w {
						if jsonNumber(t, rates[m]) != r.(float64) {
							t.Errorf("%s%s prompt %d: pass rates %v, want %v", level, ext, id, rates, w)
						}
					}
				}
				orig := maps.Clone(row)
				delete(orig, "difficulty_level")
				delete(orig, "pass_rates")
				if !sameJSON(t, orig, in.Rows[id]) {
					t.Errorf("%s%s prompt %d: the original columns changed:\n got %v\nwant %v", level, ext, id, orig, in.Rows[id])
				}
			}
			if !reflect.DeepEqual(got, ids) {
				t.Errorf("%s%s holds prompts %v, want %v", level, ext, got, ids)
			}
			// The output is data aha rollout (and verl) reads: the
			// problems are the input's.
			before, _ := data.Read(src, data.Fields{})
			after, err := data.Read(filepath.Join(out, level+ext), data.Fields{})
			for i, id := range ids {
				if err != nil || !reflect.DeepEqual(after[i], before[id]) {
					t.Errorf("%s%s as data: %v %+v", level, ext, err, after)
					break
				}
			}
		}
	}
	l3 := 2 + len(slices.DeleteFunc([]int{0, 1, 2, 6}, func(id int) bool { return !drawn(id) }))
	if !strings.Contains(stdout, fmt.Sprintf("L3       %8d", l3)) || !strings.Contains(stdout, "dropped         1") ||
		!strings.Contains(stdout, "L1              2    0.375    0.875    0.500    1.000") {
		t.Errorf("summary table:\n%s", stdout)
	}
	for _, name := range []string{"summary.json", "levels.jsonl", "passrate-filter.jsonl"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Error(err)
		}
	}
	if img, err := os.ReadFile(filepath.Join(out, "difficulty.png")); err != nil || !strings.HasPrefix(string(img), "\x89PNG") {
		t.Errorf("plot: %v", err)
	}

	// One model of a generated task: the files are its shards, and the
	// rows are the problems' own fields.
	small := filepath.Join(dir, "task.jsonl")
	writeRecords(t, small, "cw", "ww", "cc")
	if stdout, stderr, code := aha(t, "difficulty", small, "-o", filepath.Join(dir, "one")); code != 0 || !strings.Contains(stdout, "L1              1") {
		t.Errorf("one model: exit %d %s%s", code, stdout, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "one", "L3.jsonl")); err != nil || !strings.Contains(string(b), `"prompt_id":1`) {
		t.Errorf("one model's L3: %v %s", err, b)
	}
	if _, stderr, code := aha(t, "difficulty", small, "-o", dir, "--l3-share", "2"); code == 0 || !strings.Contains(stderr, "--l3-share 2 must be in [0, 1]") {
		t.Errorf("bad --l3-share: exit %d, %s", code, stderr)
	}
}

// jsonNumber reads a number from a JSON or Parquet row.
func jsonNumber(t *testing.T, v any) float64 {
	t.Helper()
	switch v := v.(type) {
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			t.Fatal(err)
		}
		return f
	case float64:
		return v
	case int64:
		return float64(v)
	case int32:
		return float64(v)
	}
	t.Fatalf("%v (%T) is not a number", v, v)
	return 0
}

// sameJSON reports whether two rows are the same JSON.
func sameJSON(t *testing.T, a, b map[string]any) bool {
	t.Helper()
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return string(ja) == string(jb)
}
