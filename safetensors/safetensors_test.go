package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aha-inference/aha/internal/shared"
	"github.com/aha-inference/aha/quant"
)

// build makes a safetensors file from a header and a data section.
func build(t testing.TB, header map[string]any, data []byte) []byte {
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	return append(append(b, h...), data...)
}

func entry(dtype string, shape []int64, begin, end int) map[string]any {
	return map[string]any{"dtype": dtype, "shape": shape, "data_offsets": []int{begin, end}}
}

func TestParse(t *testing.T) {
	data := make([]byte, 24)
	for i := range data {
		data[i] = byte(i)
	}
	file := build(t, map[string]any{
		"__metadata__": map[string]string{"format": "pt"},
		"w":            entry("BF16", []int64{2, 3}, 0, 12),
		"b":            entry("F32", []int64{3}, 12, 24),
	}, data)
	f, err := Parse(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != 2 || f.Metadata["format"] != "pt" {
		t.Fatalf("%+v", f)
	}
	b, w := f.Tensors[0], f.Tensors[1]
	if b.Name != "b" || b.Type != quant.F32 || !reflect.DeepEqual(b.Data, data[12:]) {
		t.Errorf("b: %+v", b)
	}
	if w.Name != "w" || w.Type != quant.BF16 || !reflect.DeepEqual(w.Shape, []int64{2, 3}) || !reflect.DeepEqual(w.Data, data[:12]) {
		t.Errorf("w: %+v", w)
	}
}

func TestBadFiles(t *testing.T) {
	data := make([]byte, 16)
	hugeHeader := binary.LittleEndian.AppendUint64(nil, 1<<60)
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "truncated"},
		{"header length 2^60", hugeHeader, "exceeds the file"},
		{"bad json", append(binary.LittleEndian.AppendUint64(nil, 3), "{x}"...), "header"},
		{"int64 dtype", build(t, map[string]any{"x": entry("I64", []int64{2}, 0, 16)}, data), `dtype "I64"; supported: F32, F16, BF16`},
		{"past end", build(t, map[string]any{"x": entry("F32", []int64{8}, 0, 32)}, data), "outside the 16 bytes"},
		{"size mismatch", build(t, map[string]any{"x": entry("F32", []int64{3}, 0, 16)}, data), "want 3 elements × 4 bytes"},
		{"2^62 F32 elements in no bytes", build(t, map[string]any{"x": entry("F32", []int64{1 << 62}, 0, 0)}, data), "0 bytes for shape [4611686018427387904]"},
		{"negative offset", build(t, map[string]any{"x": entry("F32", []int64{1}, -4, 0)}, data), "outside"},
		{"overlap", build(t, map[string]any{"x": entry("F32", []int64{2}, 0, 8), "y": entry("F32", []int64{2}, 4, 12)}, data), "overlap"},
		{"offsets", build(t, map[string]any{"x": map[string]any{"dtype": "F32", "shape": []int{1}, "data_offsets": []int{0}}}, data), "data_offsets has 1"},
		{"wrong json types", build(t, map[string]any{"x": map[string]any{"dtype": 3}}, data), `entry "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestShardedFolder(t *testing.T) {
	dir := shared.Path(t, "models/qwen3-tiny/hf")
	c, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Files) != 2 || len(c.Names()) != 24 {
		t.Fatalf("%d files, %d tensors; want 2, 24", len(c.Files), len(c.Names()))
	}
	// Layer 1 spans both shards on purpose.
	for _, name := range []string{"model.layers.1.mlp.up_proj.weight", "model.layers.1.self_attn.q_norm.weight", "model.norm.weight"} {
		if c.Tensor(name) == nil {
			t.Errorf("missing %s", name)
		}
	}
	q := c.Tensor("model.layers.0.self_attn.q_proj.weight")
	if q == nil || q.Type != quant.BF16 || !reflect.DeepEqual(q.Shape, []int64{256, 64}) {
		t.Errorf("q_proj: %+v", q)
	}
}

func TestSingleFileFolder(t *testing.T) {
	c, err := OpenDir(shared.Path(t, "models/qwen2-tiny/hf"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(c.Files) != 1 || len(c.Names()) != 26 {
		t.Fatalf("%d files, %d tensors; want 1, 26", len(c.Files), len(c.Names()))
	}
	if b := c.Tensor("model.layers.0.self_attn.q_proj.bias"); b == nil || !reflect.DeepEqual(b.Shape, []int64{64}) {
		t.Errorf("q bias: %+v", b)
	}
}

func TestFolderErrors(t *testing.T) {
	empty := t.TempDir()
	if _, err := OpenDir(empty); err == nil || !strings.Contains(err.Error(), "neither model.safetensors nor") {
		t.Errorf("empty folder: %v", err)
	}
	bad := t.TempDir()
	index := `{"weight_map": {"a": "model-1.safetensors"}}`
	os.WriteFile(filepath.Join(bad, "model.safetensors.index.json"), []byte(index), 0o644)
	os.WriteFile(filepath.Join(bad, "model-1.safetensors"), build(t, map[string]any{"b": entry("F32", []int64{1}, 0, 4)}, make([]byte, 4)), 0o644)
	if _, err := OpenDir(bad); err == nil || !strings.Contains(err.Error(), `tensor "a" is mapped to model-1.safetensors`) {
		t.Errorf("wrong index: %v", err)
	}
	os.WriteFile(filepath.Join(bad, "model.safetensors.index.json"), []byte(`{"weight_map": {"a": "missing.safetensors"}}`), 0o644)
	if _, err := OpenDir(bad); err == nil || !strings.Contains(err.Error(), "missing.safetensors") {
		t.Errorf("missing shard: %v", err)
	}
	os.WriteFile(filepath.Join(bad, "model.safetensors.index.json"), []byte(`{"weight_map": {"a": "../x.safetensors"}}`), 0o644)
	if _, err := OpenDir(bad); err == nil || !strings.Contains(err.Error(), "must be a file in") {
		t.Errorf("escaping shard path: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	data := make([]byte, 24)
	f.Add(build(f, map[string]any{"w": entry("BF16", []int64{2, 3}, 0, 12), "b": entry("F32", []int64{3}, 12, 24)}, data))
	f.Add(build(f, map[string]any{"__metadata__": map[string]string{"a": "b"}}, nil))
	f.Add([]byte{})
	// Lengths and counts no file of this size can hold.
	f.Add(binary.LittleEndian.AppendUint64(nil, 1<<63))
	f.Add(binary.LittleEndian.AppendUint64(nil, 1<<62))
	f.Add(build(f, map[string]any{"x": entry("F32", []int64{1 << 62}, 0, 0)}, nil))
	f.Add(build(f, map[string]any{"x": entry("F32", []int64{1 << 31, 1 << 31, 4}, 0, 16)}, data))
	f.Fuzz(func(t *testing.T, file []byte) {
		parsed, err := Parse(file)
		if err != nil {
			return
		}
		for _, tensor := range parsed.Tensors {
			n := int64(tensor.Type.TypeSize())
			for _, d := range tensor.Shape {
				n *= d
			}
			if int64(len(tensor.Data)) != n {
				t.Fatalf("tensor %q: %d bytes for shape %v", tensor.Name, len(tensor.Data), tensor.Shape)
			}
		}
	})
}

// TestWriter: a written file reads back with the same names, types, shapes
// and bytes, its data aligned to 8 bytes.
func TestWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.safetensors")
	w, err := Create(path, []Tensor{
		{Name: "b", Type: quant.F32, Shape: []int64{3}},
		{Name: "a", Type: quant.BF16, Shape: []int64{2, 3}},
		{Name: "s", Type: quant.F16},
	}, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range w.Tensors {
		for j := range x.Data {
			x.Data[j] = byte(10*i + j)
		}
	}
	w.Release(w.Tensors[0].Data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Metadata["format"] != "pt" || len(f.Tensors) != 3 {
		t.Fatalf("%+v", f)
	}
	want := map[string]struct {
		typ   quant.Type
		shape []int64
		first byte
		n     int
	}{"b": {quant.F32, []int64{3}, 0, 12}, "a": {quant.BF16, []int64{2, 3}, 10, 12}, "s": {quant.F16, nil, 20, 2}}
	for _, x := range f.Tensors {
		w := want[x.Name]
		if x.Type != w.typ || len(x.Shape) != len(w.shape) || len(x.Data) != w.n || x.Data[0] != w.first || x.Data[w.n-1] != w.first+byte(w.n-1) {
			t.Errorf("%s: %+v, want %+v", x.Name, x, w)
		}
	}
	data, _ := os.ReadFile(path)
	if n := binary.LittleEndian.Uint64(data); n%8 != 0 {
		t.Errorf("header of %d bytes: data not aligned to 8", n)
	}
	if _, err := Create(path, nil, nil); err == nil {
		t.Error("Create overwrote an existing file")
	}
}
