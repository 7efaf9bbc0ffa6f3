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
