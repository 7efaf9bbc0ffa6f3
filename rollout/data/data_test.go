package data

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/aha-inference/aha/tokenizer/template"
)

func user(s string) []template.Message { return []template.Message{{"role": "user", "content": s}} }

func write(t testing.TB, name, content string) string {
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadJSONL(t *testing.T) {
	path := write(t, "d.jsonl", `{"prompt": "What is 1+1?", "answer": "2", "level": "Level 3"}

{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}], "solution": "It is $\\boxed{4}$.", "level": 2}
{"messages": [{"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "6"}], "reward_model": {"ground_truth": "6", "style": "rule"}}
{"prompt": "Next term: 1, 2, ?", "answer": 3, "task": "induction"}
`)
	got, err := Read(path, Fields{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Problem{
		{Messages: user("What is 1+1?"), Answer: "2", Task: "math", Level: 3},
		{Messages: []template.Message{{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}}, Answer: `It is $\boxed{4}$.`, Task: "math", Level: 2},
		{Messages: user("3+3?"), Answer: "6", Task: "math"},
		{Messages: user("Next term: 1, 2, ?"), Answer: "3", Task: "induction"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// A named field wins over the defaults.
	got, err = Read(write(t, "e.jsonl", `{"prompt": "q", "answer": "long", "final": {"value": "7"}}`), Fields{Answer: "final.value"})
	if err != nil || got[0].Answer != "7" {
		t.Errorf("--answer-field final.value: %+v, %v", got, err)
	}
}

func TestReadErrors(t *testing.T) {
	for _, c := range []struct{ name, content, field, want string }{
		{"a.jsonl", `{"prompt": "q"}`, "", "row 1: no answer field (tried answer, solution, reward_model.ground_truth.solution_text_format, reward_model.ground_truth)"},
		{"b.jsonl", `{"question": "q", "answer": "1"}`, "", `row 1: no "prompt" or "messages" field`},
		{"c.jsonl", "{\"prompt\": \"q\", \"answer\": \"1\"}\n{broken\n", "", "c.jsonl:2:"},
		{"d.jsonl", `{"prompt": [{"role": "user"}], "answer": "1"}`, "", `lacks a string "role" or "content"`},
		{"e.jsonl", `{"prompt": 5, "answer": "1"}`, "", "not a string or a list of messages"},
		{"f.jsonl", `{"prompt": "q", "answer": "1"}`, "nope", "no answer field (tried nope)"},
		{"g.jsonl", ``, "", "no rows"},
		{"h.csv", `prompt,answer`, "", "unknown data format"},
		{"i.parquet", `not parquet`, "", "i.parquet"},
	} {
		_, err := Read(write(t, c.name, c.content), Fields{Answer: c.field})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// The verl layout: a chat prompt and reward_model.ground_truth.
type verlRow struct {
	DataSource  string        `parquet:"data_source"`
	Prompt      []chatMessage `parquet:"prompt,list"`
	Ability     string        `parquet:"ability"`
	RewardModel struct {
		GroundTruth string `parquet:"ground_truth"`
		Style       string `parquet:"style"`
	} `parquet:"reward_model"`
}

type chatMessage struct {
	Role    string `parquet:"role"`
	Content string `parquet:"content"`
}

// The TRL layout: a plain prompt string and an answer.
type trlRow struct {
	Prompt string `parquet:"prompt"`
	Answer string `parquet:"answer"`
	Level  int64  `parquet:"level"`
}

func TestReadParquet(t *testing.T) {
	dir := t.TempDir()
	verl := filepath.Join(dir, "verl.parquet")
	row := verlRow{DataSource: "gsm8k", Prompt: []chatMessage{{"system", "Think."}, {"user", "1+1?"}}, Ability: "math"}
	row.RewardModel.GroundTruth, row.RewardModel.Style = "2", "rule"
	if err := parquet.WriteFile(verl, []verlRow{row, row}); err != nil {
		t.Fatal(err)
	}
	got, err := Read(verl, Fields{})
	if err != nil {
		t.Fatal(err)
	}
	want := Problem{Messages: []template.Message{{"role": "system", "content": "Think."}, {"role": "user", "content": "1+1?"}}, Answer: "2", Task: "math"}
	if len(got) != 2 || !reflect.DeepEqual(got[1], want) {
		t.Errorf("verl layout: got %+v, want 2 × %+v", got, want)
	}

	trl := filepath.Join(dir, "trl.parquet")
	if err := parquet.WriteFile(trl, []trlRow{{"What is 6×7?", "42", 4}}); err != nil {
		t.Fatal(err)
	}
	got, err = Read(trl, Fields{})
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], Problem{Messages: user("What is 6×7?"), Answer: "42", Task: "math", Level: 4}) {
		t.Errorf("TRL layout: got %+v, %v", got, err)
	}
}

func FuzzReadJSONL(f *testing.F) {
	f.Add(`{"prompt": "q", "answer": "1"}`)
	f.Add(`{"messages": [{"role": "user", "content": "q"}], "reward_model": {"ground_truth": 3}}`)
	f.Add(`{"prompt": [{"role": "assistant", "content": "x"}], "solution": null}`)
	f.Fuzz(func(t *testing.T, content string) {
		problems, err := Read(write(t, "f.jsonl", content), Fields{})
		if err != nil {
			return
		}
		for _, p := range problems {
			if len(p.Messages) == 0 || p.Task == "" {
				t.Fatalf("accepted a problem without a prompt or task: %+v", p)
			}
		}
	})
}

func TestTaskName(t *testing.T) {
	cases := []struct{ name, answer, want string }{
		{"deduction", "", "deduction"},
		{"Abduction", "", "abduction"},
		{"sequence", "", "induction"},
		{"logic_assignment", "(1) A is True\n(2) B is False\n", "deduction"},
		{"logic_assignment", "-12", "induction"},
		{"logic_assignment", "(1) M is unreachable\n(2) BA is reachable", "abduction"},
		{"logic", "7", "induction"},
		{"logic_assignment", "seven", "logic_assignment"}, // refused later, not scored as math
		{"openai/gsm8k", "7", ""},
		{"math", "7", ""},
	}
	for _, c := range cases {
		if got := TaskName(c.name, c.answer); got != c.want {
			t.Errorf("TaskName(%q, %q) = %q, want %q", c.name, c.answer, got, c.want)
		}
	}
}

// A row in the layout of Meta-Ability-Alignment's released files: the
// answer inside reward_model.ground_truth, the task from data_source and
// the answer, the level from difficulty.
func TestReadReleasedLayout(t *testing.T) {
	row := `{"data_source": "logic_assignment", "ability": "logic", "difficulty": 2, ` +
		`"prompt": [{"role": "user", "content": "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>"}], ` +
		`"reward_model": {"style": "rule", "ground_truth": {"solution_text_format": "9", "statements": []}}}`
	got, err := Read(write(t, "r.jsonl", row), Fields{})
	if err != nil {
		t.Fatal(err)
	}
	want := Problem{Messages: user("<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n<think>"), Answer: "9", Task: "induction", Level: 2}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("got %+v, want %+v", got[0], want)
	}
	got, err = Read(write(t, "r.jsonl", `{"prompt": "q", "answer": "1", "kind": "abduction"}`), Fields{Task: "kind"})
	if err != nil || got[0].Task != "abduction" {
		t.Errorf("--task-field kind: got %+v, %v", got, err)
	}
	if _, err := Read(write(t, "r.jsonl", `{"prompt": "q", "answer": "1"}`), Fields{Task: "kind"}); err == nil {
		t.Error("a missing task field was accepted")
	}
}

// TestReadReleasedFiles reads Meta-Ability-Alignment's released parquet
// files, which are not in the shared data: fetch the repository
// (github.com/zhiyuanhubj/Meta-Ability-Alignment) and run
//
//	AHA_MAA_DATA=path/to/Training/dataset go test ./rollout/data -run ReleasedFiles
//
// Every row must have a prompt, an answer and a logic task, and every
// level-named folder's rows (Induction and Abduction have a difficulty
// column) that level.
func TestReadReleasedFiles(t *testing.T) {
	dir := os.Getenv("AHA_MAA_DATA")
	if dir == "" {
		t.Skip("AHA_MAA_DATA is unset: give it the released Training/dataset folder of Meta-Ability-Alignment")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*", "*", "*.parquet"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no parquet files under %s (%v)", dir, err)
	}
	for _, path := range files {
		problems, err := Read(path, Fields{})
		if err != nil {
			t.Fatal(err)
		}
		task := strings.ToLower(filepath.Base(filepath.Dir(filepath.Dir(path))))
		level, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		for i, p := range problems {
			if p.Task != task || (p.Level != 0 && p.Level != level) || p.Answer == "" {
				t.Fatalf("%s row %d: task %q level %d answer %q, want %s level %d", path, i+1, p.Task, p.Level, p.Answer, task, level)
			}
		}
	}
}
