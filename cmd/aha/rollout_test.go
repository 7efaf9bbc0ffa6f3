package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aha-inference/aha/loader"
	"github.com/aha-inference/aha/rollout"
	"github.com/aha-inference/aha/rollout/data"
	"github.com/aha-inference/aha/rollout/verify"
)

// rolloutArgs is a small run on the embedded model: it answers badly, but
// every sample is still verified and scored.
func rolloutArgs(out string, extra ...string) []string {
	return append([]string{"rollout", "-o", out, "--task", "deduction", "--level", "2", "--count", "4", "-n", "3",
		"--max-tokens", "24", "--seed", "11"}, extra...)
}

// recordSet reads a rollout file as sorted lines with elapsed zeroed, so
// runs compare as sets.
func recordSet(t *testing.T, paths ...string) []string {
	t.Helper()
	recs, err := rollout.ReadRecords(paths...)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, r := range recs {
		r.Elapsed = 0
		b, _ := json.Marshal(r)
		lines = append(lines, string(b))
	}
	slices.Sort(lines)
	return lines
}

func mustRollout(t *testing.T, args ...string) string {
	t.Helper()
	_, stderr, code := aha(t, args...)
	if code != 0 {
		t.Fatalf("aha %q: exit %d\n%s", args, code, stderr)
	}
	return stderr
}

func TestRollout(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "full.jsonl")
	stderr := mustRollout(t, rolloutArgs(out)...)
	recs, err := rollout.ReadRecords(out)
	if err != nil || len(recs) != 12 {
		t.Fatalf("%d records, %v\n%s", len(recs), err, stderr)
	}
	l, err := loader.Load("", loader.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	seen := map[rollout.Key]bool{}
	for _, r := range recs {
		seen[r.Key()] = true
		// The completion is what its tokens add to the prompt's text (no
		// stop strings here to cut it short).
		if head, all := l.Tokenizer.Decode(r.PromptTokenIDs, true), l.Tokenizer.Decode(slices.Concat(r.PromptTokenIDs, r.CompletionTokenIDs), true); head+r.Completion != all {
			t.Errorf("record %v: %q + %q != %q", r.Key(), head, r.Completion, all)
		}
		if r.Seed != rollout.SampleSeed(11, r.PromptID, 3, r.SampleIndex) {
			t.Errorf("record %v has seed %d", r.Key(), r.Seed)
		}
		if r.Task != "deduction" || r.Level != 2 || !strings.Contains(r.Prompt, "<answer>") || !strings.HasPrefix(r.Answer, "(1) A is ") ||
			len(r.CompletionTokenIDs) == 0 || len(r.Logprobs) != len(r.CompletionTokenIDs) || len(r.PromptTokenIDs) == 0 {
			t.Errorf("record %v: %+v", r.Key(), r)
		}
		// The tiny story model never writes the tags: a format error, −3.
		if r.Verdict != "format_error" || r.Reward != -3 || r.RewardFormat != -1 || r.RewardAnswer != -2 || r.FinishReason == "" {
			t.Errorf("record %v: verdict %s, reward %v", r.Key(), r.Verdict, r.Reward)
		}
	}
	if len(seen) != 12 {
		t.Errorf("%d distinct records, want 12", len(seen))
	}
	var m rollout.Manifest
	b, _ := os.ReadFile(rollout.ManifestPath(out))
	if err := json.Unmarshal(b, &m); err != nil || m.AhaVersion != "dev" || len(m.ModelSHA256) != 64 || m.TemplateSHA256 != "fallback" ||
		m.Args["n"] != "3" || m.Args["max-tokens"] != "24" || m.Args["shard"] != "0/1" {
		t.Errorf("manifest %+v, %v", m, err)
	}

	// Rerunning a finished run adds nothing.
	before, _ := os.ReadFile(out)
	mustRollout(t, rolloutArgs(out)...)
	if after, _ := os.ReadFile(out); string(after) != string(before) {
		t.Error("rerunning a finished run changed the file")
	}

	// Shards together hold exactly the unsharded run's records; K may come
	// from JOB_COMPLETION_INDEX.
	s0, s1 := filepath.Join(dir, "s0.jsonl"), filepath.Join(dir, "s1.jsonl")
	mustRollout(t, rolloutArgs(s0, "--shard", "0/2")...)
	cmd := exec.Command(ahaBin, rolloutArgs(s1, "--shard", "2")...)
	cmd.Env = append(os.Environ(), "JOB_COMPLETION_INDEX=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("shard 1: %v\n%s", err, b)
	}
	if got, want := recordSet(t, s0, s1), recordSet(t, out); !slices.Equal(got, want) {
		t.Errorf("shards hold %d records, the unsharded run %d; they differ", len(got), len(want))
	}
	if recs, _ := rollout.ReadRecords(s1); len(recs) != 6 || recs[0].PromptID%2 != 1 {
		t.Errorf("shard 1/2 has %d records", len(recs))
	}

	// A half line appended (a crash mid-write) is dropped and its sample
	// redone; nothing is duplicated.
	full := recordSet(t, out)
	data, _ := os.ReadFile(out)
	lines := strings.SplitAfter(string(data), "\n")
	cut := strings.Join(lines[:5], "") + lines[5][:len(lines[5])/2]
	os.WriteFile(out, []byte(cut), 0o644)
	stderr = mustRollout(t, rolloutArgs(out)...)
	if !strings.Contains(stderr, "dropped a half-written last line") || !strings.Contains(stderr, "5 samples already done") {
		t.Errorf("resume said:\n%s", stderr)
	}
	if got := recordSet(t, out); !slices.Equal(got, full) {
		t.Errorf("after dropping a half line: %d records, want the %d of a clean run", len(got), len(full))
	}

	// A changed argument is refused by name; --force starts over.
	_, stderr, code := aha(t, rolloutArgs(out, "--temp", "0.7")...)
	if code == 0 || !strings.Contains(stderr, `--temp differs: it was "1", now "0.7"`) || !strings.Contains(stderr, "--force") {
		t.Errorf("changed --temp: exit %d\n%s", code, stderr)
	}
	_, stderr, code = aha(t, rolloutArgs(out, "--shard", "1/2")...)
	if code == 0 || !strings.Contains(stderr, `--shard differs: it was "0/1", now "1/2"`) {
		t.Errorf("changed --shard: exit %d\n%s", code, stderr)
	}
	// Runtime knobs may change.
	mustRollout(t, rolloutArgs(out, "-t", "1", "--max-seqs", "4")...)
	mustRollout(t, rolloutArgs(out, "--temp", "0.7", "--force")...)
	if got := recordSet(t, out); len(got) != 12 || slices.Equal(got, full) {
		t.Error("--force did not start a new run")
	}
}

// TestRolloutKilled kills aha with SIGKILL mid-run, reruns the same
// command, and compares with an uninterrupted run.
func TestRolloutKilled(t *testing.T) {
	dir := t.TempDir()
	args := func(out string) []string {
		return []string{"rollout", "-o", out, "--task", "induction", "--level", "3", "--count", "8", "-n", "4",
			"--max-tokens", "32", "--seed", "5", "--concurrency", "1"}
	}
	ref := filepath.Join(dir, "ref.jsonl")
	mustRollout(t, args(ref)...)
	want := recordSet(t, ref)

	out := filepath.Join(dir, "killed.jsonl")
	cmd := exec.Command(ahaBin, args(out)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(out)
		if n := strings.Count(string(b), "\n"); n >= 4 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no records appeared")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	partial := recordSet(t, out)
	if len(partial) == 0 || len(partial) >= len(want) {
		t.Skipf("the kill landed when %d of %d records were written; nothing to resume", len(partial), len(want))
	}
	stderr := mustRollout(t, args(out)...)
	if !strings.Contains(stderr, "resuming") {
		t.Errorf("rerun did not resume:\n%s", stderr)
	}
	if got := recordSet(t, out); !slices.Equal(got, want) {
		t.Errorf("resumed run: %d records, uninterrupted %d; they differ", len(got), len(want))
	}
}

func TestRolloutBadInput(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.jsonl")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rollout", "--task", "deduction"}, "give the output file with -o"},
		{[]string{"rollout", "-o", out}, "give either --task or --data"},
		{[]string{"rollout", "-o", out, "--task", "riddles"}, `--task "riddles": want deduction, induction or abduction`},
		{[]string{"rollout", "-o", out, "--task", "deduction", "--level", "9"}, "level 9 out of range"},
		{[]string{"rollout", "-o", out, "--task", "deduction", "--shard", "2/2"}, "want 0 ≤ K < N"},
		{[]string{"rollout", "-o", out, "--task", "deduction", "--logic-weights", "1,2"}, "want five numbers"},
		{[]string{"rollout", "-o", out, "--data", filepath.Join(dir, "none.jsonl")}, "none.jsonl"},
	} {
		_, stderr, code := aha(t, tc.args...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("aha %q: exit %d, stderr %q; want an error containing %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestRolloutData: math prompts from a JSONL file, the built-in math
// verifier, then a reward command over it, and its failures recorded.
func TestRolloutData(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "math.jsonl")
	os.WriteFile(data, []byte(`{"prompt": "What is 2+2?", "answer": "4", "level": "Level 1"}
{"messages": [{"role": "user", "content": "Solve x+1=3."}], "reward_model": {"ground_truth": "2"}}
`), 0o644)
	out := filepath.Join(dir, "out.jsonl")
	mustRollout(t, "rollout", "-o", out, "--data", data, "-n", "2", "--max-tokens", "8", "--prefill-think")
	recs, err := rollout.ReadRecords(out)
	if err != nil || len(recs) != 4 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	for _, r := range recs {
		want := map[int]string{0: "4", 1: "2"}[r.PromptID]
		if r.Task != "math" || r.Answer != want || !strings.HasSuffix(r.Prompt, "<think>") || r.Verdict != "unparseable" || r.Reward != 0 {
			t.Errorf("record %v: task %s answer %q verdict %s reward %v", r.Key(), r.Task, r.Answer, r.Verdict, r.Reward)
		}
	}

	rewarded := filepath.Join(dir, "rewarded.jsonl")
	mustRollout(t, "rollout", "-o", rewarded, "--data", data, "-n", "2", "--max-tokens", "8",
		"--reward-cmd", `while read -r line; do id=${line#'{"id":'}; echo "{\"id\": ${id%%,*}, \"reward\": 0.5, \"verdict\": \"custom\"}"; done`)
	for _, r := range recordSetRecords(t, rewarded) {
		if r.Reward != 0.5 || r.Verdict != "custom" || r.RewardError != "" {
			t.Errorf("reward command: %+v", r)
		}
	}
	failing := filepath.Join(dir, "failing.jsonl")
	mustRollout(t, "rollout", "-o", failing, "--data", data, "-n", "2", "--max-tokens", "8", "--reward-cmd", "exit 1")
	for _, r := range recordSetRecords(t, failing) {
		if r.Verdict != "reward_error" || !strings.Contains(r.RewardError, "exit status 1") {
			t.Errorf("failing reward command: %+v", r)
		}
	}
}

func recordSetRecords(t *testing.T, path string) []rollout.Record {
	t.Helper()
	recs, err := rollout.ReadRecords(path)
	if err != nil || len(recs) == 0 {
		t.Fatalf("%s: %d records, %v", path, len(recs), err)
	}
	return recs
}

// A data set in the layout of Meta-Ability-Alignment's released files runs
// with its prompt as written and its task, level and answer read from its
// columns, scored by the reference's reward.
func TestRolloutRawPromptMAA(t *testing.T) {
	dir := t.TempDir()
	const prompt = "<|im_start|>user\nGiven the following sequence,\n['1', '2', '?']\nWhat is the value at the question mark?<|im_end|>\n<|im_start|>assistant\n<think>"
	row, _ := json.Marshal(map[string]any{
		"data_source": "logic_assignment", "ability": "logic", "difficulty": 3,
		"prompt":       []map[string]string{{"role": "user", "content": prompt}},
		"reward_model": map[string]any{"style": "rule", "ground_truth": map[string]any{"solution_text_format": "3", "statements": []string{}}},
	})
	in := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(in, append(row, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.jsonl")
	mustRollout(t, "rollout", "-o", out, "--data", in, "--raw-prompt", "--reward", "maa", "-n", "2", "--max-tokens", "8", "--seed", "1")
	recs, err := rollout.ReadRecords(out)
	if err != nil || len(recs) != 2 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	for _, r := range recs {
		if r.Prompt != prompt || r.Task != "induction" || r.Level != 3 || r.Answer != "3" || r.Reward != r.RewardFormat+r.RewardAnswer {
			t.Errorf("record %+v", r)
		}
	}
	if _, stderr, code := aha(t, "rollout", "-o", out, "--task", "induction", "--raw-prompt", "--force"); code == 0 {
		t.Errorf("--raw-prompt without --data accepted\n%s", stderr)
	}
	if _, stderr, code := aha(t, "rollout", "-o", out, "--data", in, "--reward", "paper", "--force"); code == 0 {
		t.Errorf("--reward paper accepted\n%s", stderr)
	}
}

// TestRolloutReleasedFiles checks aha against Meta-Ability-Alignment's
// released parquet files, which are not in the shared data: fetch the
// repository (github.com/zhiyuanhubj/Meta-Ability-Alignment) and run
//
//	AHA_MAA_DATA=path/to/Training/dataset go test ./cmd/aha -run RolloutReleasedFiles
//
// Every row's reference answer, given back as the completion of its raw
// prompt, must score +3 under --reward maa, except where the ground truth
// names a goal twice (goals: ['D', 'J', 'J']): the reference's own reward
// then expects one statement fewer than the answer holds and scores it −1
// (204 of the 19,900 rows, all abduction). A rollout of one file on the
// embedded model must run.
func TestRolloutReleasedFiles(t *testing.T) {
	dir := os.Getenv("AHA_MAA_DATA")
	if dir == "" {
		t.Skip("AHA_MAA_DATA is unset: give it the released Training/dataset folder of Meta-Ability-Alignment")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*", "*", "*.parquet"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no parquet files under %s (%v)", dir, err)
	}
	rows, repeated := 0, 0
	for _, path := range files {
		problems, err := data.Read(path, data.Fields{})
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range problems {
			prompt, _ := p.Messages[0]["content"].(string)
			rec := &rollout.Record{Task: p.Task, Prompt: prompt, Answer: p.Answer,
				Completion: "I checked it.</think><answer>" + p.Answer + "</answer>"}
			if err := rollout.Score(context.Background(), rec, verify.Rewards{Scheme: verify.SchemeMAA, Logic: verify.DefaultOptions(), Math: verify.DefaultOptions()}, nil); err != nil {
				t.Fatalf("%s row %d: %v", path, i+1, err)
			}
			want := 3.0
			if repeatsName(p.Answer) {
				want = -1
				repeated++
			}
			if rec.Reward != want {
				t.Fatalf("%s row %d: the reference answer scores %v (%s), want %v", path, i+1, rec.Reward, rec.Verdict, want)
			}
			rows++
		}
	}
	t.Logf("%d rows of %d files: every reference answer scores +3, but %d that name a goal twice score −1", rows, len(files), repeated)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	mustRollout(t, "rollout", "-o", out, "--data", filepath.Join(dir, "Deduction", "1", "test.parquet"),
		"--raw-prompt", "--reward", "maa", "-n", "1", "--max-tokens", "4", "--seed", "1")
}

// repeatsName reports whether a ground truth of "(i) NAME is LABEL" lines
// names something twice.
func repeatsName(truth string) bool {
	seen := map[string]bool{}
	for _, line := range strings.Split(truth, "\n") {
		name, _, ok := strings.Cut(strings.TrimSpace(line), " is ")
		if _, after, found := strings.Cut(name, ") "); found {
			name = after
		}
		if ok && seen[name] {
			return true
		}
		seen[name] = true
	}
	return false
}

func TestRolloutStyleMAA(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.jsonl")
	mustRollout(t, "rollout", "-o", out, "--task", "deduction", "--style", "maa", "--level", "1", "--count", "2", "-n", "1", "--max-tokens", "4", "--reward", "maa")
	recs, err := rollout.ReadRecords(out)
	if err != nil || len(recs) != 2 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	for _, r := range recs {
		if !strings.Contains(r.Prompt, "Now the user has a logical formula problem.") || !strings.Contains(r.Prompt, "Below are some nested formulas:\n  - ") ||
			strings.Count(r.Answer, "\n") != 4 {
			t.Errorf("record %+v", r)
		}
	}
	if _, stderr, code := aha(t, "rollout", "-o", out, "--task", "deduction", "--style", "paper", "--force"); code == 0 {
		t.Errorf("--style paper accepted\n%s", stderr)
	}
}
