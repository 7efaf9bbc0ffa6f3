package rollout

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/aha-inference/aha/rollout/verify"
)

// Record is one verified sample: one line of a rollout file. Besides the
// issue's fields it names the task, level and reference answer of its
// problem, which aha report, difficulty and pairs group and train on.
type Record struct {
	PromptID           int            `json:"prompt_id"`
	SampleIndex        int            `json:"sample_index"`
	Seed               uint64         `json:"seed"`
	Task               string         `json:"task"`
	Level              int            `json:"level"`
	Prompt             string         `json:"prompt"`
	Answer             string         `json:"answer"`
	Completion         string         `json:"completion"`
	PromptTokenIDs     []int          `json:"prompt_token_ids"`
	CompletionTokenIDs []int          `json:"completion_token_ids"`
	Logprobs           []float64      `json:"logprobs"`
	FinishReason       string         `json:"finish_reason"`
	ExtractedAnswer    string         `json:"extracted_answer"`
	Extraction         string         `json:"extraction,omitempty"` // where a math answer was found: verify.Tier
	Verdict            verify.Verdict `json:"verdict"`
	Reward             float64        `json:"reward"`
	RewardFormat       float64        `json:"reward_format"`
	RewardAnswer       float64        `json:"reward_answer"`
	RewardError        string         `json:"reward_error,omitempty"` // what went wrong with --reward-cmd
	Elapsed            float64        `json:"elapsed"`                // seconds from submitting the request to its end
}

// Key identifies a record within a run.
type Key struct{ PromptID, SampleIndex int }

func (r *Record) Key() Key { return Key{r.PromptID, r.SampleIndex} }

// NegInfLogprob stands for a logprob of −∞ (a token the processed
// distribution excludes), which JSON cannot hold.
const NegInfLogprob = -9999

// JSONLogprobs converts the engine's logprobs for a record.
func JSONLogprobs(lp []float32) []float64 {
	out := make([]float64, len(lp))
	for i, x := range lp {
		out[i] = float64(x)
		if math.IsInf(out[i], -1) {
			out[i] = NegInfLogprob
		}
	}
	return out
}

// ReadRecords reads the records of one or more rollout files (the shards
// of a run, say). A half-written last line, left by a run that was killed,
// is skipped; any other bad line is an error.
func ReadRecords(paths ...string) ([]Record, error) {
	var all []Record
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		recs, _, err := readRecords(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		all = append(all, recs...)
	}
	return all, nil
}

// readRecords parses a rollout file and returns its records and the
// length of its sound part: everything up to the end of the last complete
// line that parses. Only the last line may be bad.
func readRecords(r io.Reader) ([]Record, int64, error) {
	br := bufio.NewReader(r)
	var recs []Record
	var good int64
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return recs, good, nil // b, if any, is a half-written line
		}
		if err != nil {
			return nil, 0, err
		}
		var rec Record
		if jerr := json.Unmarshal(b, &rec); jerr != nil {
			if _, perr := br.Peek(1); errors.Is(perr, io.EOF) {
				return recs, good, nil // a damaged last line: dropped like a half one
			}
			return nil, 0, fmt.Errorf("line %d: %w", line, jerr)
		}
		recs = append(recs, rec)
		good += int64(len(b))
	}
}

// encodeRecord renders a record as one line.
func encodeRecord(rec *Record) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "<think>" readable
	if err := enc.Encode(rec); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
