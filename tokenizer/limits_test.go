package tokenizer

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// byteLevelJSON is a minimal byte-level BPE tokenizer.json around a vocab
// and merges.
func byteLevelJSON(vocab, merges string) string {
	return fmt.Sprintf(`{"model": {"type": "BPE", "vocab": %s, "merges": %s},
		"pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"}}`, vocab, merges)
}

// TestHFCountsAndPairs: ids index tables sized by the largest, so one must
// fit the file that names it; merges are pairs.
func TestHFCountsAndPairs(t *testing.T) {
	for _, tc := range []struct {
		name, json, want string
	}{
		{"a merge of three tokens", byteLevelJSON(`{"a": 0, "b": 1, "ab": 2}`, `[["a", "b", "c"]]`), `merge 0 ["a" "b" "c"] has 3 parts, want 2`},
		{"a merge of one token", byteLevelJSON(`{"a": 0, "b": 1, "ab": 2}`, `[["a"]]`), `merge 0 ["a"] has 1 parts, want 2`},
		{"a merge string of three tokens", byteLevelJSON(`{"a": 0, "b": 1, "ab": 2}`, `["a b c"]`), `merge 0 "a b c" is not two tokens`},
		{"the largest id", byteLevelJSON(`{"a": 9223372036854775807}`, `[]`), `model.vocab: id 9223372036854775807 of "a" is out of range`},
		{"an id beyond the file", byteLevelJSON(`{"a": 4194304}`, `[]`), `model.vocab: id 4194304 of "a" is out of range for a`},
		{"a negative id", byteLevelJSON(`{"a": -1}`, `[]`), `model.vocab: id -1 of "a" is out of range`},
		{"an added token beyond the file", `{"added_tokens": [{"id": 4194304, "content": "<x>"}],` + byteLevelJSON(`{"a": 0}`, `[]`)[1:],
			`added_tokens: id 4194304 of "<x>" is out of range`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), []byte(tc.json), 0o644); err != nil {
				t.Fatal(err)
			}
			var err error
			if alloc := allocated(func() { _, err = FromHF(dir) }); alloc > 50<<20 {
				t.Errorf("allocated %d MB", alloc>>20)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "tokenizer.json") {
				t.Errorf("error %v, want one naming tokenizer.json and containing %q", err, tc.want)
			}
		})
	}
}

// allocated is the number of bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
