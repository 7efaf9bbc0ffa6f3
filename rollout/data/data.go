// Package data reads prompt data sets for rollouts: JSON Lines or Parquet
// files whose rows hold a prompt and a reference answer, in the layouts TRL
// and verl use.
//
// The prompt is the row's "prompt", either a string (one user turn) or a
// list of {"role", "content"} messages, or else its "messages" list (a
// trailing assistant turn, the reference reply of a chat data set, is
// dropped). The answer is the named field (a dotted path such as
// "reward_model.ground_truth"), or by default the first present of
// "answer", "solution" and "reward_model.ground_truth". "task" names the
// verifier when it holds one (default "math"); "level" may be a number or a
// string ending in one ("Level 3", as in the MATH data set).
package data

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"

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
var DefaultAnswerFields = []string{"answer", "solution", "reward_model.ground_truth"}

// Read reads every row of a .jsonl (or .json, one object a line) or
// .parquet file. answerField names the answer's field; "" tries
// DefaultAnswerFields.
func Read(path, answerField string) ([]Problem, error) {
	var rows []map[string]any
	var err error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".parquet":
		rows, err = readParquet(path)
	case ".jsonl", ".json", ".ndjson":
		rows, err = readJSONL(path)
	default:
		return nil, fmt.Errorf("%s: unknown data format (want .jsonl or .parquet)", path)
	}
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: no rows", path)
	}
	problems := make([]Problem, len(rows))
	for i, row := range rows {
		if problems[i], err = problem(row, answerField); err != nil {
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

// readParquet reads rows of any schema into maps, reconstructing nested
// groups (a list of messages, reward_model) as maps and lists.
func readParquet(path string) (rows []map[string]any, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	// The library panics on some malformed files; a bad file is an error.
	defer func() {
		if p := recover(); p != nil {
			rows, err = nil, fmt.Errorf("%s: malformed parquet file: %v", path, p)
		}
	}()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r := parquet.NewReader(pf, pf.Schema())
	defer r.Close()
	for {
		row := map[string]any{}
		if err := r.Read(&row); errors.Is(err, io.EOF) {
			return rows, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: row %d: %w", path, len(rows)+1, err)
		}
		rows = append(rows, row)
	}
}

func problem(row map[string]any, answerField string) (Problem, error) {
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
	fields := DefaultAnswerFields
	if answerField != "" {
		fields = []string{answerField}
	}
	found := false
	for _, f := range fields {
		if v, ok := lookup(row, f); ok && v != nil {
			p.Answer, found = text(v), true
			break
		}
	}
	if !found {
		return p, fmt.Errorf("no answer field (tried %s)", strings.Join(fields, ", "))
	}
	p.Task = "math"
	if t, ok := row["task"].(string); ok && t != "" {
		p.Task = t
	}
	p.Level = level(row["level"])
	return p, nil
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
