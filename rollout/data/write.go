package data

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// Row is one problem of an exported data set, with the split it belongs
// to and its position there.
type Row struct {
	Problem
	Split string // "train" or "test"
	Index int
}

// Verl's RL trainer reads a data set whose rows name the reward function
// (data_source), hold the prompt as chat messages, and keep the reference
// answer for it under reward_model. Meta-Ability-Alignment's reward code is
// chosen by the data source "logic_assignment" and reads the answer from
// ground_truth.solution_text_format; "statements", a list its files leave
// empty and its code never reads, is kept so the files match.
const (
	verlDataSource = "logic_assignment"
	verlAbility    = "logic"
	verlStyle      = "rule"
)

// VerlSchema is the parquet schema WriteVerl writes: the columns of
// Meta-Ability-Alignment's released files, with their types and nesting as
// pyarrow wrote them, except the files' own problem_id, puzzle_text,
// solution_text and complete_sequence. testdata/verl.schema describes it.
var VerlSchema = parquet.NewSchema("schema", parquet.Group{
	"data_source": parquet.Optional(parquet.String()),
	"difficulty":  parquet.Optional(parquet.Int(64)),
	"ability":     parquet.Optional(parquet.String()),
	"prompt": parquet.Optional(parquet.List(parquet.Optional(parquet.Group{
		"content": parquet.Optional(parquet.String()),
		"role":    parquet.Optional(parquet.String()),
	}))),
	"reward_model": parquet.Optional(parquet.Group{
		"ground_truth": parquet.Optional(parquet.Group{
			"solution_text_format": parquet.Optional(parquet.String()),
			"statements":           parquet.Optional(parquet.List(parquet.Optional(parquet.Leaf(parquet.NullType)))),
		}),
		"style": parquet.Optional(parquet.String()),
	}),
	"extra_info": parquet.Optional(parquet.Group{
		"index": parquet.Optional(parquet.Int(64)),
		"split": parquet.Optional(parquet.String()),
	}),
})

// verlRecord is a row of VerlSchema.
type verlRecord struct {
	DataSource  string        `parquet:"data_source"`
	Difficulty  int64         `parquet:"difficulty"`
	Ability     string        `parquet:"ability"`
	Prompt      []verlMessage `parquet:"prompt"`
	RewardModel verlReward    `parquet:"reward_model"`
	ExtraInfo   verlExtra     `parquet:"extra_info"`
}

type verlMessage struct {
	Content string `parquet:"content"`
	Role    string `parquet:"role"`
}

type verlReward struct {
	GroundTruth verlTruth `parquet:"ground_truth"`
	Style       string    `parquet:"style"`
}

type verlTruth struct {
	SolutionTextFormat string `parquet:"solution_text_format"`
	Statements         []any  `parquet:"statements"`
}

type verlExtra struct {
	Index *int64 `parquet:"index"`
	Split string `parquet:"split"`
}

func newVerlRecord(r Row) verlRecord {
	prompt := make([]verlMessage, len(r.Messages))
	for i, m := range r.Messages {
		prompt[i].Role, _ = m["role"].(string)
		prompt[i].Content, _ = m["content"].(string)
	}
	index := int64(r.Index)
	return verlRecord{
		DataSource: verlDataSource, Difficulty: int64(r.Level), Ability: verlAbility, Prompt: prompt,
		RewardModel: verlReward{GroundTruth: verlTruth{SolutionTextFormat: r.Answer, Statements: []any{}}, Style: verlStyle},
		ExtraInfo:   verlExtra{Index: &index, Split: r.Split},
	}
}

// WriteVerl writes rows as a verl parquet file of VerlSchema, which
// Read reads back: the task from the answer, as the data source
// logic_assignment asks, and the level from difficulty.
func WriteVerl(w io.Writer, rows []Row) error {
	pw := parquet.NewGenericWriter[verlRecord](w, VerlSchema)
	for i, r := range rows {
		if _, err := pw.Write([]verlRecord{newVerlRecord(r)}); err != nil {
			return fmt.Errorf("row %d: %w", i+1, err)
		}
	}
	return pw.Close()
}

// trlLine is a row of a TRL data set: the prompt as conversational
// messages and the answer, with the task, level, split and index as extra
// columns, which TRL hands to reward functions by name.
type trlLine struct {
	Prompt []map[string]string `json:"prompt"`
	Answer string              `json:"answer"`
	Task   string              `json:"task"`
	Level  int                 `json:"level"`
	Split  string              `json:"split"`
	Index  int                 `json:"index"`
}

// WriteTRL writes rows as TRL JSON Lines, which Read reads back.
func WriteTRL(w io.Writer, rows []Row) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i, r := range rows {
		prompt := make([]map[string]string, len(r.Messages))
		for j, m := range r.Messages {
			role, _ := m["role"].(string)
			content, _ := m["content"].(string)
			prompt[j] = map[string]string{"role": role, "content": content}
		}
		if err := enc.Encode(trlLine{prompt, r.Answer, r.Task, r.Level, r.Split, r.Index}); err != nil {
			return fmt.Errorf("row %d: %w", i+1, err)
		}
	}
	return nil
}
