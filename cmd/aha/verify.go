package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/aha-inference/aha/internal/progress"
	"github.com/aha-inference/aha/rollout"
	"github.com/aha-inference/aha/rollout/rewardcmd"
	"github.com/aha-inference/aha/rollout/tasks"
	"github.com/aha-inference/aha/rollout/verify"
)

func init() {
	register("verify", "score completions from any source offline: one JSON line in, the line with its verdict and reward out", runVerify)
}

// Field names accepted for the completion and the reference, in order of
// preference: the layouts of vLLM outputs, trainers' logs and data sets.
var (
	completionFields = []string{"completion", "response", "output"}
	referenceFields  = []string{"answer", "ground_truth", "solution", "reward_model.ground_truth"}
)

func runVerify(args []string) error {
	fs := newFlags("verify", "IN.jsonl [-o OUT.jsonl] [flags]")
	out := fs.String("o", "", "output JSONL file (default: stdout)")
	threads := fs.Int("t", 0, "lines scored at once (0 = one per CPU this process may use)")
	rewardCmd := fs.String("reward-cmd", "", "score with this long-running command (sh -c), as in aha rollout")
	rewardTimeout := fs.Duration("reward-timeout", 30*time.Second, "with --reward-cmd: longest wait for one reward")
	logicWeights := fs.String("logic-weights", "1,-1,2,-1.5,-2", "rewards of the logic tasks: format ok, format bad, answer correct, wrong, unparseable")
	mathWeights := fs.String("math-weights", "0,0,1,0,0", "rewards of math answers, in the same order")
	require := fs.String("require", "", "score math answers only when found as boxed, answer_tag, prose or last_number, or a stricter tier (default: any)")
	reward := fs.String("reward", "aha", "reward of the logic tasks: aha (verify.Logic) or maa (Meta-Ability-Alignment's reward code, on the prompt and completion)")
	prefillThink := fs.Bool("prefill-think", false, "the completions follow a prefilled \"<think>\" (the format check then counts it)")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("give one input file (- for stdin)")
	}
	logicW, err := parseWeights("logic-weights", *logicWeights)
	if err != nil {
		return err
	}
	mathW, err := parseWeights("math-weights", *mathWeights)
	if err != nil {
		return err
	}
	logicW.PrefilledThink, mathW.PrefilledThink = *prefillThink, *prefillThink
	var ok bool
	if mathW.Require, ok = verify.ParseTier(*require); !ok {
		return usagef("--require %q: want boxed, answer_tag, prose or last_number", *require)
	}

	in, total, err := openInput(rest[0])
	if err != nil {
		return err
	}
	defer in.Close()
	w := io.Writer(os.Stdout)
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var scorer *rewardcmd.Process
	if *rewardCmd != "" {
		scorer = rewardcmd.New(*rewardCmd, *rewardTimeout, os.Stderr)
		defer scorer.Close()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	workers := *threads
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if *reward != "aha" && *reward != "maa" {
		return usagef("--reward %q: want aha or maa", *reward)
	}
	v := &verifier{scorer: scorer, scheme: *reward, logicW: logicW, mathW: mathW}
	st, err := v.run(ctx, in, bw, workers, progress.New(os.Stderr, "verify", total))
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d lines: %d correct, %d with errors, mean reward %.3f, %.0f lines/s\n",
		st.lines, st.correct, st.errors, st.reward/float64(max(st.lines-st.errors, 1)), float64(st.lines)/time.Since(st.start).Seconds())
	return nil
}

// openInput opens the input and counts its lines for the progress bar
// (stdin's are not known).
func openInput(path string) (io.ReadCloser, int64, error) {
	if path == "-" {
		return io.NopCloser(os.Stdin), 0, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	var n int64
	buf := make([]byte, 1<<20)
	for {
		k, err := f.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return nil, 0, err
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, n, nil
}

// verifier scores lines with the verifiers aha rollout uses.
type verifier struct {
	scorer         *rewardcmd.Process
	scheme         string // the logic tasks' reward: "aha" or "maa"
	logicW, mathW  verify.Options
	mu             sync.Mutex
	lines, correct int
	errors         int
	reward         float64
	start          time.Time
}

// batchLines bounds the lines held at once: scored in parallel, written in
// input order.
const batchLines = 1024

func (v *verifier) run(ctx context.Context, in io.Reader, w io.Writer, workers int, bar *progress.Bar) (*verifier, error) {
	v.start = time.Now()
	r := bufio.NewReaderSize(in, 1<<20)
	eof := false
	for !eof {
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
				return nil, err
			}
		}
		outs := make([][]byte, len(batch))
		var wg sync.WaitGroup
		next := make(chan int)
		for range min(workers, len(batch)) {
			wg.Go(func() {
				for i := range next {
					outs[i] = v.line(ctx, batch[i])
					bar.Add(1)
				}
			})
		}
		for i := range batch {
			next <- i
		}
		close(next)
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for _, o := range outs {
			if _, err := w.Write(o); err != nil {
				return nil, err
			}
		}
	}
	bar.Finish()
	return v, nil
}

// line scores one input line and renders the output line: the input's
// members with the verdict's added, or with "error" when the line cannot
// be scored.
func (v *verifier) line(ctx context.Context, b []byte) []byte {
	var m map[string]any
	err := json.Unmarshal(b, &m)
	if err == nil {
		err = v.score(ctx, m)
	} else {
		m = map[string]any{"line": strings.TrimSpace(string(b))}
	}
	v.mu.Lock()
	v.lines++
	if err != nil {
		v.errors++
		m["error"] = err.Error()
	} else {
		v.reward += m["reward"].(float64)
		if m["verdict"] == string(verify.Correct) {
			v.correct++
		}
	}
	v.mu.Unlock()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return []byte(fmt.Sprintf("{\"error\":%q}\n", err.Error()))
	}
	return buf.Bytes()
}

// score adds extracted_answer, extraction, verdict, reward, reward_format
// and reward_answer (and reward_error) to m, computed as aha rollout does.
func (v *verifier) score(ctx context.Context, m map[string]any) error {
	completion, ok := field(m, completionFields)
	if !ok {
		return fmt.Errorf("no completion: want one of %s", strings.Join(completionFields, ", "))
	}
	reference, ok := field(m, referenceFields)
	if !ok {
		return fmt.Errorf("no reference: want one of %s", strings.Join(referenceFields, ", "))
	}
	task := "math"
	if t, ok := m["task"].(string); ok && t != "" {
		task = t
	}
	if _, logic := tasks.Generators[task]; !logic && task != "math" && v.scorer == nil {
		return fmt.Errorf("no verifier for task %q (want math, deduction, induction or abduction, or give --reward-cmd)", task)
	}
	prompt, _ := m["prompt"].(string) // MAA's reward reads the prompt's end too
	rec := &rollout.Record{Task: task, Prompt: prompt, Answer: reference, Completion: completion}
	if err := scoreRecord(ctx, rec, v.scorer, v.scheme, v.logicW, v.mathW); err != nil {
		return err
	}
	m["extracted_answer"], m["extraction"], m["verdict"] = rec.ExtractedAnswer, rec.Extraction, rec.Verdict
	m["reward"], m["reward_format"], m["reward_answer"] = rec.Reward, rec.RewardFormat, rec.RewardAnswer
	if rec.RewardError != "" {
		m["reward_error"] = rec.RewardError
	}
	return nil
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
