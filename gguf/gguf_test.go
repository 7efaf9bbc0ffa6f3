package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/model/builtin"
	"github.com/aha-inference/aha/quant"
)

func TestStories260K(t *testing.T) {
	f, err := Parse(builtin.Stories260K)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 3 || len(f.Tensors) != 48 || len(f.KV) != 19 || f.Alignment != 32 {
		t.Fatalf("version %d, %d tensors, %d keys, alignment %d; want 3, 48, 19, 32", f.Version, len(f.Tensors), len(f.KV), f.Alignment)
	}
	arch, err := f.String("general.architecture")
	if err != nil || arch != "llama" {
		t.Fatalf("architecture %q, %v", arch, err)
	}
	if n, err := f.Uint("llama.block_count"); err != nil || n != 5 {
		t.Fatalf("block_count %d, %v", n, err)
	}
	if eps, err := f.Float("llama.attention.layer_norm_rms_epsilon"); err != nil || float32(eps) != 1e-5 {
		t.Fatalf("eps %v, %v", eps, err)
	}
	tokens, err := f.Strings("tokenizer.ggml.tokens")
	if err != nil || len(tokens) != 512 || tokens[1] != "<s>" || tokens[3] != "<0x00>" {
		t.Fatalf("tokens: %d, %v", len(tokens), err)
	}
	emb := f.Tensor("token_embd.weight")
	if emb == nil || emb.Type != quant.F32 || !reflect.DeepEqual(emb.Shape, []uint64{64, 512}) || len(emb.Data) != 64*512*4 {
		t.Fatalf("token_embd.weight: %+v", emb)
	}
	// llama2.c shares its classifier with the embedding; the converter wrote a copy.
	if !bytes.Equal(emb.Data, f.Tensor("output.weight").Data) {
		t.Error("output.weight differs from token_embd.weight")
	}
}

func TestAccessorErrors(t *testing.T) {
	f, err := Parse(builtin.Stories260K)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		get  func() error
		want string
	}{
		{func() error { _, err := f.String("no.such.key"); return err }, `"no.such.key" is missing`},
		{func() error { _, err := f.String("llama.block_count"); return err }, `"llama.block_count" holds uint32, want string`},
		{func() error { _, err := f.Uint("general.architecture"); return err }, "want an unsigned integer"},
		{func() error { _, err := f.Float("general.architecture"); return err }, "want a float"},
		{func() error { _, err := f.Strings("tokenizer.ggml.scores"); return err }, "holds array of float32, want array of string"},
		{func() error { _, err := f.Bool("llama.block_count"); return err }, "want bool"},
	} {
		err := tc.get()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %v, want an error containing %q", err, tc.want)
		}
	}
}

func TestSharedFiles(t *testing.T) {
	for _, rel := range []string{
		"models/stories260K/stories260K-q8_0.gguf",
		"models/qwen2-tiny/qwen2-tiny-f16.gguf",
		"models/qwen3-tiny/qwen3-tiny-bf16.gguf",
		"models/llama3-tiny/llama3-tiny-f16.gguf",
		"testdata/vocab/ggml-vocab-llama-spm.gguf",
		"testdata/vocab/ggml-vocab-qwen2.gguf",
	} {
		t.Run(filepath.Base(rel), func(t *testing.T) {
			f, err := Open(shared.Path(t, rel))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.String("general.architecture"); err != nil {
				t.Error(err)
			}
			if _, err := f.Strings("tokenizer.ggml.tokens"); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestWriteRoundTrip writes every kind of metadata value and a few tensors,
// reads the file back, and expects the same values.
func TestWriteRoundTrip(t *testing.T) {
	w := &Writer{}
	values := []KV{
		{"u8", uint8(7)}, {"i8", int8(-7)}, {"u16", uint16(700)}, {"i16", int16(-700)},
		{"u32", uint32(70000)}, {"i32", int32(-70000)}, {"f32", float32(1.5)}, {"bool", true},
		{"str", "héllo"}, {"u64", uint64(1) << 40}, {"i64", int64(-1) << 40}, {"f64", 2.25},
		{"strs", Array{TypeString, []string{"a", "", "ccc"}}},
		{"f32s", Array{TypeFloat32, []float32{1, -2, 3.5}}},
		{"nested", Array{TypeArray, []Array{{TypeInt32, []int32{1, 2}}, {TypeString, []string{"x"}}}}},
		{"empty", Array{TypeUint8, []uint8{}}},
	}
	for _, kv := range values {
		w.Set(kv.Key, kv.Value)
	}
	a := bytes.Repeat([]byte{1, 2, 3, 4}, 3*5) // 3×5 F32
	b := make([]byte, 2*34)                    // 64 Q8_0 elements
	b[0] = 0x3c
	if err := w.AddTensor("a", quant.F32, []uint64{3, 5}, func() ([]byte, error) { return a, nil }); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensor("b", quant.Q8_0, []uint64{64}, func() ([]byte, error) { return b, nil }); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "x.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !reflect.DeepEqual(f.KV, values) {
		t.Errorf("metadata:\n got %#v\nwant %#v", f.KV, values)
	}
	if ta := f.Tensor("a"); ta == nil || !bytes.Equal(ta.Data, a) || ta.Offset != 0 {
		t.Errorf("tensor a: %+v", ta)
	}
	if tb := f.Tensor("b"); tb == nil || !bytes.Equal(tb.Data, b) || tb.Offset%32 != 0 {
		t.Errorf("tensor b: %+v", tb)
	}
}

func TestWriterRejects(t *testing.T) {
	w := &Writer{}
	data := func() ([]byte, error) { return nil, nil }
	if err := w.AddTensor("q", quant.Q8_0, []uint64{33}, data); err == nil {
		t.Error("a Q8_0 row of 33 elements was accepted")
	}
	if err := w.AddTensor("x", quant.F32, nil, data); err == nil {
		t.Error("a tensor without dimensions was accepted")
	}
	if err := w.AddTensor("x", quant.F32, []uint64{4}, data); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteTo(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "got 0 bytes of data, want 16") {
		t.Errorf("short tensor data: %v", err)
	}
}

// header builds the start of a GGUF file by hand, to test what the writer
// would never produce.
func header(version uint32, nTensors, nKV uint64) []byte {
	b := []byte(Magic)
	b = binary.LittleEndian.AppendUint32(b, version)
	b = binary.LittleEndian.AppendUint64(b, nTensors)
	return binary.LittleEndian.AppendUint64(b, nKV)
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

func tensorInfo(b []byte, name string, typ quant.Type, offset uint64, shape ...uint64) []byte {
	b = appendString(b, name)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(shape)))
	for _, d := range shape {
		b = binary.LittleEndian.AppendUint64(b, d)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(typ))
	return binary.LittleEndian.AppendUint64(b, offset)
}

func TestBadFiles(t *testing.T) {
	hugeString := appendString(header(3, 0, 1), "k")
	hugeString = binary.LittleEndian.AppendUint32(hugeString, uint32(TypeString))
	hugeString = binary.LittleEndian.AppendUint64(hugeString, 1<<60)

	hugeArray := appendString(header(3, 0, 1), "k")
	hugeArray = binary.LittleEndian.AppendUint32(hugeArray, uint32(TypeArray))
	hugeArray = binary.LittleEndian.AppendUint32(hugeArray, uint32(TypeUint64))
	hugeArray = binary.LittleEndian.AppendUint64(hugeArray, 1<<40)

	withData := func(infos []byte) []byte {
		b := append([]byte(nil), infos...)
		for len(b)%32 != 0 {
			b = append(b, 0)
		}
		return append(b, make([]byte, 64)...)
	}
	overlap := tensorInfo(header(3, 2, 0), "a", quant.F32, 0, 8)
	overlap = withData(tensorInfo(overlap, "b", quant.F32, 0, 8))
	misaligned := withData(tensorInfo(header(3, 1, 0), "a", quant.F32, 4, 4))
	pastEnd := withData(tensorInfo(header(3, 1, 0), "a", quant.F32, 32, 16))
	badType := withData(tensorInfo(header(3, 1, 0), "a", quant.Type(99), 0, 4))
	ragged := withData(tensorInfo(header(3, 1, 0), "a", quant.Q4_0, 0, 40))
	manyDims := withData(tensorInfo(header(3, 1, 0), "a", quant.F32, 0, 1, 1, 1, 1, 1))
	overflow := withData(tensorInfo(header(3, 1, 0), "a", quant.F32, 0, 1<<32, 1<<32))
	// 2^62 F32 elements are 2^64 bytes: 0 in a uint64, so they "fit".
	wrapsToZero := withData(tensorInfo(header(3, 1, 0), "a", quant.F32, 0, 1<<62))
	// A zero dimension makes the element count 0 whatever the others are,
	// but Rows multiplies the others.
	zeroThenHuge := withData(tensorInfo(header(3, 1, 0), "a", quant.F32, 0, 0, 1<<40, 1<<40))
	tooManyTensors := append(header(3, MaxTensors+1, 0), make([]byte, 24*(MaxTensors+1))...)
	badAlign := appendString(header(3, 0, 1), "general.alignment")
	badAlign = binary.LittleEndian.AppendUint32(badAlign, uint32(TypeUint32))
	badAlign = binary.LittleEndian.AppendUint32(badAlign, 48)

	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"wrong magic", []byte("GGML\x03\x00\x00\x00"), "not a GGUF file"},
		{"version 1", header(1, 0, 0), "unsupported GGUF version 1"},
		{"absurd tensor count", header(3, 1<<50, 0), "tensor count"},
		{"absurd key count", header(3, 0, 1<<62), "metadata key count"},
		{"string length 2^60", hugeString, "string length count 1152921504606846976"},
		{"array length 2^40", hugeArray, "array element count"},
		{"truncated header", builtin.Stories260K[:1000], "truncated"},
		{"truncated data", builtin.Stories260K[:len(builtin.Stories260K)-100], "run past the end of the file"},
		{"overlap", overlap, "overlaps"},
		{"misaligned", misaligned, "not aligned"},
		{"past end", pastEnd, "run past the end"},
		{"unknown type", badType, "unsupported type type(99)"},
		{"ragged quantized row", ragged, "not a multiple"},
		{"five dimensions", manyDims, "5 dimensions"},
		{"shape overflow", overflow, "overflows"},
		{"2^62 F32 elements in no bytes", wrapsToZero, "4611686018427387904 blocks of 4 bytes at offset 0 run past the end"},
		{"zero dimension beside huge ones", zeroThenHuge, "overflows"},
		{"tensor count over the limit", tooManyTensors, "tensor count 1048577 is more than the 1048576"},
		{"alignment 48", badAlign, "not a power of two"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestOpenNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "short.gguf")
	if err := os.WriteFile(path, builtin.Stories260K[:100], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, ErrTruncated) {
		t.Fatalf("got %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.gguf")); err == nil || !strings.Contains(err.Error(), "missing.gguf") {
		t.Fatalf("missing file: %v", err)
	}
}

// FuzzParse feeds arbitrary bytes to the parser: it must return a File or an
// error, never panic, and every tensor it accepts must lie inside the input.
func FuzzParse(f *testing.F) {
	for _, n := range []int{0, 4, 8, 24, 100, 1000, 3000, 20000} {
		f.Add(builtin.Stories260K[:n])
	}
	f.Add(header(3, 0, 0))
	f.Add(header(2, 0, 0))
	// Counts no file of this size can hold: tensors, keys, a string's and
	// an array's length.
	f.Add(header(3, 1<<62, 0))
	f.Add(header(3, 0, 1<<62))
	for _, typ := range []ValueType{TypeString, TypeArray} {
		b := appendString(header(3, 0, 1), "k")
		b = binary.LittleEndian.AppendUint32(b, uint32(typ))
		if typ == TypeArray {
			b = binary.LittleEndian.AppendUint32(b, uint32(TypeUint8))
		}
		f.Add(binary.LittleEndian.AppendUint64(b, 1<<62))
	}
	// Shapes whose sizes overflow.
	f.Add(append(tensorInfo(header(3, 1, 0), "a", quant.F32, 0, 1<<62), make([]byte, 64)...))
	f.Add(append(tensorInfo(header(3, 1, 0), "a", quant.F32, 0, 0, 1<<40, 1<<40), make([]byte, 64)...))
	small := &Writer{}
	small.Set("general.architecture", "llama")
	small.Set("nested", Array{TypeArray, []Array{{TypeString, []string{"x"}}}})
	small.AddTensor("t", quant.Q4_0, []uint64{32, 2}, func() ([]byte, error) { return make([]byte, 36), nil })
	var buf bytes.Buffer
	small.WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		for _, tensor := range file.Tensors {
			if n := len(tensor.Shape); n > 0 && tensor.Rows()*tensor.Shape[0] != tensor.Elements() {
				t.Fatalf("tensor %q: shape %v, %d rows, %d elements", tensor.Name, tensor.Shape, tensor.Rows(), tensor.Elements())
			}
			want := tensor.Elements() / uint64(tensor.Type.BlockSize()) * uint64(tensor.Type.TypeSize())
			if uint64(len(tensor.Data)) != want {
				t.Fatalf("tensor %q: %d bytes, want %d", tensor.Name, len(tensor.Data), want)
			}
		}
	})
}

func TestWriteFileIsReadableByOthers(t *testing.T) {
	w := &Writer{}
	w.Set("general.architecture", "llama")
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
}
