package model

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/model/gguf"
)

// tokenizerKVs returns the tokenizer.* metadata of a GGUF file.
func tokenizerKVs(f *gguf.File) []gguf.KV {
	var kv []gguf.KV
	for _, e := range f.KV {
		if strings.HasPrefix(e.Key, "tokenizer.") {
			kv = append(kv, e)
		}
	}
	return kv
}

// TestHFTokenizerMatchesConverter converts each tiny model's tokenizer.json
// and compares the keys, in order, with those llama.cpp's converter wrote
// into the shipped GGUF of the same model.
func TestHFTokenizerMatchesConverter(t *testing.T) {
	for _, tc := range []struct{ dir, gguf string }{
		{"qwen2-tiny/hf", "qwen2-tiny/qwen2-tiny-f16.gguf"},
		{"qwen3-tiny/hf", "qwen3-tiny/qwen3-tiny-bf16.gguf"},
		{"llama3-tiny/hf", "llama3-tiny/llama3-tiny-f16.gguf"},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			dir := shared.Path(t, "models/"+tc.dir)
			f, err := gguf.Open(shared.Path(t, "models/"+tc.gguf))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			c, err := readHFConfig(dir)
			if err != nil {
				t.Fatal(err)
			}
			ids, err := hfConfigTokenIDs(dir)
			if err != nil {
				t.Fatal(err)
			}
			got, err := hfTokenizerMetadata(dir, c.Architecture, c.VocabSize, ids)
			if err != nil {
				t.Fatal(err)
			}
			want := tokenizerKVs(f)
			if len(got) != len(want) {
				t.Errorf("%d keys, want %d:\n got %v\nwant %v", len(got), len(want), keys(got), keys(want))
			}
			for i := range min(len(got), len(want)) {
				if got[i].Key != want[i].Key {
					t.Errorf("key %d is %s, want %s", i, got[i].Key, want[i].Key)
					continue
				}
				if !sameValue(got[i].Value, want[i].Value) {
					t.Errorf("%s differs: %s", got[i].Key, describeDiff(got[i].Value, want[i].Value))
				}
			}
		})
	}
}

func keys(kv []gguf.KV) []string {
	var s []string
	for _, e := range kv {
		s = append(s, e.Key)
	}
	return s
}

// sameValue compares a value as the writer takes it (a plain slice) with
// one read back from a file (an Array).
func sameValue(got, want any) bool {
	if a, ok := want.(gguf.Array); ok {
		want = a.Values
	}
	if a, ok := got.(gguf.Array); ok {
		got = a.Values
	}
	return reflect.DeepEqual(got, want)
}

func describeDiff(got, want any) string {
	if a, ok := want.(gguf.Array); ok {
		want = a.Values
	}
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	if g.Kind() != reflect.Slice || w.Kind() != reflect.Slice {
		return fmt.Sprintf("%v vs %v", got, want)
	}
	for i := range min(g.Len(), w.Len()) {
		if !reflect.DeepEqual(g.Index(i).Interface(), w.Index(i).Interface()) {
			return fmt.Sprintf("first at %d: %q vs %q", i, g.Index(i), w.Index(i))
		}
	}
	return fmt.Sprintf("lengths %d and %d", g.Len(), w.Len())
}
