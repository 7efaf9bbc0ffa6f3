package convert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aha-inference/aha/engine"
	"github.com/aha-inference/aha/gguf"
	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/kernels"
	"github.com/aha-inference/aha/model"
	"github.com/aha-inference/aha/model/builtin"
	"github.com/aha-inference/aha/quant"
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
			c, err := model.ConfigFromHF(dir)
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

// exportBound is how far an exported element may land from its source
// value x, given amax, the largest magnitude in its block: nothing for F32
// (or for F16 and BF16 when the source values are exact in them), half an
// ulp for F16 and BF16, and for the quantized types a fraction of
// the block's range generous enough for each format's scale rounding yet
// far below the error of a misplaced row (≈ amax). The quant package tests
// each format's exact bound; this one checks the export around it.
func exportBound(typ quant.Type, x, amax float32, exact bool) float64 {
	ax, am := math.Abs(float64(x)), float64(amax)
	switch {
	case typ == quant.F32 || exact && typ.BlockSize() == 1:
		return 0
	}
	switch typ {
	case quant.F16:
		return ax/2048 + 0x1p-25
	case quant.BF16:
		return ax / 256
	case quant.Q8_0:
		return am * (1.0/254 + 1.0/1024)
	case quant.Q4_0:
		return am * (1.0/8 + 1.0/128)
	case quant.Q6_K:
		return am / 16
	case quant.Q4_K:
		return am / 4
	}
	panic("exportBound: no bound for " + typ.String())
}

// compareWeights checks every tensor of got (an export of src as typ)
// against src: the type the export must have chosen, vectors equal, and
// every matrix element within exportBound. Rows of llama Q/K projections
// exported from a Hugging Face folder are compared through the permutation
// the export applies. exact says the source values are exact in F16 and
// BF16.
func compareWeights(t *testing.T, src, got *model.Model, typ quant.Type, exact bool) {
	t.Helper()
	ws, gs := src.Tensors(), got.Tensors()
	if len(ws) != len(gs) {
		t.Fatalf("%d tensors, source has %d", len(gs), len(ws))
	}
	permute := src.Config.RopeLayout != got.Config.RopeLayout
	for i, w := range ws {
		g := gs[i]
		if w.IsVector {
			if !reflect.DeepEqual(w.Vector, g.Vector) {
				t.Errorf("%s differs from the source", g.GGUF)
			}
			continue
		}
		sm, gm := w.Matrix, g.Matrix
		if want := matrixType(typ, sm.Cols); gm.Type != want {
			t.Errorf("%s is %v, want %v", g.GGUF, gm.Type, want)
			continue
		}
		var perm []int
		if h := src.Config.QKHeads(g.GGUF); h > 0 && permute {
			perm = interleavePermutation(sm.Rows, h)
		}
		bs := gm.Type.BlockSize()
		x, y := make([]float32, sm.Cols), make([]float32, gm.Cols)
		for r := range gm.Rows {
			s := r
			if perm != nil {
				s = perm[r]
			}
			sm.DequantizeRow(s, x)
			gm.DequantizeRow(r, y)
			for b := 0; b < len(x); b += bs {
				var amax float32
				for _, v := range x[b : b+bs] {
					amax = max(amax, float32(math.Abs(float64(v))))
				}
				for j := b; j < b+bs; j++ {
					if e := math.Abs(float64(x[j] - y[j])); !(e <= exportBound(gm.Type, x[j], amax, exact)) {
						t.Fatalf("%s row %d element %d: %g exported as %v %g, error %g > %g", g.GGUF, r, j, x[j], gm.Type, y[j], e, exportBound(gm.Type, x[j], amax, exact))
					}
				}
			}
		}
	}
}

// TestExportRoundTrip exports each model as each weight type, loads the
// result, and checks its config and every tensor against the source. A
// Hugging Face folder's export must have the config of the GGUF llama.cpp's
// converter made of it, and exported in that GGUF's own weight type it must
// hold the very same tensors, byte for byte (their values are exact in
// both types): names, shapes, the permuted llama Q/K rows, rope_freqs.
func TestExportRoundTrip(t *testing.T) {
	allTypes := []quant.Type{quant.F32, quant.F16, quant.BF16, quant.Q8_0, quant.Q4_0, quant.Q4_K, quant.Q6_K}
	for _, tc := range []struct {
		src, converted string       // converted: the shipped GGUF of an HF folder
		types          []quant.Type // the first is the converted GGUF's
		all            bool         // and, unless -short, every other type
	}{
		{"", "", allTypes, true}, // the embedded stories260K
		{"models/qwen2-tiny/hf", "models/qwen2-tiny/qwen2-tiny-f16.gguf", []quant.Type{quant.F16, quant.Q4_K}, false},
		{"models/qwen3-tiny/hf", "models/qwen3-tiny/qwen3-tiny-bf16.gguf", []quant.Type{quant.BF16, quant.Q4_K}, true},
		{"models/llama3-tiny/hf", "models/llama3-tiny/llama3-tiny-f16.gguf", []quant.Type{quant.F16, quant.Q4_K}, false},
		// A llama GGUF is already interleaved and carries its rope_freqs:
		// re-exported in its own type it is the same file's tensors.
		{"models/llama3-tiny/llama3-tiny-f16.gguf", "models/llama3-tiny/llama3-tiny-f16.gguf", []quant.Type{quant.F16, quant.Q8_0}, false},
	} {
		name := tc.src
		if name == "" {
			name = builtin.Name
		}
		t.Run(name, func(t *testing.T) {
			path := tc.src
			if path != "" {
				path = shared.Path(t, path)
			}
			src, err := model.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			want := src.Config
			var conv *model.Model
			if tc.converted != "" {
				if conv, err = model.Load(shared.Path(t, tc.converted)); err != nil {
					t.Fatal(err)
				}
				defer conv.Close()
				want = conv.Config
			}
			types := tc.types
			if tc.all && !testing.Short() {
				for _, typ := range allTypes {
					if !slices.Contains(types, typ) {
						types = append(types, typ)
					}
				}
			}
			// Export once through the public API; the other types reuse
			// the parsed source (parsing a tokenizer.json takes a while).
			out := filepath.Join(t.TempDir(), "out.gguf")
			if err := Export(src, out, Options{Type: types[0]}); err != nil {
				t.Fatal(err)
			}
			name, tok, tensors, err := exportSource(src)
			if err != nil {
				t.Fatal(err)
			}
			for i, typ := range types {
				if i > 0 {
					if err := WriteGGUF(out, &src.Config, name, tok, tensors, Options{Type: typ}); err != nil {
						t.Fatalf("export %v: %v", typ, err)
					}
				}
				got, err := model.Load(out)
				if err != nil {
					t.Fatalf("%v: %v", typ, err)
				}
				if !reflect.DeepEqual(got.Config, want) {
					t.Errorf("%v: config\n %+v\nwant\n %+v", typ, got.Config, want)
				}
				if ft, err := got.GGUF.Uint("general.file_type"); err != nil || uint32(ft) != fileTypes[typ] {
					t.Errorf("%v: general.file_type %d, %v; want %d", typ, ft, err, fileTypes[typ])
				}
				// The tiny models' values are k·2^-e with |k| ≤ 255.
				compareWeights(t, src, got, typ, tc.converted != "")
				if conv != nil && i == 0 {
					sameTensors(t, got.GGUF, conv.GGUF)
				}
				got.Close()
			}
		})
	}
}

// sameTensors checks that two GGUF files hold the same tensors: names,
// types, shapes and bytes (the order in the file may differ).
func sameTensors(t *testing.T, got, want *gguf.File) {
	t.Helper()
	if len(got.Tensors) != len(want.Tensors) {
		t.Errorf("%d tensors, want %d", len(got.Tensors), len(want.Tensors))
	}
	for _, w := range want.Tensors {
		g := got.Tensor(w.Name)
		switch {
		case g == nil:
			t.Errorf("tensor %s is missing", w.Name)
		case g.Type != w.Type || !reflect.DeepEqual(g.Shape, w.Shape):
			t.Errorf("tensor %s is %v %v, want %v %v", w.Name, g.Type, g.Shape, w.Type, w.Shape)
		case w.Name == "rope_freqs.weight":
			// RopeScaling.FreqFactors works in float64, the converter
			// from float32 frequencies: a few ulps apart.
			gv, wv := make([]float32, g.Elements()), make([]float32, w.Elements())
			if quant.Dequantize(g.Type, g.Data, gv) != nil || quant.Dequantize(w.Type, w.Data, wv) != nil {
				t.Fatal("rope_freqs.weight does not decode")
			}
			for i := range wv {
				if math.Abs(float64(gv[i]-wv[i])) > 1e-6*math.Abs(float64(wv[i])) {
					t.Errorf("rope_freqs.weight[%d] = %.9g, want %.9g", i, gv[i], wv[i])
				}
			}
		case !bytes.Equal(g.Data, w.Data):
			t.Errorf("tensor %s: data differs", w.Name)
		}
	}
}

// TestExportQ8_0Greedy checks that a Q8_0 export of stories260K continues
// "Once upon a time" with the same greedy tokens as the F32 original.
func TestExportQ8_0Greedy(t *testing.T) {
	src, err := model.Load("")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "q8_0.gguf")
	if err := Export(src, out, Options{Type: quant.Q8_0}); err != nil {
		t.Fatal(err)
	}
	q, err := model.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	src.SetBackend(kernels.Reference{})
	q.SetBackend(kernels.Reference{})
	prompt := []int{1, 403, 407, 261, 378}
	want, got := greedy(t, src, prompt, 16), greedy(t, q, prompt, 16)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Q8_0 export continues with %v, the source with %v", got, want)
	}
}

// TestMergesArePairs: merges written into a GGUF are two tokens each.
func TestMergesArePairs(t *testing.T) {
	for _, raw := range []string{`["a b c"]`, `["ab"]`, `[["a", "b", "c"]]`, `[["a"]]`} {
		if m, err := parseMerges(json.RawMessage(raw)); err == nil {
			t.Errorf("%s: merges %q, want an error", raw, m)
		}
	}
	if m, err := parseMerges(json.RawMessage(`["a b", ["c d", "e"]]`)); err == nil {
		t.Errorf("a mixed list: merges %q, want an error", m)
	}
	m, err := parseMerges(json.RawMessage(`[["a b", "c"]]`))
	if err != nil || len(m) != 1 || m[0] != "aĠb c" {
		t.Errorf("a pair with a space: %q, %v", m, err)
	}
}

// greedy continues prompt with n greedy tokens through the engine.
func greedy(t *testing.T, m *model.Model, prompt []int, n int) []int {
	t.Helper()
	e, err := engine.New(m, engine.Options{CacheTokens: len(prompt) + n + 16})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	out, err := e.Generate(t.Context(), engine.Request{Prompt: prompt, MaxTokens: n, IgnoreEOS: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out.Samples[0].Tokens
}
