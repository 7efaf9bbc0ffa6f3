package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// LlamaCpp runs llama.cpp's own benchmarks on the same GGUF file with the
// same threads and lengths: llama-bench for prefill and single-sequence
// decode, llama-batched-bench for several sequences decoding together.
// aha never ships these binaries; it runs the ones the user has.
type LlamaCpp struct {
	Dir     string // folder holding llama-bench and llama-batched-bench
	Model   string // the GGUF file
	Threads int

	// Commands holds each distinct command line run; PeakRSS the largest
	// peak resident memory of the processes.
	Commands []string
	PeakRSS  int64
}

// FindLlamaCpp returns the folder holding llama-bench and
// llama-batched-bench: dir if given, else the one on PATH.
func FindLlamaCpp(dir string) (string, error) {
	if dir == "" {
		p, err := exec.LookPath("llama-bench")
		if err != nil {
			return "", errors.New("llama.cpp not found: llama-bench is not on PATH (give its folder with --vs llama.cpp=DIR)")
		}
		dir = filepath.Dir(p)
	}
	for _, name := range []string{"llama-bench", "llama-batched-bench"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("llama.cpp not found: no executable %s in %s", name, dir)
		}
	}
	return dir, nil
}

// Measure runs one repetition of every spec and returns tokens/s in the
// same order. Prefill specs and single-sequence decode run in llama-bench
// (one repetition, after its own warm-up); batched decode specs sharing a
// length and depth run in one llama-batched-bench call, whose S_TG
// (all sequences' generated tokens over the generation time) is the same
// figure as aha's.
func (l *LlamaCpp) Measure(ctx context.Context, specs []Spec) ([]float64, error) {
	out := make([]float64, len(specs))
	type key struct{ gen, depth int }
	batched := map[key][]int{} // spec indices
	var keys []key
	for i, s := range specs {
		if s.Figure == "decode" && s.Batch > 1 {
			k := key{s.Gen, s.Depth}
			if batched[k] == nil {
				keys = append(keys, k)
			}
			batched[k] = append(batched[k], i)
			continue
		}
		p, n, d := s.Prompt, 0, 0
		if s.Figure == "decode" {
			p, n, d = 0, s.Gen, s.Depth
		}
		tps, err := l.bench(ctx, p, n, d)
		if err != nil {
			return nil, err
		}
		out[i] = tps
	}
	for _, k := range keys {
		var batches []int
		for _, i := range batched[k] {
			batches = append(batches, specs[i].Batch)
		}
		speeds, err := l.batchedBench(ctx, k.gen, k.depth, batches)
		if err != nil {
			return nil, err
		}
		for _, i := range batched[k] {
			tps, ok := speeds[specs[i].Batch]
			if !ok {
				return nil, fmt.Errorf("llama-batched-bench reported no row for %d sequences", specs[i].Batch)
			}
			out[i] = tps
		}
	}
	return out, nil
}

// bench runs llama-bench for one test: prompt tokens (-p), generated
// tokens (-n) at depth (-d).
func (l *LlamaCpp) bench(ctx context.Context, prompt, gen, depth int) (float64, error) {
	args := []string{"-m", l.Model, "-t", strconv.Itoa(l.Threads), "-r", "1", "-o", "json",
		"-p", strconv.Itoa(prompt), "-n", strconv.Itoa(gen), "-d", strconv.Itoa(depth)}
	stdout, err := l.run(ctx, "llama-bench", args)
	if err != nil {
		return 0, err
	}
	results, err := ParseLlamaBench(stdout)
	if err != nil {
		return 0, err
	}
	for _, r := range results {
		if r.Prompt == prompt && r.Gen == gen && r.Depth == depth {
			return r.AvgTS, nil
		}
	}
	return 0, fmt.Errorf("llama-bench reported no test with -p %d -n %d -d %d", prompt, gen, depth)
}

// batchedBench runs llama-batched-bench once for the given batch sizes:
// each sequence gets its own depth-token prompt, then gen tokens are
// decoded for all of them together. It returns S_TG per batch size.
func (l *LlamaCpp) batchedBench(ctx context.Context, gen, depth int, batches []int) (map[int]float64, error) {
	most := slices.Max(batches)
	// The context is split evenly between the sequences: give each room
	// for its prompt and generation, rounded up.
	perSeq := (depth + gen + 255) / 256 * 256
	var pl []string
	for _, b := range batches {
		pl = append(pl, strconv.Itoa(b))
	}
	args := []string{"-m", l.Model, "-t", strconv.Itoa(l.Threads), "-c", strconv.Itoa(most * perSeq),
		"-npp", strconv.Itoa(depth), "-ntg", strconv.Itoa(gen), "-npl", strings.Join(pl, ","), "--output-format", "jsonl"}
	// llama.cpp logs its results through an asynchronous logger that can
	// lose the last lines when the process exits; a run missing rows is
	// run again.
	speeds := map[int]float64{}
	for try := 0; try < 3 && len(speeds) < len(batches); try++ {
		stdout, err := l.run(ctx, "llama-batched-bench", args)
		if err != nil {
			return nil, err
		}
		rows, err := ParseBatchedBench(stdout)
		if err != nil && !errors.Is(err, errNoRows) {
			return nil, err
		}
		for _, r := range rows {
			if r.Gen == gen && r.Prompt == depth && slices.Contains(batches, r.Batch) {
				speeds[r.Batch] = r.SpeedTG
			}
		}
	}
	return speeds, nil
}

// run runs one of the peer's binaries and returns its stdout; on failure
// the error holds the end of its stderr.
func (l *LlamaCpp) run(ctx context.Context, name string, args []string) ([]byte, error) {
	path := filepath.Join(l.Dir, name)
	cmd := exec.CommandContext(ctx, path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if line := path + " " + strings.Join(args, " "); !slices.Contains(l.Commands, line) {
		l.Commands = append(l.Commands, line)
	}
	err := cmd.Start()
	if err == nil {
		stop, peak := make(chan struct{}), make(chan int64)
		go func() { peak <- watchPeakRSS(cmd.Process.Pid, stop) }()
		err = cmd.Wait()
		close(stop)
		l.PeakRSS = max(l.PeakRSS, <-peak)
	}
	if err != nil {
		tail := stderr.String()
		if len(tail) > 1000 {
			tail = "…" + tail[len(tail)-1000:]
		}
		return nil, fmt.Errorf("%s: %w\n%s", name, err, tail)
	}
	return stdout.Bytes(), nil
}

// LlamaBenchResult is the part of one llama-bench JSON test that matters
// here.
type LlamaBenchResult struct {
	Prompt    int       `json:"n_prompt"`
	Gen       int       `json:"n_gen"`
	Depth     int       `json:"n_depth"`
	Threads   int       `json:"n_threads"`
	AvgTS     float64   `json:"avg_ts"`    // tokens/s, mean over its repetitions
	StddevTS  float64   `json:"stddev_ts"` // their standard deviation
	SamplesTS []float64 `json:"samples_ts"`
}

// ParseLlamaBench reads `llama-bench -o json` output: an array of tests.
func ParseLlamaBench(data []byte) ([]LlamaBenchResult, error) {
	var rs []LlamaBenchResult
	if err := json.Unmarshal(cleanNumbers(data), &rs); err != nil {
		return nil, fmt.Errorf("llama-bench output: %w", err)
	}
	return rs, nil
}

// BatchedBenchRow is one row of llama-batched-bench's results: PP prompt
// tokens and TG generated tokens for each of B sequences.
type BatchedBenchRow struct {
	Prompt  int     `json:"pp"`
	Gen     int     `json:"tg"`
	Batch   int     `json:"pl"`
	SpeedPP float64 `json:"speed_pp"` // S_PP: B·PP / prefill time
	SpeedTG float64 `json:"speed_tg"` // S_TG: B·TG / generation time
	Speed   float64 `json:"speed"`    // S: all tokens / total time
}

// ParseBatchedBench reads `llama-batched-bench --output-format jsonl`
// output, one JSON object per line; other lines are ignored.
func ParseBatchedBench(data []byte) ([]BatchedBenchRow, error) {
	var rows []BatchedBenchRow
	for line := range bytes.Lines(data) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var r BatchedBenchRow
		if err := json.Unmarshal(cleanNumbers(line), &r); err != nil {
			return nil, fmt.Errorf("llama-batched-bench output %q: %w", line, err)
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil, errNoRows
	}
	return rows, nil
}

var errNoRows = errors.New("llama-batched-bench printed no results")

// llama.cpp prints a speed it cannot compute (no prompt tokens) as C's
// "-nan" or "inf", which JSON does not allow; such values become null.
var nonFinite = regexp.MustCompile(`:\s*-?(nan|inf)\b`)

func cleanNumbers(data []byte) []byte { return nonFinite.ReplaceAll(data, []byte(": null")) }
