package rollout

import (
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func manifest(maxTokens string) Manifest {
	return Manifest{ModelSHA256: "abc", AhaVersion: "dev", TemplateSHA256: "fallback",
		Args: map[string]string{"max-tokens": maxTokens, "n": "2", "t": "0"}}
}

func record(p, s int) *Record {
	return &Record{PromptID: p, SampleIndex: s, Completion: "<think>x</think>", Logprobs: JSONLogprobs([]float32{-1, float32(math.Inf(-1))})}
}

func TestOutputResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	o, err := Open(path, manifest("16"), false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []Key{{0, 0}, {0, 1}, {1, 0}, {0, 1}} { // the repeat is not written
		if err := o.Append(record(k.PromptID, k.SampleIndex)); err != nil {
			t.Fatal(err)
		}
	}
	o.Close()
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), "\n"); n != 3 || !strings.Contains(string(data), `"<think>x</think>"`) || !strings.Contains(string(data), "-9999") {
		t.Fatalf("file holds %d lines:\n%s", n, data)
	}

	// A killed run's half line is dropped on resume.
	half := `{"prompt_id": 1, "sample_index": 1, "comp`
	os.WriteFile(path, append(data, half...), 0o644)
	o, err = Open(path, manifest("16"), false, []string{"t"})
	if err != nil {
		t.Fatal(err)
	}
	if o.Dropped != int64(len(half)) || o.Len() != 3 || !o.Done(Key{1, 0}) || o.Done(Key{1, 1}) {
		t.Errorf("resumed: dropped %d, %d records", o.Dropped, o.Len())
	}
	if err := o.Append(record(1, 1)); err != nil {
		t.Fatal(err)
	}
	o.Close()
	recs, err := ReadRecords(path)
	if err != nil || len(recs) != 4 || recs[3].Key() != (Key{1, 1}) || recs[0].Logprobs[1] != NegInfLogprob {
		t.Fatalf("after resume: %v, %+v", err, recs)
	}

	// A different argument is refused by name; one that may differ is not.
	m := manifest("16")
	m.Args["t"] = "8"
	if o, err := Open(path, m, false, []string{"t"}); err != nil {
		t.Errorf("a thread count change was refused: %v", err)
	} else {
		o.Close()
	}
	for _, c := range []struct {
		change func(*Manifest)
		want   string
	}{
		{func(m *Manifest) { m.Args["max-tokens"] = "32" }, `--max-tokens differs: it was "16", now "32"`},
		{func(m *Manifest) { m.Args["temp"] = "0.5" }, `--temp is new`},
		{func(m *Manifest) { delete(m.Args, "n") }, `--n is gone`},
		{func(m *Manifest) { m.ModelSHA256 = "def" }, "the model (sha256) differs"},
		{func(m *Manifest) { m.AhaVersion = "v2" }, "aha's version differs"},
		{func(m *Manifest) { m.TemplateSHA256 = "0123" }, "the chat template (sha256) differs"},
	} {
		m := manifest("16")
		c.change(&m)
		if _, err := Open(path, m, false, nil); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "--force") {
			t.Errorf("error %v, want one containing %q", err, c.want)
		}
	}

	// --force starts over.
	o, err = Open(path, manifest("32"), true, nil)
	if err != nil || o.Len() != 0 {
		t.Fatalf("--force: %v", err)
	}
	o.Close()
	if recs, _ := ReadRecords(path); len(recs) != 0 {
		t.Errorf("--force kept %d records", len(recs))
	}
}

func TestOutputRefusesUnknownFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	os.WriteFile(path, []byte("{}\n"), 0o644)
	if _, err := Open(path, manifest("16"), false, nil); err == nil || !strings.Contains(err.Error(), "has no manifest") {
		t.Errorf("error %v", err)
	}
}

func TestReadRecordsBadLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	os.WriteFile(path, []byte("{\"prompt_id\": 1}\nnot json\n{\"prompt_id\": 2}\n"), 0o644)
	if _, err := ReadRecords(path); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error %v, want one naming line 2", err)
	}
	// A damaged last line, even a complete one, is what a crash leaves.
	os.WriteFile(path, []byte("{\"prompt_id\": 1}\n{\"prompt_id\": 2, \"compl\n"), 0o644)
	if recs, err := ReadRecords(path); err != nil || len(recs) != 1 {
		t.Errorf("%v, %d records", err, len(recs))
	}
}

func TestParseShard(t *testing.T) {
	for _, c := range []struct {
		s, env string
		want   Shard
		err    bool
	}{
		{"", "", All, false},
		{"1/4", "", Shard{1, 4}, false},
		{"4", "3", Shard{3, 4}, false},
		{"1/4", "3", Shard{1, 4}, false}, // explicit wins
		{"4", "", Shard{}, true},
		{"4/4", "", Shard{}, true},
		{"-1/4", "", Shard{}, true},
		{"0/0", "", Shard{}, true},
		{"a/b", "", Shard{}, true},
		{"4", "x", Shard{}, true},
	} {
		got, err := ParseShard(c.s, c.env)
		if got != c.want || (err != nil) != c.err {
			t.Errorf("ParseShard(%q, %q) = %v, %v", c.s, c.env, got, err)
		}
	}
	seen := map[int]int{}
	for k := range 3 {
		for i := range 10 {
			if (Shard{k, 3}).Has(i) {
				seen[i]++
			}
		}
	}
	for i := range 10 {
		if seen[i] != 1 {
			t.Errorf("prompt %d is in %d shards", i, seen[i])
		}
	}
}

func TestMissing(t *testing.T) {
	done := map[Key]bool{{5, 1}: true, {5, 2}: true, {5, 5}: true, {4, 0}: true}
	got := Missing(func(k Key) bool { return done[k] }, 5, 7)
	if want := [][2]int{{0, 1}, {3, 5}, {6, 7}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Missing = %v, want %v", got, want)
	}
	if got := Missing(func(Key) bool { return false }, 0, 4); !reflect.DeepEqual(got, [][2]int{{0, 4}}) {
		t.Errorf("nothing done: %v", got)
	}
	if SampleSeed(7, 3, 4, 2) != 7+12+2 {
		t.Error("SampleSeed")
	}
}

// binomial counts with big integers: the reference for PassAtK.
func binomial(n, k int) *big.Int { return new(big.Int).Binomial(int64(n), int64(k)) }

func TestPassAtK(t *testing.T) {
	for n := 1; n <= 30; n++ {
		for c := 0; c <= n; c++ {
			for k := 1; k <= n; k++ {
				want := 1.0
				if n-c >= k {
					r, _ := new(big.Rat).SetFrac(binomial(n-c, k), binomial(n, k)).Float64()
					want = 1 - r
				}
				if got := PassAtK(n, c, k); math.Abs(got-want) > 1e-12 {
					t.Fatalf("PassAtK(%d, %d, %d) = %v, want %v", n, c, k, got, want)
				}
			}
		}
	}
	if PassAtK(4, 1, 1) != 0.25 || PassAtK(4, 2, 5) != 0 || PassAtK(10, 0, 3) != 0 {
		t.Error("edge cases")
	}
}
