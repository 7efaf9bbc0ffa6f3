package data

import (
	"os"
	"path/filepath"
	"reflect"
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
	got, err := Read(path, "")
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
	got, err = Read(write(t, "e.jsonl", `{"prompt": "q", "answer": "long", "final": {"value": "7"}}`), "final.value")
	if err != nil || got[0].Answer != "7" {
		t.Errorf("--answer-field final.value: %+v, %v", got, err)
	}
}

func TestReadErrors(t *testing.T) {
	for _, c := range []struct{ name, content, field, want string }{
		{"a.jsonl", `{"prompt": "q"}`, "", "row 1: no answer field (tried answer, solution, reward_model.ground_truth)"},
		{"b.jsonl", `{"question": "q", "answer": "1"}`, "", `row 1: no "prompt" or "messages" field`},
		{"c.jsonl", "{\"prompt\": \"q\", \"answer\": \"1\"}\n{broken\n", "", "c.jsonl:2:"},
		{"d.jsonl", `{"prompt": [{"role": "user"}], "answer": "1"}`, "", `lacks a string "role" or "content"`},
		{"e.jsonl", `{"prompt": 5, "answer": "1"}`, "", "not a string or a list of messages"},
		{"f.jsonl", `{"prompt": "q", "answer": "1"}`, "nope", "no answer field (tried nope)"},
		{"g.jsonl", ``, "", "no rows"},
		{"h.csv", `prompt,answer`, "", "unknown data format"},
		{"i.parquet", `not parquet`, "", "i.parquet"},
	} {
		_, err := Read(write(t, c.name, c.content), c.field)
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
	got, err := Read(verl, "")
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
	got, err = Read(trl, "")
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], Problem{Messages: user("What is 6×7?"), Answer: "42", Task: "math", Level: 4}) {
		t.Errorf("TRL layout: got %+v, %v", got, err)
	}
}

func FuzzReadJSONL(f *testing.F) {
	f.Add(`{"prompt": "q", "answer": "1"}`)
	f.Add(`{"messages": [{"role": "user", "content": "q"}], "reward_model": {"ground_truth": 3}}`)
	f.Add(`{"prompt": [{"role": "assistant", "content": "x"}], "solution": null}`)
	f.Fuzz(func(t *testing.T, content string) {
		problems, err := Read(write(t, "f.jsonl", content), "")
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
