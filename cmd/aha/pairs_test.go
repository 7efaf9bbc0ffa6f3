package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aha-inference/aha/rollout"
)

// writeRollout writes a rollout file and its manifest: kinds[p] lists
// prompt p's samples, 'c' correct, 'w' wrong, 't' correct but truncated,
// 'u' wrong and truncated, 'f' format failed. Prompt p's answer is
// answers[p].
func writeRollout(t *testing.T, path string, args map[string]string, answers []string, kinds ...string) {
	t.Helper()
	var b strings.Builder
	for p, ks := range kinds {
		for j, k := range ks {
			r := rollout.Record{PromptID: p, SampleIndex: j, Task: "math", Prompt: "<rendered>", Answer: answers[p],
				Completion: fmt.Sprintf("route %d.%d %c</think><answer>x</answer>", p, j, k), FinishReason: "stop", Verdict: "wrong"}
			switch k {
			case 'c':
				r.Verdict, r.Reward = "correct", 1
			case 't':
				r.Verdict, r.Reward, r.FinishReason = "correct", 1, "length"
			case 'u':
				r.FinishReason = "length"
			case 'f':
				r.Verdict = "format_error"
			}
			line, _ := json.Marshal(r)
			b.Write(append(line, '\n'))
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	m, _ := json.Marshal(rollout.Manifest{Args: args})
	if err := os.WriteFile(rollout.ManifestPath(path), m, 0o644); err != nil {
		t.Fatal(err)
	}
}

// readRows reads a JSONL output.
func readRows(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var row map[string]any
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		rows = append(rows, row)
	}
	return rows
}

func pairsFixture(t *testing.T) (dir, in string) {
	dir = t.TempDir()
	data := filepath.Join(dir, "math.jsonl")
	os.WriteFile(data, []byte(`{"prompt": "What is 2+2?", "answer": "4"}
{"prompt": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "What is 3+3?"}], "answer": "6"}
{"prompt": "What is 4+4?", "answer": "8"}
`), 0o644)
	in = filepath.Join(dir, "r.jsonl")
	writeRollout(t, in, map[string]string{"data": "math.jsonl", "system": "Think first.", "prefill-think": "true"}, []string{"4", "6", "8"},
		"ccwtuf", "cccwwwuf", "ttuu")
	return dir, in
}

// TestPairsDPO: truncated and format-failed samples stay out unless let
// in, and the prompt is the conversation the rollout sent, in TRL's
// conversational layout.
func TestPairsDPO(t *testing.T) {
	dir, in := pairsFixture(t)
	out := filepath.Join(dir, "dpo.jsonl")
	_, stderr, code := aha(t, "pairs", in, "-o", out, "--mix", "3:3")
	if code != 0 || !strings.Contains(stderr, "11 pairs") || !strings.Contains(stderr, "1 problems had no correct") || !strings.Contains(stderr, "9 of 18 samples left out") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, row := range readRows(t, out) {
		chosen := row["chosen"].([]any)[0].(map[string]any)
		rejected := row["rejected"].([]any)[0].(map[string]any)
		if chosen["role"] != "assistant" || !strings.HasPrefix(chosen["content"].(string), "<think>route") ||
			!strings.Contains(chosen["content"].(string), " c</think>") || !strings.Contains(rejected["content"].(string), " w</think>") {
			t.Errorf("pair %v", row)
		}
		prompt := row["prompt"].([]any)
		first := prompt[0].(map[string]any)
		if want := map[float64]string{0: "Think first.", 1: "Be terse."}[row["prompt_id"].(float64)]; first["role"] != "system" || first["content"] != want {
			t.Errorf("prompt %v", prompt)
		}
	}
	// Let in, the truncated and format-failed ones pair too, prompt 2 as well.
	_, stderr, _ = aha(t, "pairs", in, "-o", out, "--mix", "9:9", "--keep-truncated", "--keep-format-failed")
	if !strings.Contains(stderr, "28 pairs") { // 3×3 + 3×5 + 2×2
		t.Errorf("everything kept: %s", stderr)
	}
	_, stderr, _ = aha(t, "pairs", in, "-o", out, "--mix", "9:9", "--keep-format-failed")
	if !strings.Contains(stderr, "7 of 18 samples left out") {
		t.Errorf("format-failed kept: %s", stderr)
	}
	if _, stderr, code := aha(t, "pairs", in, "-o", out, "--mix", "2"); code == 0 || !strings.Contains(stderr, "want C:W") {
		t.Errorf("bad --mix: exit %d, %s", code, stderr)
	}
	// Without a manifest the prompt is the rendered text (TRL's standard layout).
	os.Remove(rollout.ManifestPath(in))
	aha(t, "pairs", in, "-o", out)
	if rows := readRows(t, out); len(rows) != 2 || rows[0]["prompt"] != "<rendered>" || !strings.HasPrefix(rows[0]["chosen"].(string), "route") {
		t.Errorf("standard layout: %v", rows)
	}
}

func TestPairsKTO(t *testing.T) {
	dir, in := pairsFixture(t)
	out := filepath.Join(dir, "kto.jsonl")
	if _, stderr, code := aha(t, "pairs", in, "-o", out, "--format", "kto", "--mix", "9:9"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows := readRows(t, out)
	labels := map[bool]int{}
	for _, row := range rows {
		label := row["label"].(bool)
		labels[label]++
		content := row["completion"].([]any)[0].(map[string]any)["content"].(string)
		kind := strings.TrimSuffix(content, "</think><answer>x</answer>")
		if kind = kind[len(kind)-1:]; kind != map[bool]string{true: "c", false: "w"}[label] {
			t.Errorf("row %v", row)
		}
	}
	if labels[true] != 5 || labels[false] != 4 {
		t.Errorf("labels %v, want 5 true and 4 false", labels)
	}
}

// TestPairsMRPV: every row holds the requested mix of routes, marked when
// asked, and the EAAI stages fade them to none.
func TestPairsMRPV(t *testing.T) {
	dir, in := pairsFixture(t)
	out := filepath.Join(dir, "mrpv.jsonl")
	if _, stderr, code := aha(t, "pairs", in, "-o", out, "--format", "mrpv", "--routes", "3", "--positives", "2", "--mark-routes"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows := readRows(t, out)
	if len(rows) != 2 { // prompts 0 and 1 have 2 right and a wrong; prompt 2 none usable
		t.Fatalf("%d rows", len(rows))
	}
	row := rows[1]
	msgs := row["prompt"].([]any)
	user := msgs[len(msgs)-1].(map[string]any)["content"].(string)
	if row["answer"] != "6" || row["routes"].(float64) != 3 || row["positive_routes"].(float64) != 2 ||
		strings.Count(user, "(correct):\n<think>route 1.") != 2 || strings.Count(user, "(incorrect):\n<think>route 1.") != 1 ||
		!strings.HasPrefix(user, "What is 3+3?\n\nHere are 3 attempted solutions") {
		t.Errorf("row %v", row)
	}

	stages := 3
	if _, stderr, code := aha(t, "pairs", in, "-o", out, "--format", "mrpv", "--routes", "4", "--positives", "2", "--eaai-stages", fmt.Sprint(stages)); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var prev string
	for s := 1; s <= stages; s++ {
		rows := readRows(t, filepath.Join(dir, fmt.Sprintf("mrpv-stage%d.jsonl", s)))
		keep, keepPos := rollout.EAAISchedule(4, 2, s-1, stages)
		if len(rows) != 1 || rows[0]["routes"].(float64) != float64(keep) || rows[0]["positive_routes"].(float64) != float64(keepPos) {
			t.Fatalf("stage %d: %v, want %d routes, %d correct", s, rows, keep, keepPos)
		}
		msgs := rows[0]["prompt"].([]any)
		user := msgs[len(msgs)-1].(map[string]any)["content"].(string)
		if strings.Contains(user, "(correct)") || strings.Count(user, "\nRoute ") != keep {
			t.Errorf("stage %d prompt:\n%s", s, user)
		}
		// Each stage's routes are among the last one's.
		for _, line := range strings.Split(user, "\n") {
			if strings.HasPrefix(line, "<think>route") && s > 1 && !strings.Contains(prev, line) {
				t.Errorf("stage %d shows %q, faded or new", s, line)
			}
		}
		if s == stages && user != "What is 3+3?" {
			t.Errorf("last stage: %q", user)
		}
		prev = user
	}
	for _, bad := range [][]string{{"--format", "dpo", "--eaai-stages", "3"}, {"--format", "mrpv", "--eaai-stages", "1"}, {"--format", "mrpv", "--positives", "5"}, {"--format", "xyz"}} {
		if _, stderr, code := aha(t, append([]string{"pairs", in, "-o", out}, bad...)...); code == 0 {
			t.Errorf("%v: exit %d, %s", bad, code, stderr)
		}
	}
}
