package rollout

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// manifestFor writes the manifest of a rollout file with args.
func manifestFor(t *testing.T, path string, args map[string]string) {
	t.Helper()
	b, _ := json.Marshal(Manifest{Args: args})
	if err := os.WriteFile(ManifestPath(path), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSource: the manifests of a run's files must agree on what decides
// the prompts; a relative data file is found beside them; the problems
// come back with the system message the run added.
func TestSource(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "d.jsonl"), []byte(`{"prompt": "2+2?", "answer": "4"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	args := map[string]string{"data": "d.jsonl", "system": "Be brief.", "prefill-think": "true"}
	manifestFor(t, a, args)
	manifestFor(t, b, args)
	src, ok, err := ReadSource([]string{a, b})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	problems, prefill, err := src.Problems("")
	if err != nil || !prefill || len(problems) != 1 || problems[0].Messages[0]["content"] != "Be brief." || problems[0].Answer != "4" {
		t.Errorf("problems %+v, prefill %v, %v", problems, prefill, err)
	}
	manifestFor(t, b, map[string]string{"data": "d.jsonl", "system": "Other."})
	if _, _, err := ReadSource([]string{a, b}); err == nil || !strings.Contains(err.Error(), "different --system") {
		t.Errorf("disagreeing manifests: %v", err)
	}
	if _, ok, err := ReadSource([]string{filepath.Join(dir, "none.jsonl")}); ok || err != nil {
		t.Errorf("no manifest: %v %v", ok, err)
	}
}

func TestExportCheck(t *testing.T) {
	good := Export{Tasks: []string{"deduction"}, Levels: []int{1, 2}, Format: "trl"}
	if err := good.Check(Split{"train", 1, []int{2, 3}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		e Export
		s Split
	}{
		{Export{Tasks: []string{"deduction"}, Levels: []int{1}, Format: "csv"}, Split{"train", 1, []int{1}}},
		{Export{Tasks: []string{"deduction"}, Levels: []int{6}, Format: "verl"}, Split{"train", 1, []int{1}}},
		{Export{Tasks: []string{"riddles"}, Levels: []int{1}, Format: "verl"}, Split{"train", 1, []int{1}}},
		{Export{Tasks: []string{"deduction"}, Style: "paper", Levels: []int{1}, Format: "verl"}, Split{"train", 1, []int{1}}},
		{good, Split{"train", 1, []int{1, 2, 3}}},
	} {
		if err := c.e.Check(c.s); err == nil {
			t.Errorf("%+v %+v accepted", c.e, c.s)
		}
	}
}
