// Package data reads prompt data sets for rollouts: JSON Lines or Parquet
// files whose rows hold a prompt and a reference answer, in the layouts TRL
// and verl use.
//
// The prompt is the row's "prompt", either a string (one user turn) or a
// list of {"role", "content"} messages, or else its "messages" list (a
// trailing assistant turn, the reference reply of a chat data set, is
// dropped). The answer is the named field (a dotted path such as
// "reward_model.ground_truth"), or by default the first present of
// "answer", "solution", "reward_model.ground_truth.solution_text_format"
// (where Meta-Ability-Alignment's released files keep it) and
// "reward_model.ground_truth". The task, which names the verifier, is the
// named field or by default "task", else inferred from verl's
// "data_source" and "ability" (see TaskName), else "math". "level", else
// "difficulty", may be a number or a string ending in one ("Level 3", as in
// the MATH data set).
//
// WriteVerl and WriteTRL write generated problems back out in the two
// layouts, verl's parquet as Meta-Ability-Alignment's released files have
// it and TRL's conversational JSON Lines, which Read reads again.
package data

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/aha-inference/aha/rollout/verify"
	"github.com/aha-inference/aha/tokenizer/template"
)

// Problem is one row of a data set.
type Problem struct {
	Messages []template.Message // the conversation to render, ending with a user turn
	Answer   string
	Task     string // "math" unless the row says otherwise
	Level    int    // 0 when the row has none
}

// DefaultAnswerFields are tried in order when no answer field is named.
var DefaultAnswerFields = []string{"answer", "solution", "reward_model.ground_truth.solution_text_format", "reward_model.ground_truth"}

// Fields names where a row keeps what is not found by default: dotted
// paths, "" for the defaults.
type Fields struct {
	Answer string // "" tries DefaultAnswerFields
	Task   string // "" tries "task", then infers it from "data_source" and "ability"
}

// Read reads every row of a .jsonl (or .json, one object a line) or
// .parquet file.
func Read(path string, fields Fields) ([]Problem, error) {
	t, err := ReadTable(path)
	if err != nil {
		return nil, err
	}
	rows := t.Rows
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no rows", path)
	}
	problems := make([]Problem, len(rows))
	for i, row := range rows {
		if problems[i], err = problem(row, fields); err != nil {
			return nil, fmt.Errorf("%s: row %d: %w", path, i+1, err)
		}
	}
	return problems, nil
}

func readJSONL(path string) ([]map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []map[string]any
	r := bufio.NewReader(f)
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber() // keep integer answers exactly as written
			var row map[string]any
			if err := dec.Decode(&row); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, line, err)
			}
			rows = append(rows, row)
		}
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
}

func problem(row map[string]any, fields Fields) (Problem, error) {
	var p Problem
	var err error
	switch {
	case row["prompt"] != nil:
		p.Messages, err = messages(row["prompt"])
	case row["messages"] != nil:
		p.Messages, err = messages(row["messages"])
	default:
		return p, errors.New(`no "prompt" or "messages" field`)
	}
	if err != nil {
		return p, err
	}
	if n := len(p.Messages); n > 0 && p.Messages[n-1]["role"] == "assistant" {
		p.Messages = p.Messages[:n-1]
	}
	if len(p.Messages) == 0 {
		return p, errors.New("the prompt is empty")
	}
	answers := DefaultAnswerFields
	if fields.Answer != "" {
		answers = []string{fields.Answer}
	}
	found := false
	for _, f := range answers {
		if v, ok := lookup(row, f); ok && v != nil {
			p.Answer, found = text(v), true
			break
		}
	}
	if !found {
		return p, fmt.Errorf("no answer field (tried %s)", strings.Join(answers, ", "))
	}
	if p.Task, err = task(row, fields.Task, p.Answer); err != nil {
		return p, err
	}
	if p.Level = level(row["level"]); p.Level == 0 {
		p.Level = level(row["difficulty"])
	}
	return p, nil
}

// task reads the row's task from the named field, or by default from
// "task", else infers it from verl's "data_source" and "ability".
func task(row map[string]any, field, answer string) (string, error) {
	if field != "" {
		v, _ := lookup(row, field)
		s, ok := v.(string)
		if !ok || s == "" {
			return "", fmt.Errorf("no task in field %q", field)
		}
		return cmp.Or(TaskName(s, answer), s), nil
	}
	if t, ok := row["task"].(string); ok && t != "" {
		return t, nil
	}
	for _, f := range []string{"data_source", "ability"} {
		if s, ok := row[f].(string); ok {
			if t := TaskName(s, answer); t != "" {
				return t, nil
			}
		}
	}
	return "math", nil
}

// TaskName maps a data set's name for a task to aha's: the logic tasks by
// their names, "sequence" (the reference's ability of induction rows) to
// induction, and anything naming logic ("logic_assignment", the
// data_source of every Meta-Ability-Alignment row, or the ability "logic")
// to the task its answer is the truth of, as the reference's reward code
// tells them apart (verify.LogicTask), or to itself when the answer is
// none, so that the row is refused rather than scored as math. It returns
// "" for other names.
func TaskName(name, answer string) string {
	name = strings.ToLower(name)
	if t, ok := verify.For(name); ok && t.Logic {
		return name
	}
	switch {
	case name == "sequence":
		return "induction"
	case strings.Contains(name, "logic"):
		return cmp.Or(verify.LogicTask(answer), name)
	}
	return ""
}

// messages reads a prompt: a string, or a list of role/content objects.
func messages(v any) ([]template.Message, error) {
	switch v := v.(type) {
	case string:
		return []template.Message{{"role": "user", "content": v}}, nil
	case []any:
		msgs := make([]template.Message, len(v))
		for i, m := range v {
			obj, ok := m.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("message %d is a %T, not an object", i+1, m)
			}
			role, ok1 := obj["role"].(string)
			content, ok2 := obj["content"].(string)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf(`message %d lacks a string "role" or "content"`, i+1)
			}
			msgs[i] = template.Message{"role": role, "content": content}
		}
		return msgs, nil
	}
	return nil, fmt.Errorf("the prompt is a %T, not a string or a list of messages", v)
}

// lookup follows a dotted path through nested objects.
func lookup(row map[string]any, path string) (any, bool) {
	var v any = row
	for _, key := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[key]; !ok {
			return nil, false
		}
	}
	return v, true
}

// text renders an answer value: strings as they are, anything else
// (numbers, lists) as JSON.
func text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

var trailingIntRE = regexp.MustCompile(`(\d+)\s*$`)

func level(v any) int {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case json.Number:
		s = v.String()
	case float64, float32, int, int32, int64, uint32, uint64:
		s = fmt.Sprint(v)
	default:
		return 0
	}
	m := trailingIntRE.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
