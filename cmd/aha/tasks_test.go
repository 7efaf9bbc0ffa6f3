package main

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/aha-inference/aha/rollout"
	"github.com/aha-inference/aha/rollout/data"
)

// byPrompt reads a rollout file's records in prompt order.
func byPrompt(t *testing.T, path string) []rollout.Record {
	recs := recordSetRecords(t, path)
	slices.SortFunc(recs, func(a, b rollout.Record) int { return a.PromptID - b.PromptID })
	return recs
}

// Exported tasks round-trip: a rollout of an exported file, in either
// format and style, samples the prompts, answers, tasks and levels that a
// rollout of the same tasks generated on the fly samples.
func TestTasksExportRoundTrip(t *testing.T) {
	dir := t.TempDir()
	sample := []string{"-n", "1", "--max-tokens", "4", "--seed", "11"}
	for _, style := range []string{"aha", "maa"} {
		direct := filepath.Join(dir, style+".jsonl")
		mustRollout(t, append([]string{"rollout", "-o", direct, "--task", "deduction", "--style", style, "--level", "2", "--count", "3"}, sample...)...)
		want := byPrompt(t, direct)
		for format, ext := range map[string]string{"verl": ".parquet", "trl": ".jsonl"} {
			out := filepath.Join(dir, style+"-"+format)
			mustRollout(t, "tasks", "export", "-o", out, "--task", "deduction", "--style", style, "--level", "1,2", "--count", "2,3",
				"--test-count", "1", "--seed", "11", "--format", format)
			rolled := filepath.Join(dir, style+"-"+format+".jsonl")
			mustRollout(t, append([]string{"rollout", "-o", rolled, "--data", filepath.Join(out, "train"+ext)}, sample...)...)
			got := byPrompt(t, rolled)
			if len(got) != 5 {
				t.Fatalf("%s %s: %d records of 2+3 rows", style, format, len(got))
			}
			for i, w := range want { // level 2's rows follow level 1's two
				if g := got[2+i]; g.Prompt != w.Prompt || g.Answer != w.Answer || g.Task != w.Task || g.Level != w.Level {
					t.Errorf("%s %s: exported row %d reads back as\n%+v\nwant\n%+v", style, format, 2+i, g, w)
				}
			}
			// The test split is instance 0 of each level from another seed.
			train, err1 := data.Read(filepath.Join(out, "train"+ext), data.Fields{})
			test, err2 := data.Read(filepath.Join(out, "test"+ext), data.Fields{})
			if err1 != nil || err2 != nil || len(test) != 2 || test[0].Level != 1 || test[1].Level != 2 ||
				test[1].Messages[1]["content"] == train[2].Messages[1]["content"] {
				t.Errorf("%s %s: test split %+v, %v %v", style, format, test, err1, err2)
			}
		}
	}
	for _, bad := range [][]string{
		{"-o", dir, "--format", "csv"},
		{"-o", dir, "--level", "1,2", "--count", "1,2,3"},
		{"-o", dir, "--seed", "3", "--test-seed", "3"},
		{"-o", dir, "--task", "induction", "--style", "paper"},
		{"-o", dir, "--level", "6"},
		{"--level", "1"},
	} {
		if _, stderr, code := aha(t, append([]string{"tasks", "export"}, bad...)...); code != 2 {
			t.Errorf("tasks export %q: exit %d, want 2\n%s", bad, code, stderr)
		}
	}
}
