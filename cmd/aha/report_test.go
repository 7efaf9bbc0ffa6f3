package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aha-inference/aha/rollout"
)

// writeRecords writes a rollout file: verdicts[p] lists prompt p's
// samples, 'c' correct and 'w' wrong.
func writeRecords(t *testing.T, path string, verdicts ...string) {
	t.Helper()
	var b strings.Builder
	for p, vs := range verdicts {
		for j, v := range vs {
			r := rollout.Record{PromptID: p, SampleIndex: j, Task: "induction", Level: 2, Prompt: "prompt", Answer: "7",
				Completion: "completion", CompletionTokenIDs: make([]int, 4+j), FinishReason: "stop", Verdict: "wrong", Reward: -0.5}
			if v == 'c' {
				r.Verdict, r.Reward = "correct", 3
			}
			line, _ := json.Marshal(r)
			b.Write(append(line, '\n'))
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReport(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	writeRecords(t, a, "cwww", "cccc")
	writeRecords(t, b, "", "", "wwww") // a second shard: prompt 2
	png := filepath.Join(dir, "r.png")
	stdout, stderr, code := aha(t, "report", a, b, "--plot", png)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// pass@1 = (1/4 + 1 + 0)/3; pass@4 = (1 + 1 + 0)/3.
	if !strings.Contains(stdout, "induction      2        3       12   0.417   0.667       4   0.958") || !strings.Contains(stdout, "stop 12") {
		t.Errorf("report:\n%s", stdout)
	}
	if img, err := os.ReadFile(png); err != nil || !strings.HasPrefix(string(img), "\x89PNG") {
		t.Errorf("plot: %v", err)
	}
	stdout, _, _ = aha(t, "report", "--json", a)
	var groups []rollout.Group
	if err := json.Unmarshal([]byte(stdout), &groups); err != nil || len(groups) != 1 || groups[0].PassAtK[0] != 0.625 {
		t.Errorf("--json: %v %+v", err, groups)
	}
	if _, stderr, code := aha(t, "report"); code == 0 || !strings.Contains(stderr, "name one or more rollout files") {
		t.Errorf("no files: exit %d, %s", code, stderr)
	}
}

func TestDifficulty(t *testing.T) {
	dir := t.TempDir()
	small, large := filepath.Join(dir, "small.jsonl"), filepath.Join(dir, "large.jsonl")
	writeRecords(t, small, "cw", "ww", "ww", "cc")
	writeRecords(t, large, "cc", "cw", "ww", "ww")
	out := filepath.Join(dir, "buckets")
	stdout, stderr, code := aha(t, "difficulty", "--model", "small="+small, "--model", "large="+large, "-o", out)
	if code != 0 || !strings.Contains(stdout, "4 problems: L1 1, L2 1, L3 1, dropped (no model solves) 1") {
		t.Fatalf("exit %d: %s%s", code, stdout, stderr)
	}
	for name, want := range map[string]int{"L1": 0, "L2": 1, "L3": 3} {
		var got rollout.Bucketed
		b, _ := os.ReadFile(filepath.Join(out, name+".jsonl"))
		if err := json.Unmarshal(b, &got); err != nil || got.PromptID != want || len(got.PassRates) != 2 {
			t.Errorf("%s: %v %+v", name, err, got)
		}
	}
	var rate rollout.PassRate
	b, _ := os.ReadFile(filepath.Join(out, "passrate-small.jsonl"))
	if err := json.Unmarshal([]byte(strings.SplitN(string(b), "\n", 2)[0]), &rate); err != nil || rate.PassRate != 0.5 || rate.Answer != "7" {
		t.Errorf("pass rate file: %v %+v", err, rate)
	}
	if _, err := os.Stat(filepath.Join(out, "summary.json")); err != nil {
		t.Error(err)
	}
	// One model: the files are its shards.
	if stdout, _, code := aha(t, "difficulty", small, "-o", filepath.Join(dir, "one")); code != 0 || !strings.Contains(stdout, "L1 1, L2 0, L3 0, dropped (no model solves) 2, left out (easy) 1") {
		t.Errorf("one model: %s", stdout)
	}
}

func TestPairs(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "r.jsonl"), filepath.Join(dir, "pairs.jsonl")
	writeRecords(t, in, "ccww", "cccc", "cwww")
	_, stderr, code := aha(t, "pairs", in, "-o", out, "--mix", "2:2")
	if code != 0 || !strings.Contains(stderr, "6 pairs") || !strings.Contains(stderr, "1 problems had no correct or no wrong") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, _ := os.ReadFile(out)
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var p rollout.Pair
		if err := json.Unmarshal([]byte(line), &p); err != nil || p.ChosenReward != 3 || p.RejectedVerdict != "wrong" {
			t.Errorf("pair %s: %v", line, err)
		}
	}
	if _, stderr, code := aha(t, "pairs", in, "-o", out, "--mix", "2"); code == 0 || !strings.Contains(stderr, "want C:W") {
		t.Errorf("bad --mix: exit %d, %s", code, stderr)
	}
}
