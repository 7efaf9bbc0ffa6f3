package rollout

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/aha-inference/aha/rollout/verify"
)

// Field names accepted for the completion and the reference, in order of
// preference: the layouts of vLLM outputs, trainers' logs and data sets.
var (
	completionFields = []string{"completion", "response", "output"}
	referenceFields  = []string{"answer", "ground_truth", "solution", "reward_model.ground_truth"}
)

// LineOptions configure ScoreLines.
type LineOptions struct {
	Rewards verify.Rewards
	Scorer  Scorer // a reward program over the verifier (nil: none)
	Workers int    // lines scored at once (at least 1)
	// Done, if set, is called after each line is scored.
	Done func()
}

// LineStats count what ScoreLines scored.
type LineStats struct {
	Lines, Correct, Errors int
	Reward                 float64 // summed over the lines without errors
}

// batchLines bounds the lines held at once: scored in parallel, written in
// input order.
const batchLines = 1024

// ScoreLines scores completions from any source offline, one JSON object
// a line, as Run scores its samples: each output line is the input line's
// members with extracted_answer, extraction, verdict, reward,
// reward_format and reward_answer added (and reward_error when the reward
// program failed), or with "error" when the line cannot be scored. The
// completion is read from completion, response or output; the reference
// from answer, ground_truth, solution or reward_model.ground_truth; the
// task from task (math when absent), and prompt, which the maa scheme
// reads. Output keeps the input's order; blank lines are skipped.
func ScoreLines(ctx context.Context, in io.Reader, w io.Writer, opt LineOptions) (LineStats, error) {
	var st LineStats
	var mu sync.Mutex
	r := bufio.NewReaderSize(in, 1<<20)
	for eof := false; !eof; {
		var batch [][]byte
		for len(batch) < batchLines {
			line, err := r.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				batch = append(batch, line)
			}
			if errors.Is(err, io.EOF) {
				eof = true
				break
			}
			if err != nil {
				return st, err
			}
		}
		outs := make([][]byte, len(batch))
		var wg sync.WaitGroup
		next := make(chan int)
		for range min(max(opt.Workers, 1), len(batch)) {
			wg.Go(func() {
				for i := range next {
					m, err := scoreLine(ctx, batch[i], opt)
					mu.Lock()
					st.count(m, err)
					mu.Unlock()
					outs[i] = encodeLine(m)
					if opt.Done != nil {
						opt.Done()
					}
				}
			})
		}
		for i := range batch {
			next <- i
		}
		close(next)
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return st, err
		}
		for _, o := range outs {
			if _, err := w.Write(o); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// count adds a scored line, its error recorded in it.
func (st *LineStats) count(m map[string]any, err error) {
	st.Lines++
	if err != nil {
		st.Errors++
		m["error"] = err.Error()
		return
	}
	st.Reward += m["reward"].(float64)
	if m["verdict"] == verify.Correct {
		st.Correct++
	}
}

// scoreLine parses and scores one input line; a line that is not JSON
// comes back as {"line": …}.
func scoreLine(ctx context.Context, b []byte, opt LineOptions) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return map[string]any{"line": strings.TrimSpace(string(b))}, err
	}
	completion, ok := field(m, completionFields)
	if !ok {
		return m, fmt.Errorf("no completion: want one of %s", strings.Join(completionFields, ", "))
	}
	reference, ok := field(m, referenceFields)
	if !ok {
		return m, fmt.Errorf("no reference: want one of %s", strings.Join(referenceFields, ", "))
	}
	task := "math"
	if t, ok := m["task"].(string); ok && t != "" {
		task = t
	}
	prompt, _ := m["prompt"].(string) // MAA's reward reads the prompt's end too
	rec := &Record{Task: task, Prompt: prompt, Answer: reference, Completion: completion}
	if err := Score(ctx, rec, opt.Rewards, opt.Scorer); err != nil {
		return m, err
	}
	m["extracted_answer"], m["extraction"], m["verdict"] = rec.ExtractedAnswer, rec.Extraction, rec.Verdict
	m["reward"], m["reward_format"], m["reward_answer"] = rec.Reward, rec.RewardFormat, rec.RewardAnswer
	if rec.RewardError != "" {
		m["reward_error"] = rec.RewardError
	}
	return m, nil
}

// encodeLine renders an output line.
func encodeLine(m map[string]any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return []byte(fmt.Sprintf("{\"error\":%q}\n", err.Error()))
	}
	return buf.Bytes()
}

// field returns the first of names present in m as a string; a dotted
// name reaches into nested objects.
func field(m map[string]any, names []string) (string, bool) {
	for _, name := range names {
		var cur any = m
		for part := range strings.SplitSeq(name, ".") {
			obj, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = obj[part]
		}
		switch x := cur.(type) {
		case string:
			return x, true
		case float64:
			return fmt.Sprint(x), true
		}
	}
	return "", false
}
